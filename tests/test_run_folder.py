"""The run-folder contract (ace.run_folder) and two launches of one run through src/run.py."""

import json
import os
import signal
import socket
import subprocess
import sys
import time

import pandas as pd
import pytest
from conftest import RUN, SMOKE, run_cli
from test_file_lock import hold

from ace.file_lock import read_holder
from ace.run_folder import RunFolder, RunFolderBusy, RunFolderError


def test_a_requeued_job_waits_for_its_previous_run_instead_of_failing(tmp_path, monkeypatch):
    folder = RunFolder(tmp_path / "run")
    folder.path.mkdir()
    proc = hold(folder.path / "run.lock", seconds=1.5, job="900_3")
    monkeypatch.setenv("SLURM_ARRAY_JOB_ID", "900")
    monkeypatch.setenv("SLURM_ARRAY_TASK_ID", "3")
    with folder.lock():
        assert proc.wait(timeout=10) == 0  # the predecessor released the lock
        assert read_holder(folder.path / "run.lock").slurm_job_id == "900_3"
        assert json.loads((folder.path / "job.json").read_text())["slurm_job_id"] == "900_3"
    monkeypatch.setenv("SLURM_ARRAY_TASK_ID", "4")  # another job is refused at once
    proc = hold(folder.path / "run.lock", seconds=30, job="900_3")
    try:
        t0 = time.monotonic()
        with pytest.raises(RunFolderBusy, match=r"is in use by pid \d+ on host .*, SLURM job 900_3; this launch is"):
            with folder.lock():
                pass
        assert time.monotonic() - t0 < 10
    finally:
        proc.kill()
        proc.wait()


def test_folder_state_for_status(tmp_path):
    folder = RunFolder(tmp_path / "run")
    assert folder.state(800, None) == ("missing", "")
    with folder.lock():
        state, detail = folder.state(800, None)
        assert state == "running" and f"pid {os.getpid()}" in detail
        (folder.path / "config.yaml").write_text("{}\n")
        folder.write_failure("run diverged: q=nan at step 5 (update 3)", 5)
    assert folder.state(800, None) == ("failed", "run diverged: q=nan at step 5 (update 3)")
    job = json.loads((folder.path / "job.json").read_text())
    assert folder.state(800, {"17"}) == ("failed", "run diverged: q=nan at step 5 (update 3)")
    (folder.path / "job.json").write_text(json.dumps({**job, "slurm_job_id": "17"}))
    assert folder.state(800, {"17"}) == ("running", "SLURM job 17 in the queue")  # requeued, pending
    with folder.lock():  # a new launch forgets the old failure
        assert not (folder.path / "failed.json").exists()
    (folder.path / "checkpoints").mkdir()
    (folder.path / "checkpoints/last.pt").write_bytes(b"x")
    folder.write_done({"step": 800})
    assert folder.state(800, None) == ("done", "")


def test_an_unwritable_folder_is_refused_in_one_line(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(RunFolderError, match=r"run folder .*/file/run cannot be written \(.*/file would hold it\): "
                                             r"Not a directory"):
        with RunFolder(blocker / "run").lock():
            pass


def test_two_launches_of_one_run_one_is_refused_and_rows_are_not_doubled(tmp_path):
    """The measurement of issue 13: two launches a second apart into one folder both trained."""
    run = tmp_path / "run"
    args = [sys.executable, str(RUN), *SMOKE, "train.total_steps=1600", f"hydra.run.dir={run}"]
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    procs = []
    for _ in range(2):
        procs.append(subprocess.Popen(args, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                      text=True))
        time.sleep(1.0)
    outs = [p.communicate(timeout=300) for p in procs]
    codes = [p.returncode for p in procs]
    assert sorted(codes) == [0, 3], outs
    winner, loser = (0, 1) if codes[0] == 0 else (1, 0)
    err = outs[loser][1].strip().splitlines()
    assert len(err) == 1, outs[loser][1]
    assert err[0].startswith(f"error: run folder {run} is in use by pid {procs[winner].pid} on host ")
    assert list(pd.read_csv(run / "eval.csv")["step"]) == [400, 800, 1200, 1600]
    assert list(pd.read_csv(run / "train.csv")["step"]) == list(range(200, 1601, 200))
    assert not (run / "run.lock").exists()


def test_a_killed_runs_lock_is_taken_over_by_the_relaunch(tmp_path):
    run = tmp_path / "run"
    args = [*SMOKE, "seed=5", f"hydra.run.dir={run}"]
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    first = subprocess.Popen([sys.executable, str(RUN), *args], cwd=tmp_path, env=env, stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while not (run / "checkpoints/last.pt").exists() and time.time() < deadline:
        time.sleep(0.05)
    first.send_signal(signal.SIGKILL)
    first.wait()
    assert (run / "run.lock").exists()
    again = run_cli(*args, cwd=tmp_path)
    assert again.returncode == 0, again.stderr[-3000:]
    log = again.stdout + again.stderr
    assert f"took over the lock left by pid {first.pid} on host {socket.gethostname()}" in log
    assert "(its process is no longer running)" in log and "resumed from" in log
    assert list(pd.read_csv(run / "eval.csv")["step"]) == [400, 800]
    assert (run / "final.json").exists() and not (run / "run.lock").exists()
