"""End-to-end: src/run.py in a subprocess, as a user runs it."""

import json

import pandas as pd
import pytest
import torch
from conftest import TIMING, run_cli

SMOKE = ["preset=smoke", "wandb.mode=disabled", "log.progress=lines"]


@pytest.fixture(scope="module")
def smoke_sweep(tmp_path_factory):
    root = tmp_path_factory.mktemp("sweep")
    proc = run_cli(*SMOKE, "seed=1..2", f"hydra.sweep.dir={root}", "-m", cwd=root)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return root, proc


def test_multirun_range_makes_one_folder_per_seed(smoke_sweep):
    root, proc = smoke_sweep
    runs = sorted(p.parent for p in root.rglob("final.json"))
    assert [p.relative_to(root).as_posix() for p in runs] == [
        "metaworld/reach/ace/seed=1", "metaworld/reach/ace/seed=2"]
    assert "run folder:" in proc.stdout + proc.stderr


@pytest.mark.parametrize("seed", [1, 2])
def test_run_folder_contents(smoke_sweep, seed):
    root, _ = smoke_sweep
    run = root / f"metaworld/reach/ace/seed={seed}"
    for name in ("config.yaml", "eval.csv", "train.csv", "causal_weights.csv", "resets.csv",
                 "run_info.json", "checkpoints/last.pt", "run.log"):
        assert (run / name).is_file(), name

    ev = pd.read_csv(run / "eval.csv")
    assert list(ev["step"]) == [400, 800]
    assert {"step", "return", "success"} <= set(ev.columns)
    assert ev["success"].between(0, 1).all() and ev["return"].notna().all()

    tr = pd.read_csv(run / "train.csv")
    assert list(tr["step"]) == [200, 400, 600, 800]
    for col in ("critic_loss", "actor_loss", "alpha", "entropy", "steps_per_sec", "dormancy"):
        assert tr[col].notna().all(), col
    assert (tr["dormancy"].between(0, 1)).all()

    cw = pd.read_csv(run / "causal_weights.csv")
    assert list(cw.columns[:5]) == ["step", "w0", "w1", "w2", "w3"]
    assert list(cw["step"]) == [350, 650] and list(cw["window_step"]) == [300, 600]  # applied 50 steps later
    assert ((cw[["w0", "w1", "w2", "w3"]].sum(axis=1) - 4.0).abs() < 1e-9).all()
    assert (cw[["w0", "w1", "w2", "w3"]] > 0).all().all()

    resets = pd.read_csv(run / "resets.csv")
    assert len(resets) >= 2 and (resets["factor"].between(0.2, 0.9)).all()

    info = json.loads((run / "run_info.json").read_text())
    assert info["git"]["commit"] is None or len(info["git"]["commit"]) == 40
    assert info["packages"]["torch"] and info["hardware"]["cpu_count"]
    assert f"seed={seed}" in info["command"] and "preset=smoke" in info["command"]

    ckpt = torch.load(run / "checkpoints/last.pt", weights_only=False)
    assert ckpt["step"] == 800 and ckpt["replay"]["size"] == 800
    assert (ckpt["replay"]["data"]["mask"] == 1.0).all()  # Meta-World time limits are not terminations


def test_seeds_differ_but_are_reproducible(smoke_sweep, tmp_path):
    root, _ = smoke_sweep
    a = pd.read_csv(root / "metaworld/reach/ace/seed=1/eval.csv")
    b = pd.read_csv(root / "metaworld/reach/ace/seed=2/eval.csv")
    assert not a["return"].equals(b["return"])
    again = tmp_path / "again"
    proc = run_cli(*SMOKE, "seed=1", f"hydra.run.dir={again}", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    pd.testing.assert_frame_equal(pd.read_csv(again / "eval.csv")[["step", "return", "success"]],
                                  a[["step", "return", "success"]])


def test_finished_run_is_not_run_again(smoke_sweep):
    root, _ = smoke_sweep
    run = root / "metaworld/reach/ace/seed=1"
    before = (run / "eval.csv").read_text()
    proc = run_cli(*SMOKE, "seed=1", f"hydra.run.dir='{run}'", cwd=root)  # '=' in a path needs quotes
    assert proc.returncode == 0
    assert "already finished" in proc.stdout + proc.stderr
    assert (run / "eval.csv").read_text() == before


@pytest.mark.parametrize("goals", ["fixed", "random"])
def test_crash_resume_and_corrupted_checkpoint(tmp_path, goals):
    run = tmp_path / "run"
    args = [*SMOKE, "seed=3", f"env.goals={goals}", f"hydra.run.dir={run}"]
    assert run_cli(*args, cwd=tmp_path).returncode == 0
    uninterrupted = {name: pd.read_csv(run / name) for name in ("eval.csv", "train.csv", "causal_weights.csv")}
    # Pretend the run died after the step-400 checkpoint and left a torn step-800 file.
    (run / "final.json").unlink()
    (run / "checkpoints/last.pt").write_bytes(b"torn write")
    proc = run_cli(*args, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = proc.stdout + proc.stderr
    assert "unreadable" in out and "resumed" in out and "at step 400" in out
    ev = pd.read_csv(run / "eval.csv")
    assert list(ev["step"]) == [400, 800]                     # no duplicated or lost eval row
    assert list(pd.read_csv(run / "train.csv")["step"]) == [200, 400, 600, 800]
    assert torch.load(run / "checkpoints/last.pt", weights_only=False)["step"] == 800
    # Exact resume: the interrupted run ends with exactly the uninterrupted run's numbers.
    # Wall-clock keeps counting across the interruption (the phase timers are in the checkpoint).
    resumed_train = pd.read_csv(run / "train.csv")
    assert resumed_train["elapsed_s"].is_monotonic_increasing and resumed_train["env_s"].is_monotonic_increasing
    for name, before in uninterrupted.items():
        after = pd.read_csv(run / name)
        pd.testing.assert_frame_equal(after.drop(columns=TIMING, errors="ignore"),
                                      before.drop(columns=TIMING, errors="ignore"), check_exact=True)


def test_relaunch_with_a_different_config_is_refused(tmp_path):
    run = tmp_path / "run"
    assert run_cli(*SMOKE, f"hydra.run.dir={run}", cwd=tmp_path).returncode == 0
    (run / "final.json").unlink()
    for change, differs_in in (("agent.lr=0.001", "agent"), ("env.goals=random", "env")):
        proc = run_cli(*SMOKE, change, f"hydra.run.dir={run}", cwd=tmp_path)
        assert proc.returncode == 2
        (line,) = proc.stderr.strip().splitlines()
        assert f"already holds a run with a different config (differs in: {differs_in})" in line
        assert "experiment=" in line


def test_wandb_offline_writes_a_local_run(tmp_path):
    run = tmp_path / "run"
    proc = run_cli("preset=smoke", "wandb.mode=offline", "train.total_steps=400", "eval.video.enabled=true",
                   f"hydra.run.dir={run}", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    offline = list((run / "wandb").glob("offline-run-*"))
    assert len(offline) == 1 and list(offline[0].glob("*.wandb"))
    # The final evaluation's video: in the run folder first, and in wandb's media.
    assert (run / "videos/step=400.mp4").is_file() and list(offline[0].glob("files/media/videos/eval/*.mp4"))
    assert "OpenGL_accelerate" not in proc.stdout + proc.stderr


def test_crash_before_any_checkpoint_restarts_without_duplicate_rows(tmp_path):
    run = tmp_path / "run"
    args = [*SMOKE, "seed=4", f"hydra.run.dir={run}"]
    assert run_cli(*args, cwd=tmp_path).returncode == 0
    first = pd.read_csv(run / "eval.csv")
    (run / "final.json").unlink()
    for ckpt in (run / "checkpoints").iterdir():
        ckpt.unlink()
    proc = run_cli(*args, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    again = pd.read_csv(run / "eval.csv")
    assert list(again["step"]) == [400, 800]
    pd.testing.assert_frame_equal(again[["step", "return", "success"]], first[["step", "return", "success"]])
