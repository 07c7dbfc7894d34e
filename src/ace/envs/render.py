"""Frames of any env ``make_env`` builds: the one way each domain renders, shared by the runner and ``ace.evaluate``.

Every MuJoCo-based domain (Meta-World, MuJoCo, Adroit, Shadow Hand, DMC, ROBEL) renders with
``mujoco.Renderer`` on the env's own ``MjModel``/``MjData``, whatever library wraps them: one code
path, explicit ``close()`` (an EGL context left to the interpreter's exit prints an ``EGLError``),
no dependence on an env's ``render_mode`` (so the evaluation env is built exactly as without video),
and any size up to the renderer's buffer. Panda-gym renders through pybullet's CPU renderer
(``ER_TINY_RENDERER``), which needs no OpenGL at all. The camera each domain uses is in ``CAMERAS``
and docs/environments.md.

Rendering only reads the simulation (``mjv_updateScene`` and pybullet's ``getCameraImage`` step
nothing and draw no random numbers), so a run gives the same numbers with or without video.
Shadows and reflections are off: in software rendering (EGL on Mesa's llvmpipe) shadows cost 4-5x per
frame and reflections 1.3-3x.

OpenGL must be chosen before MuJoCo is imported: ``choose_gl_backend()`` sets ``MUJOCO_GL`` at
process start (``src/run.py``, ``ace.evaluate``).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import platform
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import gymnasium as gym
import numpy as np

#: Linux backends tried in order, with the libraries PyOpenGL loads for each (it fails to import without them).
GL_BACKENDS = {"egl": (("EGL",), ("OpenGL", "GL")), "osmesa": (("OSMesa",),)}


class RenderUnavailable(RuntimeError):
    """This env cannot be rendered here; the message says why and what would fix it."""


class Renderer(Protocol):
    def render(self) -> np.ndarray:
        """The current frame, ``(size, size, 3)`` uint8."""

    def close(self) -> None: ...


def _loads(names: tuple[str, ...]) -> bool:
    """One of these shared libraries exists and loads (ctypes is what PyOpenGL uses)."""
    for name in names:
        path = ctypes.util.find_library(name)
        if path:
            try:
                ctypes.CDLL(path)
                return True
            except OSError:
                continue
    return False


def choose_gl_backend() -> str | None:
    """Set ``MUJOCO_GL`` to a backend that can render headless, before MuJoCo is imported.

    MuJoCo and dm_control pick their OpenGL backend once, at import, from ``MUJOCO_GL``. Unset, MuJoCo
    takes GLFW (needs a display) and our DMC/ROBEL modules set ``disable``. So when nothing is set
    and MuJoCo is not yet imported, this picks EGL, else OSMesa, where their libraries load (a backend
    whose libraries are missing would make ``import mujoco`` itself fail); ``disable`` when neither
    does and there is no display. A value the user set is kept. Returns the backend in force.
    """
    chosen = os.environ.get("MUJOCO_GL")
    if chosen is not None or "mujoco" in sys.modules or platform.system() != "Linux":
        return chosen
    for backend, libraries in GL_BACKENDS.items():
        if all(_loads(names) for names in libraries):
            os.environ["MUJOCO_GL"] = backend
            return backend
    if not os.environ.get("DISPLAY"):
        os.environ["MUJOCO_GL"] = "disable"
        return "disable"
    return None  # MuJoCo's default (GLFW) on a display


_gl_problem: str | None = None
_gl_checked = False


def _check_opengl() -> None:
    """Raise ``RenderUnavailable`` unless MuJoCo can make an OpenGL context (checked once per process)."""
    global _gl_checked, _gl_problem
    if not _gl_checked:
        _gl_checked = True
        backend = os.environ.get("MUJOCO_GL") or "(unset)"
        import mujoco

        context_class = getattr(mujoco.gl_context, "GLContext", None)
        if context_class is None:
            _gl_problem = f"MuJoCo was imported without OpenGL (MUJOCO_GL={backend})"
        else:
            try:
                context = context_class(16, 16)
                try:
                    context.make_current()
                finally:
                    context.free()
            except Exception as e:  # noqa: BLE001  (whatever the platform's GL stack raises means: no video)
                _gl_problem = f"no OpenGL context with MUJOCO_GL={backend} ({type(e).__name__}: {e})"
    if _gl_problem:
        raise RenderUnavailable(f"{_gl_problem}; video needs EGL (Debian: libegl1) or OSMesa (libosmesa6), "
                                "chosen before MuJoCo is imported (MUJOCO_GL=egl or osmesa)")


class MujocoFrames:
    """``mujoco.Renderer`` on an env's model and data, from one camera, without shadows and reflections."""

    def __init__(self, model, data, size: int, camera: int | str | object):
        import mujoco

        _check_opengl()
        vis = model.vis.global_
        buffer = (vis.offwidth, vis.offheight)
        # The offscreen buffer is sized by the model (Meta-World: 640x480); it is enlarged for the
        # renderer's context only, then restored. Rendering settings, not simulation.
        vis.offwidth, vis.offheight = max(buffer[0], size), max(buffer[1], size)
        try:
            self._renderer = mujoco.Renderer(model, size, size)
        finally:
            vis.offwidth, vis.offheight = buffer
        for flag in (mujoco.mjtRndFlag.mjRND_SHADOW, mujoco.mjtRndFlag.mjRND_REFLECTION):
            self._renderer.scene.flags[flag] = False
        self._data, self._camera = data, camera

    def render(self) -> np.ndarray:
        self._renderer.update_scene(self._data, camera=self._camera)
        return self._renderer.render()

    def close(self) -> None:
        self._renderer.close()


class BulletFrames:
    """pybullet's CPU renderer (no OpenGL) from a panda-gym env's own render view (target, distance, yaw, pitch)."""

    def __init__(self, env: gym.Env, size: int):
        import pybullet

        u = env.unwrapped
        self._client, self._size, self._tiny = u.sim.physics_client, size, pybullet.ER_TINY_RENDERER
        self._view = self._client.computeViewMatrixFromYawPitchRoll(
            cameraTargetPosition=u.render_target_position, distance=u.render_distance, yaw=u.render_yaw,
            pitch=u.render_pitch, roll=u.render_roll, upAxisIndex=2)
        self._projection = self._client.computeProjectionMatrixFOV(fov=60, aspect=1.0, nearVal=0.1, farVal=100.0)

    def render(self) -> np.ndarray:
        _, _, rgba, _, _ = self._client.getCameraImage(self._size, self._size, viewMatrix=self._view,
                                                      projectionMatrix=self._projection, shadow=False,
                                                      renderer=self._tiny)
        return np.asarray(rgba, dtype=np.uint8).reshape(self._size, self._size, 4)[..., :3].copy()

    def close(self) -> None:
        """Nothing to free: the frames come from the env's own pybullet client."""


def _env_free_camera(env: gym.Env):
    """The free camera a gymnasium MuJoCo env's own ``render()`` uses (its ``default_camera_config``).

    As gymnasium's viewer does, it looks at the median geom position when the renderer is made; the
    renderer is made right after an evaluation's seeded reset, so that is the same every time.
    """
    import mujoco

    u = env.unwrapped
    camera = mujoco.MjvCamera()
    mujoco.mjv_defaultFreeCamera(u.model, camera)
    camera.lookat[:] = np.median(u.data.geom_xpos, axis=0)
    camera.distance = u.model.stat.extent
    for key, value in (u.mujoco_renderer.default_cam_config or {}).items():
        if isinstance(value, np.ndarray):
            getattr(camera, key)[:] = value
        else:
            setattr(camera, key, value)
    return camera


def _gymnasium_mujoco(camera: str | None) -> Callable[[gym.Env, int], Renderer]:
    """Film a gymnasium MuJoCo env from the model's camera ``camera`` if it has one, else from the env's free camera."""
    def make(env: gym.Env, size: int) -> Renderer:
        import mujoco

        u = env.unwrapped
        fixed = mujoco.mj_name2id(u.model, mujoco.mjtObj.mjOBJ_CAMERA, camera) if camera else -1
        return MujocoFrames(u.model, u.data, size, fixed if fixed >= 0 else _env_free_camera(env))
    return make


@dataclass(frozen=True)
class FreeView:
    """A free camera (MuJoCo's ``MjvCamera``) looking at ``lookat``, or following ``track_body`` when given."""

    distance: float
    azimuth: float
    elevation: float
    lookat: tuple[float, float, float] = (0.0, 0.0, 0.0)
    track_body: str | None = None

    def camera(self, model):
        import mujoco

        camera = mujoco.MjvCamera()
        camera.type = mujoco.mjtCamera.mjCAMERA_FREE
        camera.lookat[:] = self.lookat
        camera.distance, camera.azimuth, camera.elevation = self.distance, self.azimuth, self.elevation
        if self.track_body is not None:
            body = mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_BODY, self.track_body)
            if body < 0:
                raise RenderUnavailable(f"the model has no body {self.track_body!r} to follow")
            camera.type, camera.trackbodyid = mujoco.mjtCamera.mjCAMERA_TRACKING, body
        return camera


#: Meta-World: the arm, the table, its objects and the goal from behind the arm's right. (The XML cameras ``corner*``
#: come out upside down with MuJoCo 3's renderer.)
METAWORLD_VIEW = FreeView(distance=1.6, azimuth=150.0, elevation=-35.0, lookat=(0.0, 0.6, 0.1))
#: DMC: camera 0 (most domains' tracking side view), as DrQ-v2 and TD-MPC2 film them; quadruped: camera 2.
DMC_CAMERAS = {"quadruped": 2}
#: ROBEL D'Kitty: following the robot from the front right (the scene's own cameras film it from far above).
ROBEL_VIEW = FreeView(distance=1.5, azimuth=135.0, elevation=-30.0, track_body="A:dkitty")


def _metaworld(env: gym.Env, size: int) -> Renderer:
    u = env.unwrapped
    return MujocoFrames(u.model, u.data, size, METAWORLD_VIEW.camera(u.model))


def _dmc(env: gym.Env, size: int) -> Renderer:
    u = env.unwrapped
    physics = u._env.physics
    return MujocoFrames(physics.model.ptr, physics.data.ptr, size, DMC_CAMERAS.get(u.domain, 0))


def _robel(env: gym.Env, size: int) -> Renderer:
    physics = env.unwrapped._env.sim_scene.sim
    model = physics.model.ptr
    return MujocoFrames(model, physics.data.ptr, size, ROBEL_VIEW.camera(model))


def _panda(env: gym.Env, size: int) -> Renderer:
    return BulletFrames(env, size)


#: How each domain is filmed (docs/environments.md lists the cameras).
CAMERAS: dict[str, Callable[[gym.Env, int], Renderer]] = {
    "metaworld": _metaworld,
    "mujoco": _gymnasium_mujoco("track"),  # the model's body-following camera; else the env's free camera
    "dmc": _dmc,
    "adroit": _gymnasium_mujoco(None),     # the env's own free camera (gymnasium-robotics default_camera_config)
    "shadowhand": _gymnasium_mujoco(None),
    "panda": _panda,
    "robel": _robel,
}


def open_renderer(domain: str, env: gym.Env, size: int) -> Renderer:
    """A renderer of ``env`` (as ``make_env`` built it for ``domain``) at ``size`` x ``size`` pixels.

    Raises ``RenderUnavailable`` when it cannot render here (no OpenGL, a missing camera).
    """
    base = domain.removesuffix("_sparse")
    if base not in CAMERAS:
        raise RenderUnavailable(f"no camera is defined for domain {domain!r}")
    return CAMERAS[base](env, size)
