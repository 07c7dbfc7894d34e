"""A tiny env whose reward turns bad at a chosen step, registered as the env domain ``stub``.

Task names: ``reward-inf`` (reward inf from step 500 of the env's life) and ``reward-1e30`` (finite,
but its square overflows float32 in the critic loss).
"""

from __future__ import annotations

import gymnasium as gym
import numpy as np

from ace.envs import factory

BAD_FROM_STEP = 500
TASKS = {"reward-inf": float("inf"), "reward-1e30": 1e30}


class RewardTurnsBad(gym.Env):
    def __init__(self, bad: float, episode_length: int):
        self.observation_space = gym.spaces.Box(-np.inf, np.inf, (3,), np.float32)
        self.action_space = gym.spaces.Box(-1.0, 1.0, (2,), np.float32)
        self.bad, self.episode_length = bad, episode_length
        self.steps = 0  # over the env's life: the train env's count is the run's step

    def reset(self, seed=None, options=None):
        super().reset(seed=seed)
        self.t = 0
        self.state = self.np_random.normal(size=3).astype(np.float32)
        return self.state, {}

    def step(self, action):
        self.steps += 1
        self.t += 1
        self.state = (0.9 * self.state + 0.1 * np.r_[action, action.sum()]).astype(np.float32)
        reward = self.bad if self.steps >= BAD_FROM_STEP else -float(np.abs(self.state).sum())
        return self.state, reward, False, self.t >= self.episode_length, {}


def register() -> None:
    factory.DOMAINS["stub"] = factory.Domain(lambda: sorted(TASKS),
                                             lambda task, seed, length: RewardTurnsBad(TASKS[task], length))
