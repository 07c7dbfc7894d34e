"""Stop at the next episode end on SIGUSR1, SIGUSR2 or SIGTERM, so a preempted job loses no work.

SLURM sends SIGTERM on preemption, ``scontrol requeue`` and ``scancel`` (then SIGKILL after its
KillWait or GraceTime), and ``--signal=USR2@<signal_delay_s>`` before a time limit (submitit asks
for USR2; USR1 is the common choice in hand-written scripts). Submitit's own handler would requeue
and exit at once, losing everything since the last periodic checkpoint. Here the handler only
records the request; the runner finishes the running episode, checkpoints at its end (the same
exact-resume point as a periodic checkpoint) and raises ``StopRequested``. Then, with the run
folder's lock released, ``exit_after_stop`` hands over to submitit's requeue for the USR signals,
or exits with 128 + the signal number (SLURM itself requeues preempted and requeued jobs).
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import FrameType
from typing import Any, NoReturn

log = logging.getLogger("ace")

STOP_SIGNALS = (signal.SIGUSR1, signal.SIGUSR2, signal.SIGTERM)


class StopRequested(Exception):
    """Raised by the runner after the checkpoint that a stop signal asked for."""

    def __init__(self, signum: int, step: int):
        super().__init__(f"stopped by {signal.Signals(signum).name} at step {step} after a checkpoint; "
                         "relaunch to resume")
        self.signum, self.step = signum, step


class StopRequest:
    """The first stop signal received, when, and at which step (``progress`` reports the step).

    ``delay_s`` is the launcher's ``signal_delay_s`` (None without one): how long before a time
    limit the signal comes, which a stop must fit in.
    """

    def __init__(self, delay_s: float | None = None) -> None:
        self.signum: int | None = None
        self.received: float | None = None  # time.monotonic()
        self.step: int | None = None
        self.progress: Callable[[], int] | None = None
        self.previous: dict[int, Any] = {}  # the handlers installed before ours (submitit's)
        self.delay_s = delay_s
        self._reported = self._warned = False

    def __bool__(self) -> bool:
        return self.signum is not None

    @property
    def name(self) -> str:
        return signal.Signals(self.signum).name if self.signum is not None else "no signal"

    def measure(self, episode_s: float, checkpoint_s: float) -> None:
        """After a checkpoint: say once how long a stop would take here (the longest episode so far,
        then a checkpoint), and warn once if that exceeds ``signal_delay_s``."""
        if episode_s <= 0.0:
            return  # no whole episode yet
        need = episode_s + checkpoint_s
        if not self._reported:
            self._reported = True
            delay = f"; signal_delay_s={self.delay_s:g}" if self.delay_s is not None else ""
            log.info("a stop signal needs up to %.0f s here (longest episode %.1f s, checkpoint %.1f s)%s",
                     need, episode_s, checkpoint_s, delay)
        if self.delay_s is not None and need > self.delay_s and not self._warned:
            self._warned = True
            log.warning("a stop now needs %.0f s (longest episode %.1f s, checkpoint %.1f s), more than "
                        "signal_delay_s=%g: at a time limit the work since the last checkpoint would be lost; "
                        "raise hydra.launcher.signal_delay_s", need, episode_s, checkpoint_s, self.delay_s)

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self.signum is not None:
            _log_later("caught %s while stopping on %s; still finishing the episode", signal.Signals(signum).name,
                       self.name)
            return
        self.signum, self.received = signum, time.monotonic()
        self.step = self.progress() if self.progress is not None else None
        at = f" at step {self.step}" if self.step is not None else ""
        _log_later("caught %s%s: finishing the episode, then checkpointing and exiting", self.name, at)


def _log_later(*args: Any) -> None:
    """Log from another thread: a handler that writes to a stream the interrupted code was writing to
    fails with "reentrant call"; the thread waits for the logging lock instead."""
    threading.Thread(target=log.warning, args=args, daemon=True).start()


@contextmanager
def stop_on_signals(delay_s: float | None = None) -> Iterator[StopRequest]:
    """Record SIGUSR1/SIGUSR2/SIGTERM in a ``StopRequest`` for the block (main thread only)."""
    request = StopRequest(delay_s)
    if threading.current_thread() is not threading.main_thread():
        yield request
        return
    for sig in STOP_SIGNALS:
        request.previous[sig] = signal.signal(sig, request._handle)
    try:
        yield request
    finally:
        for sig, handler in request.previous.items():
            signal.signal(sig, handler)


def _submitit_requeue(request: StopRequest) -> Callable[[int, FrameType | None], Any] | None:
    """Submitit's preemption handler (it checkpoints the job, counts timeouts, requeues and exits)."""
    if not os.environ.get("SUBMITIT_EXECUTOR"):
        return None
    name = os.environ.get("SUBMITIT_PREEMPT_SIGNAL", "USR2")  # what submitit registers, as it reads it
    handler = request.previous.get(getattr(signal, f"SIG{name}", None))
    return handler if callable(handler) else None


def exit_after_stop(request: StopRequest) -> NoReturn:
    """Leave the process after the stop checkpoint so that the job is requeued where that is wanted.

    USR1/USR2 mean "time is up": under submitit its handler requeues the job (counting timeouts
    against ``max_num_timeout``) and exits. SIGTERM comes with SLURM's own requeue (preemption,
    ``scontrol requeue``) or with ``scancel``, where the job must end: exit without requeueing.
    """
    requeue = _submitit_requeue(request)
    if requeue is not None and request.signum in (signal.SIGUSR1, signal.SIGUSR2):
        requeue(request.signum, None)  # requeues and raises SystemExit
    sys.exit(128 + int(request.signum))
