"""ROBEL D'Kitty tasks on the project's MuJoCo 3 / dm-control, without ROBEL's pinned old stack.

ROBEL 0.1.2 targets gym<0.14 and mujoco-py, but it ships its MuJoCo scenes and a dm_control
simulation backend. Three compatibility shims make it run here, none of which edits the installed
package:

* gym 0.26's registry is a dict; ROBEL's registration helper expects ``registry.env_specs``.
* ROBEL uses ``collections.Mapping`` (removed in Python 3.10): the ``collections.abc`` names are
  aliased back.
* ROBEL's XML files put a licence comment before the ``<?xml ...?>`` declaration, which MuJoCo 3
  rejects. Its scene files are copied once into a cache folder with the declaration removed, and
  the dm_control loader is pointed there.

The D'Kitty tasks are used as ACE used them: sparse, 80-step episodes, success from ROBEL's own
``score/success`` (the sparse reward is 1.0 on a step where that holds, else 0.0).
"""

from __future__ import annotations

import collections
import collections.abc
import os
import re
import shutil
import tempfile
import warnings
from pathlib import Path

import gymnasium as gym
import numpy as np

from ace.envs.gymnasium_tasks import require

#: task name -> (module, class)
TASKS = {
    "dkitty-stand-random": ("robel.dkitty.stand", "DKittyStandRandom"),
    "dkitty-stand-fixed": ("robel.dkitty.stand", "DKittyStandFixed"),
    "dkitty-orient-random": ("robel.dkitty.orient", "DKittyOrientRandom"),
    "dkitty-orient-fixed": ("robel.dkitty.orient", "DKittyOrientFixed"),
    "dkitty-walk-random": ("robel.dkitty.walk", "DKittyWalkRandom"),
    "dkitty-walk-fixed": ("robel.dkitty.walk", "DKittyWalkFixed"),
}
INSTALL = "make setup  (ROBEL needs: pip install --no-deps robel==0.1.2, plus the '[robel]' extra)"
_XML_DECLARATION = re.compile(r"<\?xml[^>]*\?>")
_SCENE_DIRS = ("dkitty/assets", "robel-scenes")


def tasks() -> list[str]:
    return sorted(TASKS)


def _cache_root() -> Path:
    base = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache"))
    return base / "ace-rl"


def _patched_scenes(module_dir: Path, version: str) -> Path:
    """A copy of ROBEL's scene files without XML declarations, built once and atomically."""
    target = _cache_root() / f"robel-{version}-scenes"
    if (target / ".complete").exists():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".robel-", dir=target.parent))
    for sub in _SCENE_DIRS:
        for src in (module_dir / sub).rglob("*"):
            if not src.is_file():
                continue
            dst = tmp / src.relative_to(module_dir)
            dst.parent.mkdir(parents=True, exist_ok=True)
            if src.suffix == ".xml":
                dst.write_text(_XML_DECLARATION.sub("", src.read_text()))
            else:
                shutil.copyfile(src, dst)
    (tmp / ".complete").touch()
    try:
        os.replace(tmp, target)
    except OSError:  # another process finished first
        shutil.rmtree(tmp, ignore_errors=True)
    return target


def _import_robel():
    require("gym", "gym (0.26)", INSTALL)
    require("transforms3d", "transforms3d", INSTALL)
    for name in ("Mapping", "MutableMapping", "Sequence", "Iterable"):
        if not hasattr(collections, name):
            setattr(collections, name, getattr(collections.abc, name))
    os.environ.setdefault("MUJOCO_GL", "disable")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from gym.envs import registration

        if not hasattr(registration.registry, "env_specs"):
            registration.registry = _Registry(registration.registry)
        require("robel", "robel", INSTALL)
        import robel
        from robel.simulation import dm_sim_scene
    if not getattr(dm_sim_scene.DMSimScene, "_ace_patched", False):
        from importlib.metadata import version

        module_dir = Path(robel.__file__).parent
        scenes = _patched_scenes(module_dir, version("robel"))
        original = dm_sim_scene.DMSimScene._load_simulation

        def load(self, handle):
            if isinstance(handle, str) and Path(handle).is_relative_to(module_dir):
                handle = str(scenes / Path(handle).relative_to(module_dir))
            return original(self, handle)

        dm_sim_scene.DMSimScene._load_simulation = load
        dm_sim_scene.DMSimScene._ace_patched = True
    return robel


class _Registry(dict):
    """gym 0.26's registry dict with the ``env_specs`` view that ROBEL's helper expects."""

    @property
    def env_specs(self) -> dict:
        return self


class RobelEnv(gym.Env):
    """A ROBEL (old gym API) env as a gymnasium env on the dm_control backend.

    ROBEL's ``done`` (the D'Kitty fell over) is a true termination; the 80-step limit is added by
    a gymnasium ``TimeLimit`` and reported as truncation. ``info['success']`` is ROBEL's
    ``score/success``.
    """

    metadata = {"render_modes": []}

    def __init__(self, task: str, seed: int):
        _import_robel()
        import importlib

        from robel.simulation.sim_scene import SimBackend

        module, cls = TASKS[task]
        self._env = getattr(importlib.import_module(module), cls)(sim_backend=SimBackend.DM_CONTROL)
        self._env.seed(seed)
        space = self._env.action_space
        self.action_space = gym.spaces.Box(space.low.astype(np.float32), space.high.astype(np.float32),
                                           dtype=np.float32)
        self.observation_space = gym.spaces.Box(-np.inf, np.inf, shape=self._env.observation_space.shape,
                                                dtype=np.float32)

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        if seed is not None:
            self._env.seed(seed)
        return np.asarray(self._env.reset(), dtype=np.float32), {}

    def step(self, action):
        obs, reward, done, info = self._env.step(np.asarray(action))
        info = {k: v for k, v in info.items() if np.isscalar(v)}
        info["success"] = float(bool(info.get("score/success", False)))
        return np.asarray(obs, dtype=np.float32), float(reward), bool(done), False, info


def build(task: str, seed: int, episode_length: int | None) -> gym.Env:
    env: gym.Env = RobelEnv(task, seed)
    return gym.wrappers.TimeLimit(env, episode_length or 80)
