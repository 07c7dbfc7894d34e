"""Wrappers that make every domain look the same to the runner."""

from __future__ import annotations

import gymnasium as gym
import numpy as np

#: Goal-conditioned dict observations are flattened in this order (then any other keys, sorted).
GOAL_KEYS = ("observation", "achieved_goal", "desired_goal")


def _dict_keys(space: gym.spaces.Dict) -> list[str]:
    return [k for k in GOAL_KEYS if k in space.spaces] + sorted(k for k in space.spaces if k not in GOAL_KEYS)


class FlatFloat32Observation(gym.ObservationWrapper):
    """Flat float32 observations with an unbounded Box; dict observations are concatenated.

    Meta-World's declared observation bounds are wrong (observations fall outside them), so the
    bounds are not carried over.
    """

    def __init__(self, env: gym.Env):
        super().__init__(env)
        space = env.observation_space
        if isinstance(space, gym.spaces.Dict):
            self._keys: list[str] | None = _dict_keys(space)
            size = sum(int(np.prod(space.spaces[k].shape)) for k in self._keys)
        elif isinstance(space, gym.spaces.Box):
            self._keys = None
            size = int(np.prod(space.shape))
        else:
            raise TypeError(f"unsupported observation space {space}")
        self.observation_space = gym.spaces.Box(-np.inf, np.inf, shape=(size,), dtype=np.float32)

    def observation(self, observation) -> np.ndarray:
        if self._keys is None:
            return np.asarray(observation, dtype=np.float32).reshape(-1)
        return np.concatenate([np.asarray(observation[k], dtype=np.float32).reshape(-1) for k in self._keys])


class SuccessInfo(gym.Wrapper):
    """Report success as ``info['success']`` (a float 0/1) whatever the domain calls it."""

    def __init__(self, env: gym.Env, key: str):
        super().__init__(env)
        self._key = key

    def step(self, action):
        obs, reward, terminated, truncated, info = self.env.step(action)
        if self._key in info:
            info = dict(info)
            info["success"] = float(bool(np.asarray(info[self._key]).any()))
        return obs, reward, terminated, truncated, info


class SuccessReward(gym.Wrapper):
    """Sparse reward: 1.0 on a step where ``info['success']`` holds, else 0.0.

    The official ACE "sparse" Meta-World wrapper returned the dense reward unchanged; this one does
    not. Native sparse rewards of other libraries (-1/0 in Panda-gym and the Shadow Hand) are
    mapped to the same 0/1 convention. The env's own reward stays in ``info['dense_reward']``.
    """

    def step(self, action):
        obs, reward, terminated, truncated, info = self.env.step(action)
        if "success" not in info:
            raise KeyError("a sparse-reward task needs info['success'] from its env")
        info = dict(info)
        info["dense_reward"] = float(reward)
        return obs, float(bool(info["success"])), terminated, truncated, info


class MetaWorldSeeding(gym.Wrapper):
    """Make ``reset(seed=s)`` reseed Meta-World, which otherwise ignores the argument.

    Meta-World seeds only through ``env.seed()``; its goal for the next episode is drawn from that
    RNG. Reseeding it here makes a seeded reset, and every episode after it, depend only on ``s``.
    """

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        if seed is not None:
            self.env.unwrapped.seed(seed)
        return self.env.reset(options=options)


class SeededResets(gym.Wrapper):
    """Give every reset a seed drawn from an RNG seeded by the last ``reset(seed=s)``.

    Panda-gym reseeds its goal sampler on every reset from its ``seed`` argument, so an unseeded
    reset draws the goal from OS entropy; with this wrapper later episodes depend only on ``s``.
    """

    def __init__(self, env: gym.Env):
        super().__init__(env)
        self._seeds = np.random.default_rng()

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        if seed is not None:
            self._seeds = np.random.default_rng(seed)
        return self.env.reset(seed=int(self._seeds.integers(2**31 - 1)), options=options)
