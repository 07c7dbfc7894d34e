"""DeepMind Control Suite tasks (states) as gymnasium envs: ``dmc/<domain>-<task>``."""

from __future__ import annotations

import os

import gymnasium as gym
import numpy as np


def _name(domain: str, task: str) -> str:
    return f"{domain}-{task}".replace("_", "-").lower()


def _suite():
    os.environ.setdefault("MUJOCO_GL", "disable")  # states only: no OpenGL context needed
    from dm_control import suite

    return suite


def task_table() -> dict[str, tuple[str, str]]:
    """``cheetah-run -> ('cheetah', 'run')`` for every task of the suite."""
    return {_name(d, t): (d, t) for d, t in _suite().ALL_TASKS}


def tasks() -> list[str]:
    return sorted(task_table())


class DMCEnv(gym.Env):
    """A dm_control suite task: flattened float32 state observations, action repeat 1.

    A time-limit end of episode (discount 1) is reported as ``truncated``; a true terminal state
    (discount 0, which few suite tasks have) as ``terminated``.
    """

    metadata = {"render_modes": []}

    def __init__(self, domain: str, task: str, seed: int):
        self.domain = domain  # the suite domain: it picks the camera of ace.envs.render
        self._env = _suite().load(domain, task, task_kwargs={"random": seed})
        self._task_random = self._env.task.random  # reseeded in place; visible to checkpointing
        spec = self._env.action_spec()
        self.action_space = gym.spaces.Box(spec.minimum.astype(np.float32), spec.maximum.astype(np.float32),
                                           dtype=np.float32)
        size = sum(int(np.prod(v.shape)) for v in self._env.observation_spec().values())
        self.observation_space = gym.spaces.Box(-np.inf, np.inf, shape=(size,), dtype=np.float32)

    @staticmethod
    def _flat(observation) -> np.ndarray:
        return np.concatenate([np.asarray(v, dtype=np.float32).reshape(-1) for v in observation.values()])

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        if seed is not None:
            self._task_random.seed(seed)
        return self._flat(self._env.reset().observation), {}

    def step(self, action):
        ts = self._env.step(np.asarray(action, dtype=np.float64))
        terminated = bool(ts.last() and ts.discount == 0.0)
        truncated = bool(ts.last() and not terminated)
        return self._flat(ts.observation), float(ts.reward or 0.0), terminated, truncated, {}


#: Suite tasks whose scene needs an OpenGL context even without rendering.
NEEDS_OPENGL = ("quadruped-escape",)


def build(task: str, seed: int, episode_length: int | None) -> gym.Env:
    domain, name = task_table()[task]
    try:
        env: gym.Env = DMCEnv(domain, name, seed)
    except RuntimeError as e:
        if "OpenGL" not in str(e):
            raise
        raise RuntimeError(
            f"dmc/{task} needs an OpenGL backend ({e}). Set MUJOCO_GL=egl (Debian: apt-get install libegl1) "
            "or MUJOCO_GL=osmesa (libosmesa6)."
        ) from e
    if episode_length:
        env = gym.wrappers.TimeLimit(env, episode_length)
    return env
