"""No work lost on a stop signal, without a scheduler: SIGTERM to ``python src/run.py`` (the SLURM
paths, with submitit's requeue, are in test_slurm.py)."""

import json
import signal
import time

import pandas as pd
import torch
from conftest import SMOKE, assert_same_training, run_cli, start_cli, stops

# Episodes are 100 steps; the signal comes after the first evaluation, between periodic checkpoints.
SHORT = (*SMOKE, "seed=7", "train.total_steps=1200", "eval.every=300", "checkpoint.every=900")


def wait_for_rows(csv, rows, proc, timeout=300):
    deadline = time.time() + timeout
    while time.time() < deadline and proc.poll() is None:
        if csv.exists() and len(pd.read_csv(csv)) >= rows:
            return
        time.sleep(0.1)
    raise AssertionError(f"{csv} did not reach {rows} rows (process exit code {proc.poll()})")


def test_sigterm_checkpoints_at_the_episode_end_and_the_relaunch_ends_equal(tmp_path, reference):
    ref = reference(*SHORT)
    run = tmp_path / "run"
    args = [*SHORT, f"hydra.run.dir={run}"]
    proc = start_cli(*args, cwd=tmp_path)
    try:
        wait_for_rows(run / "eval.csv", 1, proc)  # step 300: mid-run
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=120)
    finally:
        proc.kill()
    assert proc.returncode == 128 + signal.SIGTERM, out[-3000:]
    (stop,) = stops(out)
    # The checkpoint is the end of the episode the signal arrived in: nothing computed is lost.
    assert stop["signal"] == "SIGTERM" and stop["checkpoint"] % 100 == 0
    assert 0 <= stop["checkpoint"] - stop["signal_step"] <= 100
    assert torch.load(run / "checkpoints/last.pt", weights_only=False)["step"] == stop["checkpoint"]
    failed = json.loads((run / "failed.json").read_text())
    assert failed["reason"] == f"stopped by SIGTERM at step {stop['checkpoint']} after a checkpoint; relaunch to resume"
    assert not (run / "final.json").exists() and not (run / "run.lock").exists()

    again = run_cli(*args, cwd=tmp_path)
    assert again.returncode == 0, again.stderr[-3000:]
    assert f"at step {stop['checkpoint']}" in again.stdout + again.stderr  # resumed there
    assert not (run / "failed.json").exists()
    assert_same_training(run, ref.folder())
