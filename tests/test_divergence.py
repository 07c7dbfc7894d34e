"""Divergence caught: a non-finite reward, loss or parameter stops the run before anything is saved."""

import json
import math
import os
import subprocess
import sys

import pytest
import stub_env
import torch
from conftest import ROOT, RUN, compose_cfg

from ace.divergence import Diverged, FiniteGuard
from ace.run_folder import RunFolder
from ace.runner import train

SMOKE = ["preset=smoke", "wandb.mode=disabled", "log.progress=lines"]
# src/run.py with the stub env domain registered: the real command line, one injected env.
WITH_STUB = f"""
import runpy, sys
sys.path[:0] = [{str(ROOT / "tests")!r}, {str(ROOT / "src")!r}]
import stub_env
stub_env.register()
sys.argv = [{str(RUN)!r}, *sys.argv[1:]]
runpy.run_path({str(RUN)!r}, run_name="__main__")
"""


def assert_last_good_checkpoint(run, step):
    state = torch.load(run / "checkpoints/last.pt", weights_only=False)
    assert state["step"] == step
    tensors = [t for net in ("policy", "critic", "critic_target") for t in state["agent"][net].values()]
    assert all(torch.isfinite(t).all() for t in tensors)
    assert not (run / "final.json").exists()


def test_an_infinite_reward_stops_the_run_with_one_line(tmp_path):
    run = tmp_path / "run"
    proc = subprocess.run([sys.executable, "-c", WITH_STUB, *SMOKE, "env.domain=stub", "env.task=reward-inf",
                           f"hydra.run.dir={run}"], cwd=tmp_path, capture_output=True, text=True, timeout=300,
                          env={**os.environ, "PYTHONWARNINGS": "ignore"})
    assert proc.returncode == 4, proc.stderr[-3000:]
    line = (f"error: run diverged: the env returned reward=inf at step {stub_env.BAD_FROM_STEP} (update 467); "
            f"stopped without saving, the last good checkpoint (step 400) is kept in {run}/checkpoints")
    assert proc.stderr.strip().splitlines() == [line]
    assert_last_good_checkpoint(run, 400)
    assert RunFolder(run).state(800, None) == ("failed", line.removeprefix("error: "))


def test_a_loss_that_overflows_is_caught_before_the_next_checkpoint(tmp_path, monkeypatch):
    monkeypatch.setitem(stub_env.factory.DOMAINS, "stub", None)  # restored after the test
    stub_env.register()
    run = tmp_path / "run"
    cfg = compose_cfg(*SMOKE, "env.domain=stub", "env.task=reward-1e30", "checkpoint.every=200")
    with pytest.raises(Diverged) as e:
        train(cfg, run)
    # A reward of 1e30 is finite; its square in the critic's loss is not. The first update that
    # samples it is named, though it is found at the next check (the train row of step 600).
    msg = str(e.value)
    assert msg.startswith("run diverged: critic_loss=inf at step 5") and "(update 4" in msg
    step = int(msg.split(" at step ")[1].split()[0])
    assert stub_env.BAD_FROM_STEP <= step < 600
    assert_last_good_checkpoint(run, 400)  # 200 and 400 were written; 600 never was
    assert json.loads((run / "failed.json").read_text())["reason"] == msg


def test_the_guard_names_the_first_bad_update_then_bad_state():
    guard = FiniteGuard()
    guard.record(10, 1, {"critic_loss": torch.tensor(1.0), "alpha": torch.tensor(0.2)})
    guard.record(11, 2, {"critic_loss": torch.tensor(2.0), "alpha": torch.tensor(math.inf)})
    guard.record(12, 3, {"critic_loss": torch.tensor(math.nan), "alpha": torch.tensor(math.inf)})
    state = {"critic": {"w": torch.ones(3)}, "log_alpha": torch.zeros(1)}
    assert guard.problem(state, 12, 3) == "alpha=inf at step 11 (update 2)"
    assert guard.problem(state, 13, 4) is None  # checked diagnostics are not checked again
    state["critic"]["w"][1] = math.nan
    assert guard.problem(state, 14, 5) == "agent.critic.w holds nan, found at step 14 (update 5)"
