"""Tasks that gymnasium and its plug-ins register: MuJoCo, Adroit, Shadow Hand, Panda-gym."""

from __future__ import annotations

import contextlib
import importlib
import os
import sys

import gymnasium as gym

from ace.envs.wrappers import SeededResets, SuccessInfo

MUJOCO = {
    "hopper": "Hopper-v5", "walker2d": "Walker2d-v5", "halfcheetah": "HalfCheetah-v5", "ant": "Ant-v5",
    "humanoid": "Humanoid-v5", "humanoid-standup": "HumanoidStandup-v5", "swimmer": "Swimmer-v5",
    "reacher": "Reacher-v5", "pusher": "Pusher-v5", "inverted-pendulum": "InvertedPendulum-v5",
    "inverted-double-pendulum": "InvertedDoublePendulum-v5",
}
# Adroit v1 of gymnasium-robotics 1.4.2 (its dense reward changed in 1.2.1 without a version bump).
ADROIT = {"door": "AdroitHandDoor-v1", "hammer": "AdroitHandHammer-v1", "pen": "AdroitHandPen-v1",
          "relocate": "AdroitHandRelocate-v1"}
# The dense variants; a sparse config replaces the reward with the success indicator.
SHADOWHAND = {
    "egg-rotate": "HandManipulateEggRotateDense-v1", "pen-rotate": "HandManipulatePenRotateDense-v1",
    "egg": "HandManipulateEggDense-v1", "pen": "HandManipulatePenDense-v1",
    "block-rotate-z": "HandManipulateBlockRotateZDense-v1", "block": "HandManipulateBlockDense-v1",
}
PANDA = {"reach-joints": "PandaReachJoints-v3", "reach": "PandaReach-v3", "push-joints": "PandaPushJoints-v3",
         "push": "PandaPush-v3", "slide": "PandaSlide-v3", "pick-and-place": "PandaPickAndPlace-v3"}


class MissingDependencyError(ImportError):
    """An optional domain whose package is not installed; the message gives the install command."""


def require(module: str, package: str, install: str) -> None:
    try:
        importlib.import_module(module)
    except ImportError as e:
        raise MissingDependencyError(
            f"this task needs the '{package}' package, which is not installed ({e}). Install it with: {install}"
        ) from e


def _make(env_id: str, episode_length: int | None) -> gym.Env:
    kwargs = {"max_episode_steps": episode_length} if episode_length else {}
    return gym.make(env_id, disable_env_checker=True, **kwargs)


def build_mujoco(task: str, seed: int, episode_length: int | None) -> gym.Env:
    return _make(MUJOCO[task], episode_length)


def build_adroit(task: str, seed: int, episode_length: int | None) -> gym.Env:
    require("gymnasium_robotics", "gymnasium-robotics", "make setup  (or: .venv/bin/pip install -e .)")
    import gymnasium_robotics

    gym.register_envs(gymnasium_robotics)
    return SuccessInfo(_make(ADROIT[task], episode_length), "success")  # a bool there; a float here


def build_shadowhand(task: str, seed: int, episode_length: int | None) -> gym.Env:
    require("gymnasium_robotics", "gymnasium-robotics", "make setup  (or: .venv/bin/pip install -e .)")
    import gymnasium_robotics

    gym.register_envs(gymnasium_robotics)
    return SuccessInfo(_make(SHADOWHAND[task], episode_length), "is_success")


def build_panda(task: str, seed: int, episode_length: int | None) -> gym.Env:
    require("panda_gym", "panda-gym", "make setup  (or: .venv/bin/pip install -e '.[panda]')")
    import panda_gym  # noqa: F401  (registers Panda*-v3)

    with _quiet_stdout():  # pybullet prints its start-up arguments on the C stdout
        env = _make(PANDA[task], episode_length)
    return SeededResets(SuccessInfo(env, "is_success"))


@contextlib.contextmanager
def _quiet_stdout():
    sys.stdout.flush()
    saved = os.dup(1)
    try:
        with open(os.devnull, "w") as devnull:
            os.dup2(devnull.fileno(), 1)
            yield
    finally:
        os.dup2(saved, 1)
        os.close(saved)
