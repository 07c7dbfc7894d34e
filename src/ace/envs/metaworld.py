"""Meta-World v3 tasks, with the goal regime of the official ACE code or one goal per episode.

``goals=fixed`` (the official code's ``<task>-v2-goal-observable`` env): the goal and object layout
are drawn once from ``goal_seed`` and frozen for every episode of the run, training and evaluation
alike; another seed gets another goal. ``goals=random`` (``Meta-World/MT1``, as TD-MPC2 runs
Meta-World): each reset draws one of the task's 50 goal positions. The goal is observed in both.
"""

from __future__ import annotations

import gymnasium as gym

from ace.envs.wrappers import MetaWorldSeeding

GOAL_REGIMES = ("fixed", "random")
META_WORLD_MAX_STEPS = 500  # Meta-World raises past its own max_path_length


def tasks() -> list[str]:
    import metaworld

    return sorted(name.removesuffix("-v3") for name in metaworld.ALL_V3_ENVIRONMENTS)


def build(task: str, seed: int, episode_length: int | None, goals: str = "fixed",
          goal_seed: int | None = None) -> gym.Env:
    """``goal_seed`` (default ``seed``) picks the frozen goal under ``goals=fixed``: an evaluation env
    seeded differently for its own randomness still faces the training goal."""
    import metaworld

    if goals not in GOAL_REGIMES:
        raise ValueError(f"env.goals={goals!r} is not one of: {', '.join(GOAL_REGIMES)}")
    length = episode_length or META_WORLD_MAX_STEPS
    if length > META_WORLD_MAX_STEPS:
        raise ValueError(f"env.episode_length={length} exceeds Meta-World's limit of {META_WORLD_MAX_STEPS} steps")
    if goals == "random":
        env = gym.make("Meta-World/MT1", env_name=f"{task}-v3", seed=seed, max_episode_steps=length,
                       disable_env_checker=True)
    else:
        # What gym.make("Meta-World/goal_observable", ...) builds, without the env checker; the class
        # seeds numpy's global RNG with goal_seed for its one goal draw and restores it afterwards.
        cls = metaworld.ALL_V3_ENVIRONMENTS_GOAL_OBSERVABLE[f"{task}-v3-goal-observable"]
        env = gym.wrappers.TimeLimit(cls(seed=seed if goal_seed is None else goal_seed), length)
    return MetaWorldSeeding(env)
