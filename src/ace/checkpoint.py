"""The run's one checkpoint format: a single torch file with the full training state.

``last.pt`` is replaced atomically; the one before it is kept as ``previous.pt`` so that a
checkpoint truncated by a crash or a full disk is detected and the previous one is used instead.
A write that fails (a full disk, a quota) leaves both as they were and raises ``CheckpointWriteError``.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

import torch

from ace.errors import BadInputError
from ace.files import atomic_write

log = logging.getLogger("ace")

FORMAT_VERSION = 1
LAST, PREVIOUS = "last.pt", "previous.pt"


class CheckpointWriteError(BadInputError):
    """The file system refused a checkpoint (full disk, quota); the previous checkpoint is intact."""


def _write(payload: dict[str, Any], tmp: Path) -> None:
    # Through a Python file object: on a full disk torch.save(path) fails with nothing but an opaque
    # "unexpected pos" RuntimeError; with a file object the OSError (ENOSPC, EDQUOT) that says why
    # is raised, or chained to that RuntimeError when torch's zip writer fails again closing the file.
    with open(tmp, "wb") as f:
        torch.save(payload, f)


def _os_error(e: BaseException) -> OSError | None:
    while e is not None and not isinstance(e, OSError):
        e = e.__cause__ or e.__context__
    return e


def save_checkpoint(directory: Path, state: dict[str, Any]) -> Path:
    directory = Path(directory)
    last, previous = directory / LAST, directory / PREVIOUS
    payload = {"format_version": FORMAT_VERSION, **state}
    # Write the new file first; only then retire the old ``last`` to ``previous``.
    tmp_last = directory / ".last.pt.new"
    try:
        directory.mkdir(parents=True, exist_ok=True)
        atomic_write(tmp_last, lambda tmp: _write(payload, tmp))
    except (OSError, RuntimeError) as e:
        if (error := _os_error(e)) is None:
            raise
        kept = f"{last} is intact" if last.exists() else "no earlier checkpoint exists"
        raise CheckpointWriteError(
            f"the checkpoint of step {state.get('step')} could not be written to {directory} ({error.strerror}); "
            f"{kept}: free space (or fix the folder) and relaunch to resume") from None
    if last.exists():
        os.replace(last, previous)
    os.replace(tmp_last, last)
    return last


def load_checkpoint(directory: Path) -> dict[str, Any] | None:
    """The newest readable checkpoint in ``directory``, or None if there is none."""
    directory = Path(directory)
    candidates = [directory / ".last.pt.new", directory / LAST, directory / PREVIOUS]
    existing = [p for p in candidates if p.exists()]
    for path in existing:
        try:
            state = torch.load(path, map_location="cpu", weights_only=False)
        except Exception as e:  # truncated or corrupted file
            log.warning("checkpoint %s is unreadable (%s: %s); trying an older one", path, type(e).__name__, e)
            continue
        if not isinstance(state, dict) or state.get("format_version") != FORMAT_VERSION:
            log.warning("checkpoint %s has an unknown format; trying an older one", path)
            continue
        return state
    if existing:
        raise RuntimeError(f"no readable checkpoint among {[str(p) for p in existing]}")
    return None
