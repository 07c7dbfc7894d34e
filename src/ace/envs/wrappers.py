"""Wrappers that make every domain look the same to the runner."""

from __future__ import annotations

import gymnasium as gym
import numpy as np


class Float32Observation(gym.ObservationWrapper):
    """Flat float32 observations with an honest unbounded Box (Meta-World's declared bounds are wrong)."""

    def __init__(self, env: gym.Env):
        super().__init__(env)
        shape = env.observation_space.shape
        self.observation_space = gym.spaces.Box(-np.inf, np.inf, shape=shape, dtype=np.float32)

    def observation(self, observation: np.ndarray) -> np.ndarray:
        return np.asarray(observation, dtype=np.float32)


class SuccessReward(gym.Wrapper):
    """Sparse reward: 1.0 on a step where ``info['success']`` holds, else 0.0.

    The official ACE "sparse" Meta-World wrapper returned the dense reward unchanged; this one does
    not. The dense reward stays available as ``info['dense_reward']``.
    """

    def step(self, action):
        obs, reward, terminated, truncated, info = self.env.step(action)
        info = dict(info)
        info["dense_reward"] = float(reward)
        return obs, float(bool(info.get("success", 0.0))), terminated, truncated, info


class MetaWorldSeeding(gym.Wrapper):
    """Make ``reset(seed=s)`` reseed Meta-World, which otherwise ignores the argument.

    Meta-World seeds only through ``env.seed()``; its goal for the next episode is drawn from that
    RNG. Reseeding it here makes a seeded reset, and every episode after it, depend only on ``s``.
    """

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        if seed is not None:
            self.env.unwrapped.seed(seed)
        return self.env.reset(options=options)
