"""A run's folder and the rules for writing it: the one place that knows its bookkeeping files.

    run.lock      held by the one process that trains the run (ace.file_lock), for its whole life
    config.yaml   the run's resolved config: a relaunch with a different config is refused
    job.json      who runs it (host, pid, SLURM job): --status looks the job up in the queue
    checkpoints/  last.pt and previous.pt (ace.checkpoint)
    final.json    written when the run is complete; a complete run is not run again
    failed.json   why the last launch stopped early (divergence, a crash, a stop signal)

The CSV logs (ace.logger) and run_info.json (ace.record) are the run's outputs, written by their
own modules.
"""

from __future__ import annotations

import functools
import itertools
import json
import logging
import os
import socket
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from ace.errors import BadInputError, RunError
from ace.file_lock import FileLock, LockHeld, read_holder
from ace.files import atomic_write_text

log = logging.getLogger("ace")

LOCK, CONFIG, JOB, DONE, FAILED, CHECKPOINTS = (
    "run.lock", "config.yaml", "job.json", "final.json", "failed.json", "checkpoints")
#: Settings a resumed run may change: they decide where and how fast things are computed (or which
#: evaluations are filmed), not what is learned.
SPEED_ONLY_KEYS = ("agent.compile", "train.replay_device", "agent.causal.device", "agent.causal.backend",
                   "eval.video")
#: Keys that may change between launches of one run (logging, placement).
RELAUNCH_FREE_KEYS = ("wandb", "log", "device", "threads")
STATES = ("done", "running", "failed", "missing")


class RunFolderError(BadInputError):
    """The folder cannot be written, or holds a different run."""


class RunFolderBusy(RunError):
    """Another live process owns the folder."""

    exit_code = 3


def slurm_job_id() -> str | None:
    """The id ``squeue`` shows for this job (``<array job>_<task>`` for array tasks), if under SLURM."""
    array, task = os.environ.get("SLURM_ARRAY_JOB_ID"), os.environ.get("SLURM_ARRAY_TASK_ID")
    if array and task:
        return f"{array}_{task}"
    return os.environ.get("SLURM_JOB_ID")


def check_writable(path: Path) -> None:
    """Raise ``RunFolderError`` unless ``path`` can be created (if missing) and written.

    A file is written and removed rather than asking ``os.access``, which is wrong for root on
    read-only mounts of some kinds and on NFS with root squashing. Nothing is created here: a
    missing folder is probed through its nearest existing parent.
    """
    path = Path(path).absolute()
    probe_in = next(p for p in (path, *path.parents) if p.exists())
    try:
        if not probe_in.is_dir():
            raise NotADirectoryError(20, "Not a directory", str(probe_in))
        with tempfile.TemporaryFile(dir=probe_in, prefix=".ace-write-probe-"):
            pass
    except OSError as e:
        where = "" if probe_in == path else f" ({probe_in} would hold it)"
        raise RunFolderError(f"run folder {path} cannot be written{where}: {e.strerror}; choose another place "
                             "with hydra.run.dir=... (hydra.sweep.dir=... with -m)") from None


class RunFolder:
    """One run's folder. ``with folder.lock():`` makes this process its only writer."""

    def __init__(self, path: Path | str):
        self.path = Path(path)
        self._lock: FileLock | None = None

    @property
    def checkpoints(self) -> Path:
        return self.path / CHECKPOINTS

    def _json(self, name: str) -> dict[str, Any] | None:
        try:
            return json.loads((self.path / name).read_text())
        except (OSError, ValueError):
            return None

    # ---------------------------------------------------------------- the lock
    @contextmanager
    def lock(self) -> Iterator[None]:
        """Hold the folder's lock for the block; a live holder makes this raise ``RunFolderBusy``.

        A lock left by a dead process is taken over with a warning. If the holder is this SLURM
        job's previous run (a requeue that overlaps its predecessor), it is waited for until it
        exits or its heartbeat goes stale, rather than failing the requeued job.
        """
        check_writable(self.path)
        self.path.mkdir(parents=True, exist_ok=True)
        job = slurm_job_id()
        lock = FileLock(self.path / LOCK, slurm_job_id=job)
        try:
            try:
                taken = lock.acquire()
            except LockHeld as e:
                if job is None or e.holder.slurm_job_id != job:
                    raise
                wait = lock.stale_after_s + 2 * lock.heartbeat_s
                log.warning("run folder %s is still held by this job's previous run (%s); waiting up to %.0f s "
                            "for it to exit", self.path, e.holder.describe(), wait)
                taken = lock.acquire(wait_s=wait)
        except LockHeld as e:
            raise RunFolderBusy(f"run folder {self.path} is in use by {e.holder.describe()}; this launch is "
                                "refused so that the run has one writer (stop that process first to restart it)"
                                ) from None
        except OSError as e:
            raise RunFolderError(f"run folder {self.path} cannot be written: {e.strerror}") from None
        if taken is not None:
            holder, reason = taken
            log.warning("run folder %s: took over the lock left by %s (%s)", self.path, holder.describe(), reason)
        self._lock = lock
        try:
            self.write_job_marker()
            self.clear_failure()  # this launch retries the run
            yield
        finally:
            self._lock = None
            lock.release()

    def assert_owned(self) -> None:
        """Raise ``RunFolderBusy`` if another process took the lock over (this one looked dead)."""
        if self._lock is not None and self._lock.lost:
            raise RunFolderBusy(f"run folder {self.path}: this process lost its lock ({self._lock.lost}); "
                                "it stops without writing more")

    # ---------------------------------------------------------------- contents
    def check_config(self, cfg: DictConfig) -> None:
        """Refuse a folder that holds a run of a different config; then record this one's."""
        path = self.path / CONFIG
        if path.exists() and (self.checkpoints / "last.pt").exists():
            saved = OmegaConf.to_container(OmegaConf.load(path), resolve=True)
            now = OmegaConf.to_container(cfg, resolve=True)
            for tree, dotted in itertools.product((saved, now), SPEED_ONLY_KEYS):  # how fast, not what
                *parents, leaf = dotted.split(".")
                functools.reduce(lambda node, key: node.get(key, {}), parents, tree).pop(leaf, None)
            diff = sorted(k for k in set(saved) | set(now)
                          if k not in RELAUNCH_FREE_KEYS and saved.get(k) != now.get(k))
            if diff:
                raise RunFolderError(
                    f"{self.path} already holds a run with a different config (differs in: {', '.join(diff)}). "
                    "Set experiment=<name> (or hydra.run.dir) to start a separate run.")
        atomic_write_text(path, OmegaConf.to_yaml(cfg, resolve=True))

    def write_job_marker(self) -> None:
        marker = {"slurm_job_id": slurm_job_id(), "host": socket.gethostname(), "pid": os.getpid(),
                  "started": time.time()}
        atomic_write_text(self.path / JOB, json.dumps(marker) + "\n")

    def finished(self, total_steps: int) -> dict[str, Any] | None:
        """The summary of a complete run of ``total_steps``, or None."""
        summary = self._json(DONE)
        if summary is not None and summary.get("step") == total_steps and (self.checkpoints / "last.pt").exists():
            return summary
        return None

    def write_done(self, summary: dict[str, Any]) -> None:
        atomic_write_text(self.path / DONE, json.dumps(summary, indent=2) + "\n")

    def write_failure(self, reason: str, step: int | None = None) -> None:
        """Say why this launch stops early, for --status. Never raises: it runs while failing."""
        record = {"reason": reason, "step": step, "time": time.time(), "host": socket.gethostname(),
                  "pid": os.getpid(), "slurm_job_id": slurm_job_id()}
        try:
            atomic_write_text(self.path / FAILED, json.dumps(record) + "\n")
        except OSError as e:
            log.warning("could not record the failure in %s: %s", self.path / FAILED, e)

    def clear_failure(self) -> None:
        (self.path / FAILED).unlink(missing_ok=True)

    # ---------------------------------------------------------------- status
    def state(self, budget: int, queued: set[str] | None) -> tuple[str, str]:
        """(done | running | failed | missing, detail) from the folder, its lock and the SLURM queue."""
        if self.finished(budget) is not None:
            return "done", ""
        holder = read_holder(self.path / LOCK)
        stale = holder.stale_reason() if holder is not None else None
        if holder is not None and stale is None:
            return "running", holder.describe()
        if not (self.path / CONFIG).exists():
            return "missing", ""
        job = self._json(JOB) or {}
        if job.get("slurm_job_id") and queued is not None and job["slurm_job_id"] in queued:
            return "running", f"SLURM job {job['slurm_job_id']} in the queue"
        failure = self._json(FAILED)
        if failure is not None:
            return "failed", str(failure.get("reason", ""))
        if holder is not None:
            return "failed", f"{holder.describe()} died ({stale})"
        return "failed", "stopped before the end"
