"""launchers/benchmark.py --status / --relaunch on real run folders."""

import json
import subprocess
import sys

from conftest import ROOT

from ace.file_lock import FileLock

BENCH = [sys.executable, str(ROOT / "launchers" / "benchmark.py"), "ace29", "--agents", "sac", "--seeds", "1..2"]
OVERRIDES = ["--", "preset=smoke", "wandb.mode=disabled", "log.progress=lines"]


def status(cwd, *extra):
    proc = subprocess.run([*BENCH, *extra, "--status", *OVERRIDES], cwd=cwd, capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    rows = [line.split(maxsplit=2) for line in proc.stdout.splitlines() if line.startswith("runs/")]
    return {r[0]: r[1] for r in rows}, proc.stdout


def test_status_and_relaunch_of_only_what_is_missing(tmp_path):
    tasks = ["--tasks", "panda/reach-joints,mujoco/hopper"]
    states, out = status(tmp_path, *tasks)
    assert set(states.values()) == {"missing"} and len(states) == 4
    assert "0 done, 0 running, 0 failed, 4 missing" in out

    base = "runs/ace29_smoke"
    # A finished run, a failed one (folder without final.json), and one whose folder is locked.
    proc = subprocess.run([*BENCH[:-4], "--agents", "sac", "--seeds", "1", "--tasks", "panda/reach-joints",
                           "--relaunch", *OVERRIDES], cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert (tmp_path / base / "panda/reach-joints/sac/seed=1/final.json").exists()
    crashed = tmp_path / base / "mujoco/hopper/sac/seed=1"
    crashed.mkdir(parents=True)
    (crashed / "config.yaml").write_text("{}\n")
    (crashed / "failed.json").write_text(json.dumps({"reason": "run diverged: critic_loss=inf at step 7"}))
    alive = tmp_path / base / "mujoco/hopper/sac/seed=2"
    alive.mkdir(parents=True)
    lock = FileLock(alive / "run.lock", slurm_job_id="4242_1")  # held by this test's process
    lock.acquire()
    try:
        states, out = status(tmp_path, *tasks)
        proc = subprocess.run([*BENCH, *tasks, "--relaunch", "--dry-run", *OVERRIDES], cwd=tmp_path,
                              capture_output=True, text=True, timeout=300)
    finally:
        lock.release()
    assert states == {f"{base}/panda/reach-joints/sac/seed=1": "done",
                      f"{base}/panda/reach-joints/sac/seed=2": "missing",
                      f"{base}/mujoco/hopper/sac/seed=1": "failed",
                      f"{base}/mujoco/hopper/sac/seed=2": "running"}
    assert "1 done, 1 running, 1 failed, 1 missing" in out
    lines = {ln.split()[0]: ln for ln in out.splitlines() if ln.startswith("runs/")}
    assert lines[f"{base}/mujoco/hopper/sac/seed=1"].endswith("failed   run diverged: critic_loss=inf at step 7")
    assert "SLURM job 4242_1" in lines[f"{base}/mujoco/hopper/sac/seed=2"]

    relaunch = [ln for ln in proc.stdout.splitlines() if ln.startswith("relaunch:")]
    assert len(relaunch) == 2
    assert any("hydra.sweeper.params.env=mujoco/hopper" in ln and "seed=1 " in ln for ln in relaunch)
    assert any("hydra.sweeper.params.env=panda/reach-joints" in ln and "seed=2 " in ln for ln in relaunch)
    assert not (tmp_path / base / "panda/reach-joints/sac/seed=2").exists()  # a dry run trains nothing


def test_unknown_task_filter_is_rejected(tmp_path):
    proc = subprocess.run([*BENCH, "--tasks", "mujoco/hoper", "--status"], cwd=tmp_path, capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 2 and "--tasks mujoco/hoper not in benchmark ace29" in proc.stderr


#: In a child process, as in the launcher: submitit's records of queued jobs (the run's overrides and
#: Hydra's state, cloudpickled as the submitit launcher writes them), then what --status reads from them.
#: (In the test process, unpickling Hydra's state after the rest of the suite tripped over streams
#: that earlier tests had closed.)
QUEUED_RECORDS = """
import importlib.util
import json
import sys
from pathlib import Path

import cloudpickle
from hydra.core.singleton import Singleton
from submitit.core.utils import DelayedSubmission

from ace.config import composer

root, tmp = Path(sys.argv[1]), Path(sys.argv[2])
spec = importlib.util.spec_from_file_location("benchmark_launcher", root / "launchers" / "benchmark.py")
launcher = importlib.util.module_from_spec(spec)
spec.loader.exec_module(launcher)
submitit_dir = tmp / "runs" / "mw_cpu" / ".submitit"
with composer() as compose:
    compose(["+benchmark=mw_cpu"])
    state = Singleton.get_state()
for job, env, seed in (("12_0", "metaworld/door-open", 1), ("12_1", "metaworld/door-open", 2)):
    (submitit_dir / job).mkdir(parents=True)
    submission = DelayedSubmission(print, [f"env={env}", "+benchmark=mw_cpu", "agent=sac", f"seed={seed}"],
                                   "hydra.sweep.dir", 0, f"job_id_for_{seed - 1}", state)
    with (submitit_dir / job / f"{job}_submitted.pkl").open("wb") as f:
        cloudpickle.dump(submission, f)
(submitit_dir / "13_0").mkdir()
(submitit_dir / "13_0" / "13_0_submitted.pkl").write_bytes(b"not a pickle")
found = launcher.queued_runs(submitit_dir, {"12_0", "99_9"})
print(json.dumps([[*key, job] for key, job in found.items()]))
print("--- unreadable", file=sys.stderr, flush=True)
print(json.dumps(launcher.queued_runs(submitit_dir, {"13_0"})))
"""


def test_a_run_waiting_in_the_queue_is_not_relaunched(tmp_path):
    """A queued job that has not started has no folder; submitit's record of it names the run."""
    proc = subprocess.run([sys.executable, "-c", QUEUED_RECORDS, str(ROOT), str(tmp_path)], capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    found, unreadable = (json.loads(line) for line in proc.stdout.splitlines())
    # 12_1 has left the queue (it started or ended: its folder tells); 99_9 is another experiment's job.
    assert found == [["metaworld/door-open", "sac", 1, "12_0"]]
    before, after = proc.stderr.split("--- unreadable")
    assert "cannot read queued job" not in before
    # A record of ours that cannot be read is said, not silently taken for a missing run.
    assert unreadable == {} and "warning: cannot read queued job 13_0" in after
