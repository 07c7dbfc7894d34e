"""Run one command within a time budget, its output copied to the check's log as it comes.

A command that overruns gets SIGINT first (pytest then writes its report, a training run its CSV
rows, the benchmark its rows so far) and SIGKILL when the budget is spent, so the check always goes
on to its next part and brings its results back.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

#: The log must come back from the GPU machine: files of at most 16 MiB.
MAX_LOG_BYTES = 15 * 2**20


class Log:
    """The one log: everything is echoed to stdout and written to the file, until the file is full."""

    def __init__(self, path: Path, echo: TextIO = sys.stdout, max_bytes: int = MAX_LOG_BYTES):
        self.file = open(path, "w", encoding="utf-8", errors="replace")
        self.echo = echo
        self.room = max_bytes
        self.lock = threading.Lock()

    def write(self, text: str) -> None:
        with self.lock:
            self.echo.write(text)
            self.echo.flush()
            size = len(text.encode("utf-8", errors="replace"))
            if size <= self.room:
                self.file.write(text)
                self.file.flush()
            elif self.room > 0:
                self.file.write("[log full: the rest was printed only]\n")
                self.file.flush()
            self.room -= size

    def close(self) -> None:
        self.file.close()


@dataclass
class Outcome:
    returncode: int
    seconds: float
    stopped: bool  # the budget ran out

    @property
    def ok(self) -> bool:
        return self.returncode == 0 and not self.stopped


def run_within(cmd: list[str], budget_s: float, log: Log, env: dict[str, str] | None = None,
               cwd: Path | None = None) -> Outcome:
    """Run ``cmd`` (in its own process group) for at most ``budget_s`` seconds."""
    grace = min(15.0, budget_s / 5)
    t0 = time.monotonic()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                            env=env, cwd=cwd, start_new_session=True, text=True, errors="replace", bufsize=1)
    reader = threading.Thread(target=lambda: [log.write(line) for line in proc.stdout], daemon=True)
    reader.start()
    stopped = False
    try:
        proc.wait(timeout=budget_s - grace)
    except subprocess.TimeoutExpired:
        stopped = True
        log.write(f"[gpu-check: over its {budget_s:.0f} s budget: interrupting]\n")
        _signal_group(proc, signal.SIGINT)
        try:
            proc.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            log.write("[gpu-check: still running: killed]\n")
    _signal_group(proc, signal.SIGKILL)  # the command and anything it left behind (compile workers)
    proc.wait()
    reader.join(timeout=5)
    return Outcome(proc.returncode, time.monotonic() - t0, stopped)


def _signal_group(proc: subprocess.Popen, sig: signal.Signals) -> None:
    try:
        os.killpg(proc.pid, sig)
    except (ProcessLookupError, PermissionError):
        pass
