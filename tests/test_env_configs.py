"""Every env config in conf/env/ builds a working, seeded env with the shared conventions."""

import os

import numpy as np
import pytest
from conftest import CONF, compose_cfg

from ace.cli import group_options
from ace.envs import make_env
from ace.envs.dmc import NEEDS_OPENGL

ENV_CONFIGS = group_options(CONF, "env")
#: Tasks whose initial state does not depend on the seed.
DETERMINISTIC_START = {"robel/dkitty-orient-fixed", "robel/dkitty-stand-fixed", "robel/dkitty-walk-fixed"}


def _skip_reason(name: str) -> str | None:
    domain, task = name.split("/")
    if domain == "dmc" and task in NEEDS_OPENGL and os.environ.get("MUJOCO_GL", "disable") == "disable":
        return f"dmc/{task} needs an OpenGL backend (set MUJOCO_GL=egl to include it)"
    return None


@pytest.mark.parametrize("name", ENV_CONFIGS)
def test_env_config_builds_seeds_and_steps(name):
    if reason := _skip_reason(name):
        pytest.skip(reason)
    cfg = compose_cfg(f"env={name}").env
    assert f"{cfg.domain}/{cfg.task}" == name
    assert cfg.metric in ("return", "success") and cfg.budget > 0 and cfg.eval_every > 0
    env = make_env(cfg, seed=11)
    space = env.observation_space
    assert space.dtype == np.float32 and len(space.shape) == 1
    np.testing.assert_array_equal(env.action_space.low, -1.0)
    np.testing.assert_array_equal(env.action_space.high, 1.0)
    first, _ = env.reset(seed=11)
    assert first.shape == space.shape and first.dtype == np.float32
    for _ in range(5):
        obs, reward, terminated, truncated, info = env.step(env.action_space.sample())
        assert obs.shape == space.shape and obs.dtype == np.float32 and np.all(np.isfinite(obs))
        assert np.isfinite(reward)
        if cfg.metric == "success":
            assert info["success"] in (0.0, 1.0)
        if cfg.reward == "sparse":
            assert reward in (0.0, 1.0) and reward == info["success"]
        if terminated or truncated:
            env.reset()
    # Same seed: the same first episode *and* the same later ones, also on a used env; another
    # seed: another start.
    a = [env.reset(seed=11)[0], env.reset()[0]]
    env_b = make_env(cfg, seed=11)
    b = [env_b.reset(seed=11)[0], env_b.reset()[0]]
    np.testing.assert_array_equal(b[0], first)  # two fresh envs: bit-identical
    # A used env replays them too, up to ~1e-7 that MuJoCo's solver warm start carries over.
    np.testing.assert_allclose(a[0], b[0], rtol=0, atol=1e-5)
    np.testing.assert_allclose(a[1], b[1], rtol=0, atol=1e-5)
    if cfg.get("goals") == "fixed":
        # One goal per run, drawn when the env is built: a reset with another seed keeps it (and
        # Meta-World's start is the goal's), another run's env gets another goal.
        np.testing.assert_allclose(env.reset(seed=12)[0], first, rtol=0, atol=1e-5)
        other, _ = make_env(cfg, seed=12).reset(seed=12)
    else:
        other, _ = env.reset(seed=12)
    if name not in DETERMINISTIC_START:
        assert not np.array_equal(other, first)


def test_sparse_configs_exist_for_the_benchmark_tasks():
    for name in ("metaworld_sparse/window-open", "metaworld_sparse/door-open", "metaworld_sparse/hand-insert",
                 "panda/reach-joints", "shadowhand_sparse/egg-rotate"):
        assert name in ENV_CONFIGS
        assert compose_cfg(f"env={name}").env.reward == "sparse"


def test_every_dmc_suite_task_has_a_config():
    from ace.envs.dmc import tasks

    assert {f"dmc/{t}" for t in tasks()} <= set(ENV_CONFIGS)
    assert "dmc/cheetah-run" in ENV_CONFIGS and compose_cfg("env=dmc/cheetah-run").env.budget == 400_000


def test_domain_budgets():
    assert compose_cfg("env=mujoco/ant").env.budget == 3_000_000
    assert compose_cfg("env=mujoco/hopper").env.budget == 1_000_000
    assert compose_cfg("env=panda/reach-joints").env.budget == 100_000
    assert compose_cfg("env=metaworld/hammer").train.total_steps == 1_000_000
    assert compose_cfg("env=dmc/walker-run", "preset=smoke").train.total_steps == 800  # presets still shrink


def test_adroit_episode_lengths_are_the_registered_ones():
    """Adroit configs use the episode length gymnasium-robotics registers (200 for all four, pen too)."""
    import gymnasium as gym
    import gymnasium_robotics

    from ace.envs.gymnasium_tasks import ADROIT

    gym.register_envs(gymnasium_robotics)
    for task, env_id in ADROIT.items():
        assert compose_cfg(f"env=adroit/{task}").env.episode_length == gym.spec(env_id).max_episode_steps


def test_metaworld_configs_default_to_one_goal_per_run():
    for name in ("metaworld/drawer-open", "metaworld_sparse/window-open"):
        assert compose_cfg(f"env={name}").env.goals == "fixed"
    assert compose_cfg("env=metaworld/reach", "env.goals=random").env.goals == "random"
