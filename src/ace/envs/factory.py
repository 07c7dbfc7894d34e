"""Build a seeded, wrapped environment from an ``env`` config node.

Each domain registers one builder here; every builder returns a gymnasium env with flat float32
observations, a Box action space, ``info['success']`` where the task defines success, and
time-limit truncation reported as ``truncated`` (never as ``terminated``).
"""

from __future__ import annotations

import difflib
from collections.abc import Callable

import gymnasium as gym
from omegaconf import DictConfig

from ace.envs.wrappers import Float32Observation, MetaWorldSeeding, SuccessReward

REWARD_TYPES = ("dense", "sparse")


class UnknownTaskError(ValueError):
    """A task name that the domain does not define; the message lists close matches."""


def _metaworld_tasks() -> list[str]:
    import metaworld

    return sorted(name.removesuffix("-v3") for name in metaworld.ALL_V3_ENVIRONMENTS)


def _make_metaworld(task: str, seed: int, episode_length: int) -> gym.Env:
    import metaworld  # noqa: F401  (registers the Meta-World/* ids)

    # MT1 samples one of the task's 50 goal positions at every reset; the goal is observed.
    env = gym.make(
        "Meta-World/MT1",
        env_name=f"{task}-v3",
        seed=seed,
        max_episode_steps=episode_length,
        disable_env_checker=True,
    )
    return MetaWorldSeeding(env)


#: domain name -> (list of tasks, builder(task, seed, episode_length))
DOMAINS: dict[str, tuple[Callable[[], list[str]], Callable[[str, int, int], gym.Env]]] = {
    "metaworld": (_metaworld_tasks, _make_metaworld),
}


def available_tasks(domain: str) -> list[str]:
    return DOMAINS[_base_domain(domain)][0]()


def _base_domain(domain: str) -> str:
    base = domain.removesuffix("_sparse")
    if base not in DOMAINS:
        raise UnknownTaskError(f"unknown env domain {domain!r}; valid domains: {sorted(DOMAINS)}")
    return base


def check_task(domain: str, task: str) -> None:
    tasks = available_tasks(domain)
    if task not in tasks:
        close = difflib.get_close_matches(task, tasks, n=5, cutoff=0.5)
        hint = f" Did you mean: {', '.join(close)}?" if close else ""
        raise UnknownTaskError(f"unknown {domain} task {task!r}.{hint} Valid tasks: {', '.join(tasks)}")


def make_env(env_cfg: DictConfig, seed: int) -> gym.Env:
    """The env described by ``env_cfg`` (domain, task, reward, episode_length), seeded with ``seed``."""
    check_task(env_cfg.domain, env_cfg.task)
    if env_cfg.reward not in REWARD_TYPES:
        raise ValueError(f"env.reward={env_cfg.reward!r} is not one of {REWARD_TYPES}")
    if env_cfg.episode_length <= 0:
        raise ValueError(f"env.episode_length must be positive, got {env_cfg.episode_length}")
    builder = DOMAINS[_base_domain(env_cfg.domain)][1]
    env = builder(env_cfg.task, seed, int(env_cfg.episode_length))
    if env_cfg.reward == "sparse":
        env = SuccessReward(env)
    env = Float32Observation(env)
    env.action_space.seed(seed)
    return env

