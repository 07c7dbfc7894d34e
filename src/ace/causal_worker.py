"""Causal weights computed off the training thread, applied at a fixed step so runs stay reproducible.

A fit of the window taken at step ``t`` runs in a background thread while training goes on; its
weights are applied at step ``t + delay``, waiting there only if the fit is not done yet. Because
the step of application never depends on how long the fit took, a run (and a resumed run) gives
the same numbers whatever the machine's speed. ``delay=0`` is the official, synchronous schedule:
fit and apply at ``t``, training waits.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass
class CausalResult:
    window_step: int   # the step whose window was fitted
    apply_step: int    # the step the weights take effect
    weights: np.ndarray
    compute_s: float   # seconds the fit took
    wait_s: float      # seconds training waited for it


class CausalWorker:
    def __init__(self, fit: Callable[[dict[str, np.ndarray]], np.ndarray], delay: int):
        if delay < 0:
            raise ValueError(f"agent.causal.delay must be >= 0, got {delay}")
        self.fit, self.delay = fit, int(delay)
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ace-causal") if delay > 0 else None
        self._pending: tuple[int, Future] | None = None  # (window step, future of (weights, seconds))
        self._done: CausalResult | None = None           # finished but not yet applied (after a resume)

    def _timed_fit(self, data: dict[str, np.ndarray]) -> tuple[np.ndarray, float]:
        t0 = time.perf_counter()
        weights = self.fit(data)
        return weights, time.perf_counter() - t0

    @property
    def busy(self) -> bool:
        return self._pending is not None or self._done is not None

    def submit(self, step: int, data: dict[str, np.ndarray]) -> CausalResult | None:
        """Start a fit of the window at ``step``; with ``delay=0`` it is done and returned at once."""
        if self.busy:
            raise RuntimeError("a causal fit is still pending; the fit interval must exceed agent.causal.delay")
        if self._pool is None:
            weights, seconds = self._timed_fit(data)
            return CausalResult(step, step, weights, seconds, seconds)
        self._pending = (step, self._pool.submit(self._timed_fit, data))
        return None

    def _wait(self) -> CausalResult:
        step, future = self._pending
        t0 = time.perf_counter()
        weights, seconds = future.result()
        self._pending = None
        return CausalResult(step, step + self.delay, weights, seconds, time.perf_counter() - t0)

    def due(self, step: int) -> CausalResult | None:
        """The result to apply at ``step``, if one is due (waits for the fit if it is still running)."""
        if self._pending is not None and step >= self._pending[0] + self.delay:
            self._done = self._wait()
        if self._done is not None and step >= self._done.apply_step:
            result, self._done = self._done, None
            return result
        return None

    def state_dict(self) -> dict[str, Any] | None:
        """A pending fit is finished first, so a resumed run applies the same weights at the same step."""
        if self._pending is not None:
            self._done = self._wait()
        if self._done is None:
            return None
        d = self._done
        return {"window_step": d.window_step, "apply_step": d.apply_step, "weights": np.asarray(d.weights),
                "compute_s": d.compute_s, "wait_s": d.wait_s}

    def load_state_dict(self, state: dict[str, Any] | None) -> None:
        self._pending = None
        self._done = CausalResult(**state) if state else None

    def close(self) -> None:
        """Stop the worker without waiting for a running fit (its result is not needed any more)."""
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
