"""Meta-World v3 tasks through gymnasium (``Meta-World/MT1``)."""

from __future__ import annotations

import gymnasium as gym

from ace.envs.wrappers import MetaWorldSeeding


def tasks() -> list[str]:
    import metaworld

    return sorted(name.removesuffix("-v3") for name in metaworld.ALL_V3_ENVIRONMENTS)


def build(task: str, seed: int, episode_length: int | None) -> gym.Env:
    import metaworld  # noqa: F401  (registers the Meta-World/* ids)

    # MT1 samples one of the task's 50 goal positions at every reset; the goal is observed.
    env = gym.make(
        "Meta-World/MT1",
        env_name=f"{task}-v3",
        seed=seed,
        max_episode_steps=episode_length or 500,
        disable_env_checker=True,
    )
    return MetaWorldSeeding(env)
