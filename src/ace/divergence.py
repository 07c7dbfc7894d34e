"""Find the first non-finite number of a run, so it stops before a checkpoint can save it.

Update diagnostics (losses, Q, temperature) stay on the training device: reading each one would make
every update wait for the GPU. They are kept per update and read with one host transfer per check,
together with every tensor of the agent's state (parameters, optimizer moments, temperature); the
runner checks at every train log row and before every checkpoint. Rewards and observations are
plain host numbers and are checked as the env returns them.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterator, Mapping
from typing import Any

import numpy as np
import torch

from ace.errors import RunError


class Diverged(RunError):
    """A loss, Q value, temperature, parameter, reward or observation is NaN or infinite."""

    exit_code = 4


def env_problem(reward: float, obs: np.ndarray) -> str | None:
    """What is not finite in an env step's reward or observation, or None."""
    if not math.isfinite(float(reward)):
        return f"the env returned reward={float(reward)}"
    if not np.isfinite(obs).all():
        bad = np.flatnonzero(~np.isfinite(obs))
        return f"the env returned an observation with {obs.flat[bad[0]]} at index {int(bad[0])}"
    return None


def _tensors(tree: Any, prefix: str) -> Iterator[tuple[str, torch.Tensor]]:
    if torch.is_tensor(tree):
        if tree.is_floating_point():
            yield prefix, tree
    elif isinstance(tree, Mapping):
        for k, v in tree.items():
            yield from _tensors(v, f"{prefix}.{k}")
    elif isinstance(tree, (list, tuple)):
        for i, v in enumerate(tree):
            yield from _tensors(v, f"{prefix}.{i}")


def _finite(tensors: list[torch.Tensor], scalars: bool = False) -> list[bool]:
    """Whether each tensor is all finite, with one host read per device. ``scalars``: all are
    one-element tensors (update diagnostics), checked in one stacked tensor, not one by one."""
    by_device: defaultdict[torch.device, list[int]] = defaultdict(list)
    for i, t in enumerate(tensors):
        by_device[t.device].append(i)
    out = [True] * len(tensors)
    for idx in by_device.values():
        if scalars:
            flags = torch.stack([tensors[i].detach().reshape(()).float() for i in idx]).isfinite()
        else:
            flags = torch.stack([tensors[i].detach().isfinite().all() for i in idx])
        for i, ok in zip(idx, flags.cpu().tolist(), strict=True):
            out[i] = bool(ok)
    return out


class FiniteGuard:
    """Collects each update's diagnostics; ``problem`` names the first non-finite one (or a state tensor)."""

    def __init__(self) -> None:
        self._pending: list[tuple[int, int, Mapping[str, torch.Tensor | float]]] = []

    def record(self, step: int, update: int, metrics: Mapping[str, torch.Tensor | float]) -> None:
        self._pending.append((step, update, metrics))

    def problem(self, agent_state: Mapping[str, Any], step: int, update: int) -> str | None:
        """The first non-finite update diagnostic since the last call (with its step and update), else
        the first non-finite tensor of ``agent_state`` (found at ``step``, ``update``); None if all is finite."""
        pending, self._pending = self._pending, []
        where, values = [], []
        for step, update, metrics in pending:
            for name, v in metrics.items():
                where.append((step, update, name))
                values.append(v if torch.is_tensor(v) else torch.tensor(float(v)))
        ok = _finite(values, scalars=True) if values else []
        if not all(ok):
            i = ok.index(False)
            step, update, name = where[i]
            return f"{name}={float(values[i])} at step {step} (update {update})"
        named = list(_tensors(agent_state, "agent"))
        ok = _finite([t for _, t in named]) if named else []
        if not all(ok):
            name, t = named[ok.index(False)]
            bad = t.detach().flatten()[~t.detach().flatten().isfinite()][0]
            return f"{name} holds {float(bad)}, found at step {step} (update {update})"
        return None
