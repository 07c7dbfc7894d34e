"""A smoke training run (preset=smoke) per domain and for TD3, in-process through the shared runner."""

import math

import pandas as pd
import pytest
from conftest import compose_cfg

from ace.run_folder import RunFolderError
from ace.runner import Trainer

RUNS = [
    ("mujoco/hopper", "ace"),
    ("dmc/cheetah-run", "ace"),
    # 68 and 96 variables: DirectLiNGAM of the lingam package took ~1 min per fit here; ours, seconds.
    ("adroit/door", "ace"),
    ("shadowhand/egg-rotate", "ace"),
    ("panda/reach-joints", "ace"),
    ("robel/dkitty-stand-random", "ace"),
    ("metaworld_sparse/window-open", "sac"),
    ("metaworld/reach", "td3"),
    ("dmc/reacher-hard", "td3"),
]


@pytest.mark.parametrize(("env", "agent"), RUNS)
def test_smoke_run(tmp_path, env, agent):
    cfg = compose_cfg(f"env={env}", f"agent={agent}", "preset=smoke", "wandb.mode=disabled",
                      "log.progress=lines", "train.total_steps=400", "eval.every=200", "eval.episodes=1",
                      "agent.causal.interval=200", "agent.causal.window=150", "agent.causal.delay=0",
                      "agent.reset.interval=100", "checkpoint.every=400", "train.start_steps=100")
    summary = Trainer(cfg, tmp_path).run()
    assert summary["step"] == 400
    ev = pd.read_csv(tmp_path / "eval.csv")
    assert list(ev["step"]) == [200, 400] and ev["return"].notna().all()
    metric = cfg.env.metric
    if metric == "success":
        assert ev["success"].between(0, 1).all()
    else:
        assert ev["success"].isna().all()  # no success signal: NaN, never a fake 0
    tr = pd.read_csv(tmp_path / "train.csv")
    assert tr["critic_loss"].notna().all() and tr["critic_loss"].map(math.isfinite).all()
    cw = pd.read_csv(tmp_path / "causal_weights.csv")
    resets = pd.read_csv(tmp_path / "resets.csv")
    if agent == "ace":
        assert len(cw) == 2 and len(resets) >= 2
    else:
        assert cw.empty and resets.empty
    assert (tmp_path / "checkpoints" / "last.pt").exists()


def test_replay_on_the_training_device(tmp_path):
    """train.replay_device=train keeps replay rows as tensors where the agent trains (a GPU in practice)."""
    cfg = compose_cfg("env=metaworld/reach", "preset=smoke", "wandb.mode=disabled", "log.progress=lines",
                      "train.total_steps=400", "train.replay_device=train", "agent.causal.delay=0")
    trainer = Trainer(cfg, tmp_path)
    assert trainer.replay.device is not None
    assert trainer.run()["step"] == 400
    tr = pd.read_csv(tmp_path / "train.csv")
    assert tr["critic_loss"].notna().all() and tr["critic_loss"].map(math.isfinite).all()
    assert len(pd.read_csv(tmp_path / "causal_weights.csv")) == 1


def test_a_resumed_run_may_change_speed_only_settings(tmp_path):
    base = ["env=metaworld/reach", "preset=smoke", "wandb.mode=disabled", "log.progress=lines", "train.total_steps=400"]
    Trainer(compose_cfg(*base), tmp_path).run()
    (tmp_path / "final.json").unlink()
    # Backend, compile mode and replay placement decide how fast, not what: the run resumes.
    trainer = Trainer(compose_cfg(*base, "agent.causal.backend=lingam", "train.replay_device=train"), tmp_path)
    assert trainer.step == 400
    with pytest.raises(RunFolderError, match="different config"):
        Trainer(compose_cfg(*base, "agent.lr=0.001"), tmp_path)
