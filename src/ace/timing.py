"""Where a run's wall-clock goes: cumulative seconds per phase of the training loop.

The totals go to ``train.csv`` (``env_s``, ``act_s``, ...) and into checkpoints, so a resumed run
keeps counting and ``analysis`` can show what a million-step run spends on causal discovery,
gradient updates and simulation.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from time import perf_counter

PHASES = ("env", "act", "update", "causal", "eval", "checkpoint")


class PhaseTimer:
    """``sync`` (``torch.cuda.synchronize`` on a GPU) runs before a phase ends: without it, kernels
    launched in one phase would be paid for, and counted, in whichever phase next waits for the GPU."""

    def __init__(self, totals: dict[str, float] | None = None, sync: Callable[[], None] | None = None):
        self.sync = sync
        self.totals = dict.fromkeys(PHASES, 0.0)
        if totals:
            unknown = set(totals) - set(PHASES)
            if unknown:
                raise KeyError(f"unknown phase(s) {sorted(unknown)}; phases are {PHASES}")
            self.totals.update(totals)

    @contextmanager
    def __call__(self, phase: str) -> Iterator[None]:
        t0 = perf_counter()
        try:
            yield
        finally:
            if self.sync is not None:
                self.sync()
            self.totals[phase] += perf_counter() - t0

    def row(self) -> dict[str, float]:
        """Columns for train.csv: ``<phase>_s``."""
        return {f"{p}_s": v for p, v in self.totals.items()}
