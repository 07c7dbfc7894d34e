"""Evaluation videos: film one episode, write it as mp4, and decide which evaluations of a run are filmed.

A run films the first episode of every ``eval.video.every``-th evaluation and of the final one as
``videos/step=<n>.mp4`` in its folder (then sends it to wandb when wandb is on). Which evaluations are
filmed depends only on the step, so a resumed run films the same ones: a video an interrupted run
wrote past its checkpoint is written again, to the same name, with the same frames. Video never
breaks a run: when an env cannot be rendered or encoded here, one warning line, and the run goes on
without video. mp4 files are encoded with the ffmpeg binary that the imageio-ffmpeg package ships.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np

from ace.envs.render import Renderer, RenderUnavailable, open_renderer
from ace.files import atomic_write

log = logging.getLogger("ace")

VIDEO_DIR = "videos"
#: Frame sizes are multiples of this: H.264 codes 16x16 blocks and imageio-ffmpeg would otherwise resize.
BLOCK = 16
_STEP_FILE = re.compile(r"^step=(\d+)\.mp4$")


def video_path(run_dir: Path, step: int) -> Path:
    return Path(run_dir) / VIDEO_DIR / f"step={step}.mp4"


def run_videos(run_dir: Path) -> dict[int, Path]:
    """A run's evaluation videos by step."""
    folder = Path(run_dir) / VIDEO_DIR
    found = {}
    if folder.is_dir():
        for path in folder.iterdir():
            m = _STEP_FILE.match(path.name)
            if m:
                found[int(m[1])] = path
    return dict(sorted(found.items()))


def write_mp4(path: Path, frames: Sequence[np.ndarray], fps: float) -> None:
    """H.264 mp4 (yuv420p, plays in browsers and notebooks), written atomically."""
    if not len(frames):
        raise ValueError("no frames to write")
    height, width = frames[0].shape[:2]
    if height % BLOCK or width % BLOCK:
        raise ValueError(f"frame size {width}x{height} is not a multiple of {BLOCK}")

    def encode(tmp: Path) -> None:
        import imageio_ffmpeg

        writer = imageio_ffmpeg.write_frames(
            str(tmp), (width, height), fps=fps, codec="libx264", pix_fmt_out="yuv420p", macro_block_size=BLOCK,
            ffmpeg_log_level="error", output_params=["-f", "mp4", "-movflags", "+faststart"])
        writer.send(None)
        try:
            for frame in frames:
                writer.send(np.ascontiguousarray(frame, dtype=np.uint8))
        finally:
            writer.close()

    atomic_write(path, encode)


def read_mp4(path: Path) -> tuple[np.ndarray, float]:
    """All frames ``(T, H, W, 3)`` uint8 and the frame rate of an mp4 file."""
    import imageio_ffmpeg

    reader = imageio_ffmpeg.read_frames(str(path))
    try:
        meta = next(reader)
        width, height = meta["size"]
        frames = [np.frombuffer(raw, dtype=np.uint8).reshape(height, width, 3) for raw in reader]
    finally:
        reader.close()
    return np.stack(frames) if frames else np.zeros((0, height, width, 3), np.uint8), float(meta["fps"])


class EpisodeFilm:
    """The frames of one episode, rendered when ``capture()`` is called.

    The renderer is opened at the first capture (right after the episode's seeded reset, which some
    cameras aim from). Any failure stops the filming and is kept in ``problem``; ``capture()`` never
    raises, so a broken renderer cannot end an evaluation or a run.
    """

    def __init__(self, domain: str, env: gym.Env, size: int):
        self.domain, self.env, self.size = domain, env, size
        self.frames: list[np.ndarray] = []
        self.problem: str | None = None
        self.render_s = 0.0
        self._renderer: Renderer | None = None

    def capture(self) -> None:
        if self.problem is not None:
            return
        t0 = time.perf_counter()
        try:
            if self._renderer is None:
                self._renderer = open_renderer(self.domain, self.env, self.size)
            self.frames.append(self._renderer.render())
        except RenderUnavailable as e:
            self._stop(str(e))
        except Exception as e:  # noqa: BLE001  (video must never break a run, whatever the GL stack raises)
            self._stop(f"{type(e).__name__}: {e}")
        self.render_s += time.perf_counter() - t0

    def _stop(self, problem: str) -> None:
        self.problem, self.frames = problem, []
        self.close()

    def close(self) -> None:
        """Free the renderer (an EGL context left to the interpreter's exit prints an EGLError)."""
        if self._renderer is not None:
            renderer, self._renderer = self._renderer, None
            renderer.close()


class EvalVideos:
    """Which evaluations of a run are filmed, and where their videos go (the run folder, then wandb)."""

    def __init__(self, video_cfg: Any, run_dir: Path, domain: str, eval_every: int, total_steps: int,
                 logger: Any = None):
        self.enabled = bool(video_cfg.enabled)
        self.every, self.size, self.fps = int(video_cfg.every), int(video_cfg.size), float(video_cfg.fps)
        self.run_dir, self.domain = Path(run_dir), domain
        self.eval_every, self.total_steps = eval_every, total_steps
        self.logger = logger
        if self.enabled:
            for stale in (self.run_dir / VIDEO_DIR).glob(".*.tmp"):  # left by a process killed mid-write
                stale.unlink(missing_ok=True)

    def due(self, step: int) -> bool:
        """Every ``every``-th evaluation (evaluation k happens at step k * eval.every) and the final one."""
        if not self.enabled:
            return False
        return step == self.total_steps or (step % self.eval_every == 0 and (step // self.eval_every) % self.every == 0)

    @contextmanager
    def filming(self, step: int, env: gym.Env) -> Iterator[EpisodeFilm | None]:
        """An ``EpisodeFilm`` for this evaluation if it is filmed, else None; the video is written after it."""
        if not self.due(step):
            yield None
            return
        film = EpisodeFilm(self.domain, env, self.size)
        try:
            yield film
        finally:
            film.close()
        if film.problem is not None:
            self._turn_off(f"cannot render {self.domain} here: {film.problem}")
        elif film.frames:
            self.save(step, film)

    def save(self, step: int, film: EpisodeFilm) -> Path | None:
        path = video_path(self.run_dir, step)
        t0 = time.perf_counter()
        try:
            write_mp4(path, film.frames, self.fps)
        except Exception as e:  # noqa: BLE001  (a missing or broken ffmpeg: no video, the run goes on)
            self._turn_off(f"cannot write {path.name} ({type(e).__name__}: {e})")
            return None
        log.info("video step %d: %d frames of %dx%d in %s (render %.1f s, encode %.1f s)", step, len(film.frames),
                 self.size, self.size, path.relative_to(self.run_dir), film.render_s, time.perf_counter() - t0)
        if self.logger is not None:
            try:
                self.logger.log_video(step, path)
            except Exception as e:  # noqa: BLE001  (the local file is written; wandb trouble ends nothing)
                self.logger = None
                log.warning("videos no longer sent to wandb (%s: %s); they are still written to %s", type(e).__name__,
                            e, path.parent)
        return path

    def _turn_off(self, reason: str) -> None:
        self.enabled = False
        log.warning("video off for this run: %s; training goes on without video", reason)
