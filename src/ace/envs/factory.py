"""Build a seeded, wrapped environment from an ``env`` config node: the project's one env factory.

Each domain registers its task list and builder here. Every env that leaves ``make_env`` has flat
float32 observations, a Box action space in [-1, 1], ``info['success']`` (float 0/1) where the
task defines success, and time-limit ends reported as ``truncated``, never as ``terminated``.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable
from dataclasses import dataclass

import gymnasium as gym
import numpy as np
from omegaconf import DictConfig

from ace.envs import dmc, gymnasium_tasks, metaworld, robel_tasks
from ace.envs.wrappers import FlatFloat32Observation, SuccessReward

REWARD_TYPES = ("dense", "sparse")


class UnknownTaskError(ValueError):
    """A task name that the domain does not define; the message lists close matches."""


@dataclass(frozen=True)
class Domain:
    tasks: Callable[[], list[str]]
    build: Callable[..., gym.Env]  # (task, seed, episode_length, **options, [goal_seed=])
    options: tuple[str, ...] = ()  # env config keys the builder also takes (Meta-World's goal regime)
    goal_seeded: bool = False      # the builder takes goal_seed: the seed that fixes the task's goal


def _fixed(table: dict[str, str]) -> Callable[[], list[str]]:
    return lambda: sorted(table)


DOMAINS: dict[str, Domain] = {
    "metaworld": Domain(metaworld.tasks, metaworld.build, options=("goals",), goal_seeded=True),
    "mujoco": Domain(_fixed(gymnasium_tasks.MUJOCO), gymnasium_tasks.build_mujoco),
    "dmc": Domain(dmc.tasks, dmc.build),
    "adroit": Domain(_fixed(gymnasium_tasks.ADROIT), gymnasium_tasks.build_adroit),
    "shadowhand": Domain(_fixed(gymnasium_tasks.SHADOWHAND), gymnasium_tasks.build_shadowhand),
    "panda": Domain(_fixed(gymnasium_tasks.PANDA), gymnasium_tasks.build_panda),
    "robel": Domain(robel_tasks.tasks, robel_tasks.build),
}


def _base_domain(domain: str) -> str:
    """``metaworld_sparse`` is Meta-World with the sparse reward: same tasks, same builder."""
    base = domain.removesuffix("_sparse")
    if base not in DOMAINS:
        raise UnknownTaskError(f"unknown env domain {domain!r}; valid domains: {', '.join(sorted(DOMAINS))}")
    return base


def available_tasks(domain: str) -> list[str]:
    return DOMAINS[_base_domain(domain)].tasks()


def check_task(domain: str, task: str) -> None:
    tasks = available_tasks(domain)
    if task not in tasks:
        close = difflib.get_close_matches(task, tasks, n=5, cutoff=0.5)
        hint = f" Did you mean: {', '.join(close)}?" if close else ""
        raise UnknownTaskError(f"unknown {domain} task {task!r}.{hint} Valid tasks: {', '.join(tasks)}")


def make_env(env_cfg: DictConfig, seed: int, goal_seed: int | None = None) -> gym.Env:
    """The env described by ``env_cfg`` (domain, task, reward, episode_length, options), seeded with ``seed``.

    ``goal_seed`` (default ``seed``) fixes the goal where the task's goal is drawn once per run
    (Meta-World with ``goals=fixed``): the evaluation env passes the training seed here so that it
    faces the training goal while its own randomness comes from ``seed``.
    """
    check_task(env_cfg.domain, env_cfg.task)
    if env_cfg.reward not in REWARD_TYPES:
        raise ValueError(f"env.reward={env_cfg.reward!r} is not one of {REWARD_TYPES}")
    episode_length = env_cfg.get("episode_length")
    if episode_length is not None and episode_length <= 0:
        raise ValueError(f"env.episode_length must be positive, got {episode_length}")
    domain = DOMAINS[_base_domain(env_cfg.domain)]
    options = {k: env_cfg[k] for k in domain.options if env_cfg.get(k) is not None}
    if domain.goal_seeded:
        options["goal_seed"] = seed if goal_seed is None else goal_seed
    env = domain.build(env_cfg.task, seed, episode_length, **options)
    if not isinstance(env.action_space, gym.spaces.Box):
        raise TypeError(f"{env_cfg.domain}/{env_cfg.task}: ACE needs a Box action space, got {env.action_space}")
    if not (np.all(env.action_space.low == -1.0) and np.all(env.action_space.high == 1.0)):
        shape = env.action_space.shape
        env = gym.wrappers.RescaleAction(env, np.full(shape, -1.0, np.float32), np.full(shape, 1.0, np.float32))
    if env_cfg.reward == "sparse":
        env = SuccessReward(env)
    env = FlatFloat32Observation(env)
    env.reset(seed=seed)
    env.action_space.seed(seed)
    return env


def _wrapper_chain(env: gym.Env) -> list:
    chain, e = [], env
    while True:
        chain.append(e)
        inner = getattr(e, "env", None)
        if inner is None or inner is e or not isinstance(inner, gym.Env):
            return chain
        e = inner


def _rng_holders(env: gym.Env) -> dict[str, object]:
    """Every numpy RNG the env chain holds directly or in its spaces, by a stable name."""
    found: dict[str, object] = {}
    for depth, layer in enumerate(_wrapper_chain(env)):
        for name, value in vars(layer).items():
            if isinstance(value, (np.random.Generator, np.random.RandomState)):
                found[f"{depth}.{name}"] = value
            elif isinstance(value, gym.spaces.Space) and value._np_random is not None:
                found[f"{depth}.{name}._np_random"] = value._np_random
    return found


def env_rng_state(env: gym.Env) -> dict[str, object]:
    """The state of every RNG in the env chain: with it, the next ``reset()`` is reproducible."""
    return {k: (rng.bit_generator.state if isinstance(rng, np.random.Generator) else rng.get_state())
            for k, rng in _rng_holders(env).items()}


def set_env_rng_state(env: gym.Env, state: dict[str, object]) -> None:
    holders = _rng_holders(env)
    if set(holders) != set(state):
        raise ValueError(f"env RNG layout changed: checkpoint has {sorted(state)}, env has {sorted(holders)}")
    for k, rng in holders.items():
        if isinstance(rng, np.random.Generator):
            rng.bit_generator.state = state[k]
        else:
            rng.set_state(state[k])
