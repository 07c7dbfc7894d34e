"""Sweeps on a real one-node SLURM cluster started by the tests (launchers/slurm/local_cluster.py):
completion, requeues, a stop signal and a time limit, each ending equal to the uninterrupted run."""

import re
import subprocess
import sys
import time

import pandas as pd
from conftest import ROOT, RUN, assert_same_training, stops

SLURM = ["hydra/launcher=slurm", "hydra.launcher.cpus_per_task=1", "hydra.launcher.mem_gb=2"]
SMOKE = ["preset=smoke", "wandb.mode=disabled", "log.progress=lines", *SLURM]
# Long enough to still be running when slurmctld's time-limit check (every 30 s) sends the signal.
LONG = ("preset=smoke", "wandb.mode=disabled", "log.progress=lines", "seed=9", "train.total_steps=20000",
        "eval.every=1000", "checkpoint.every=5000", "log.every=1000", "agent.causal.interval=2000",
        "agent.reset.interval=2000")


def sweep(args, env, cwd, **kw):
    return subprocess.Popen([sys.executable, str(RUN), *SMOKE, *args, "-m"], cwd=cwd, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, **kw)


def test_two_tasks_two_seeds_complete_on_slurm(slurm_env, tmp_path):
    proc = sweep(["env=metaworld/reach,metaworld/door-open", "seed=1..2", f"hydra.sweep.dir={tmp_path}"],
                 slurm_env, tmp_path)
    try:
        out, _ = proc.communicate(timeout=600)
    finally:
        proc.kill()
    assert proc.returncode == 0, out[-3000:]
    done = sorted(p.parent.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("final.json"))
    assert done == ["metaworld/door-open/ace/seed=1", "metaworld/door-open/ace/seed=2",
                    "metaworld/reach/ace/seed=1", "metaworld/reach/ace/seed=2"]
    for run in done:
        assert list(pd.read_csv(tmp_path / run / "eval.csv")["step"]) == [400, 800]
        assert len(pd.read_csv(tmp_path / run / "causal_weights.csv")) == 2
    assert list((tmp_path / ".submitit").iterdir())  # submitit's job folders: it really went through sbatch


def _squeue(env) -> list[str]:
    out = subprocess.run(["squeue", "-h", "-o", "%i %T"], capture_output=True, text=True, env=env).stdout
    return [line for line in out.splitlines() if line.strip()]


def _mid_run(env, run, proc, past_step, timeout=300) -> str:
    """The job's id once it runs and has logged an evaluation after ``past_step``."""
    deadline = time.time() + timeout
    while time.time() < deadline and proc.poll() is None:
        jobs = _squeue(env)
        steps = pd.read_csv(run / "eval.csv")["step"] if (run / "eval.csv").exists() else []
        if len(steps) and steps.iloc[-1] > past_step and len(jobs) == 1 and jobs[0].endswith("RUNNING"):
            return jobs[0].split()[0]
        time.sleep(0.2)
    raise AssertionError(f"{run} not running past step {past_step}: {_squeue(env)}")


def _when_requeued(env, job, *updates, timeout=120) -> None:
    """SLURM holds a requeued job back for its credential's lifetime (2 min); make it eligible now.

    Not in the second it was killed in: slurmd refuses a job whose credential was revoked in the
    same second ("already killed, do not launch"), and the job would fail.
    """
    deadline = time.time() + timeout
    while time.time() < deadline:
        if f"{job} PENDING" in _squeue(env):
            time.sleep(1.5)
            subprocess.run(["scontrol", "update", f"JobId={job}", "StartTime=now", *updates], check=True, env=env)
            return
        time.sleep(0.2)
    raise AssertionError(f"job {job} was not requeued: {_squeue(env)}")


def _wait(proc, env) -> str:
    """The sweep's output once it succeeded. Without accounting (sacct) submitit cannot see a
    failed job and would wait for ever: a job gone from the queue fails the test after a minute."""
    gone_since = None
    while proc.poll() is None:
        gone_since = (gone_since or time.time()) if not _squeue(env) else None
        if gone_since is not None and time.time() - gone_since > 60:
            proc.kill()
            raise AssertionError(f"the job left the queue, the sweep still waits: {proc.communicate()[0][-3000:]}")
        time.sleep(1)
    out = proc.communicate()[0]
    assert proc.returncode == 0, out[-3000:]
    return out


def _stops(run, count) -> list[dict]:
    deadline = time.time() + 120
    while len(found := stops((run / "run.log").read_text())) < count and time.time() < deadline:
        time.sleep(0.2)
    return found


def test_usr1_requeue_and_a_time_limit_on_a_running_job_lose_no_work(slurm_env, tmp_path, reference):
    """Three faults on one job, one per launch, each while it trains:

    1. ``scancel --signal=USR1``: our handler checkpoints at the episode end, submitit requeues;
    2. ``scontrol requeue`` (SIGTERM, then SLURM requeues): a checkpoint at the episode end;
    3. a time limit: SLURM sends submitit's ``--signal=USR2@<signal_delay_s>``, submitit requeues.

    Every stop checkpoints at the end of the episode it arrived in, the next launch resumes there,
    and the run ends with exactly the uninterrupted run's numbers.
    """
    ref = reference(*LONG)  # computed meanwhile, on the other core
    run = tmp_path / "metaworld/reach/ace/seed=9"
    proc = sweep([*LONG, f"hydra.sweep.dir={tmp_path}"], slurm_env, tmp_path)
    try:
        job = _mid_run(slurm_env, run, proc, 0)
        subprocess.run(["scancel", "--signal=USR1", job], check=True, env=slurm_env)
        _when_requeued(slurm_env, job)
        (first,) = _stops(run, 1)
        job = _mid_run(slurm_env, run, proc, first["checkpoint"])
        subprocess.run(["scontrol", "requeue", job], check=True, env=slurm_env)
        _when_requeued(slurm_env, job)
        second = _stops(run, 2)[1]
        job = _mid_run(slurm_env, run, proc, second["checkpoint"])
        # A 2-minute limit counted from this launch's start: its end is nearer than signal_delay_s,
        # so slurmctld's next time-limit check (every 30 s) sends the warning signal.
        subprocess.run(["scontrol", "update", f"JobId={job}", "TimeLimit=2"], check=True, env=slurm_env)
        _when_requeued(slurm_env, job, "TimeLimit=60")
        _wait(proc, slurm_env)
    finally:
        proc.kill()
    log = (run / "run.log").read_text()
    found = stops(log)
    assert [s["signal"] for s in found] == ["SIGUSR1", "SIGTERM", "SIGUSR2"], found
    for stop in found:  # the end of the episode the signal arrived in (episodes are 100 steps)
        assert stop["checkpoint"] % 100 == 0 and 0 <= stop["checkpoint"] - stop["signal_step"] <= 100, stop
        assert re.search(rf"resumed from \S+ at step {stop['checkpoint']}\n", log), stop
    assert 0 < found[2]["checkpoint"] < 20000  # the time limit fell mid-run
    submitit_log = "".join(p.read_text() for p in (tmp_path / ".submitit").rglob("*_log.*"))
    # Requeued by submitit after USR1 and USR2; after TERM, by SLURM itself.
    assert len(re.findall(r"submitit INFO .* - Requeued job ", submitit_log)) == 2, submitit_log[-3000:]
    assert_same_training(run, ref.folder())
    deadline = time.time() + 60  # the job step may still be tearing down after its result is written
    while _squeue(slurm_env) and time.time() < deadline:
        time.sleep(0.5)
    assert not _squeue(slurm_env)


def test_status_and_relaunch_through_slurm(slurm_env, tmp_path):
    bench = [sys.executable, str(ROOT / "launchers" / "benchmark.py"), "ace29", "--agents", "sac", "--seeds", "1",
             "--tasks", "panda/reach-joints"]
    overrides = ["--", "preset=smoke", "wandb.mode=disabled", "log.progress=lines", "train.total_steps=4000",
                 "hydra/launcher=slurm", "hydra.launcher.cpus_per_task=1", "hydra.launcher.mem_gb=2"]
    run = tmp_path / "runs/ace29_smoke/panda/reach-joints/sac/seed=1"

    def state() -> str:
        out = subprocess.run([*bench, "--status", *overrides], cwd=tmp_path, env=slurm_env, capture_output=True,
                             text=True, timeout=300).stdout
        return dict(line.split()[:2] for line in out.splitlines() if line.startswith("runs/"))[
            "runs/ace29_smoke/panda/reach-joints/sac/seed=1"]

    assert state() == "missing"
    launch = subprocess.Popen([*bench, "--relaunch", *overrides], cwd=tmp_path, env=slurm_env,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.time() + 300
        while not (run / "job.json").exists() and time.time() < deadline:
            time.sleep(0.5)
        assert state() == "running"
        out, _ = launch.communicate(timeout=600)
    finally:
        launch.kill()
    assert launch.returncode == 0, out[-3000:]
    assert state() == "done"
    again = subprocess.run([*bench, "--relaunch", *overrides], cwd=tmp_path, env=slurm_env, capture_output=True,
                           text=True, timeout=300)
    assert "nothing to relaunch" in again.stdout
