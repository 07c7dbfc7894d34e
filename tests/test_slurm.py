"""Sweeps on a real one-node SLURM cluster started by the tests (launchers/slurm/local_cluster.py)."""

import os
import subprocess
import sys
import time

import pandas as pd
import pytest
from conftest import ROOT, RUN

sys.path.insert(0, str(ROOT))
from launchers.slurm.local_cluster import ClusterUnavailable, start, stop  # noqa: E402

SMOKE = ["preset=smoke", "wandb.mode=disabled", "log.progress=lines", "hydra/launcher=slurm",
         "hydra.launcher.cpus_per_task=1", "hydra.launcher.mem_gb=2"]


@pytest.fixture(scope="module")
def slurm_env(tmp_path_factory):
    root = tmp_path_factory.mktemp("slurm")
    try:
        conf = start(root)
    except ClusterUnavailable as e:
        pytest.skip(f"no local SLURM cluster: {e}")
    yield {**os.environ, "SLURM_CONF": str(conf), "PYTHONWARNINGS": "ignore"}
    stop(root)


def sweep(args, env, cwd, **kw):
    return subprocess.Popen([sys.executable, str(RUN), *SMOKE, *args, "-m"], cwd=cwd, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, **kw)


def test_two_tasks_two_seeds_complete_on_slurm(slurm_env, tmp_path):
    proc = sweep(["env=metaworld/reach,metaworld/door-open", "seed=1..2", f"hydra.sweep.dir={tmp_path}"],
                 slurm_env, tmp_path)
    out, _ = proc.communicate(timeout=600)
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


def test_requeued_job_resumes_from_its_checkpoint(slurm_env, tmp_path):
    run = tmp_path / "metaworld/reach/ace/seed=7"
    proc = sweep(["seed=7", "train.total_steps=3000", "checkpoint.every=500", "eval.every=500",
                  f"hydra.sweep.dir={tmp_path}"], slurm_env, tmp_path)
    ckpt = run / "checkpoints" / "last.pt"
    deadline = time.time() + 300
    while not (ckpt.exists() and (run / "checkpoints" / "previous.pt").exists()) and time.time() < deadline:
        time.sleep(0.5)
    jobs = _squeue(slurm_env)
    assert len(jobs) == 1 and jobs[0].endswith("RUNNING"), jobs
    job = jobs[0].split()[0]
    subprocess.run(["scontrol", "requeue", job], check=True, env=slurm_env)
    # SLURM holds a requeued job back for a while before it is eligible again; make it eligible now.
    deadline = time.time() + 60
    while time.time() < deadline and not any(j.endswith("PENDING") for j in _squeue(slurm_env)):
        time.sleep(0.5)
    subprocess.run(["scontrol", "update", f"JobId={job}", "StartTime=now"], env=slurm_env, capture_output=True)
    out, _ = proc.communicate(timeout=600)
    assert proc.returncode == 0, out[-3000:]
    log = (run / "run.log").read_text()
    assert "resumed from" in log
    steps = list(pd.read_csv(run / "eval.csv")["step"])
    assert steps == list(range(500, 3001, 500))  # continuous: nothing lost, nothing duplicated
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
        return dict(line.split() for line in out.splitlines() if line.startswith("runs/"))[
            "runs/ace29_smoke/panda/reach-joints/sac/seed=1"]

    assert state() == "missing"
    launch = subprocess.Popen([*bench, "--relaunch", *overrides], cwd=tmp_path, env=slurm_env,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.time() + 300
    while not (run / "job.json").exists() and time.time() < deadline:
        time.sleep(0.5)
    assert state() == "running"
    out, _ = launch.communicate(timeout=600)
    assert launch.returncode == 0, out[-3000:]
    assert state() == "done"
    again = subprocess.run([*bench, "--relaunch", *overrides], cwd=tmp_path, env=slurm_env, capture_output=True,
                           text=True, timeout=300)
    assert "nothing to relaunch" in again.stdout
