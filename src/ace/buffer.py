"""Preallocated ring buffers: the replay buffer and ACE's causal window share one implementation."""

from __future__ import annotations

import numpy as np
import torch

#: ``train.replay_device``: auto (the training GPU if any, else host memory) | cpu | train (the training device).
REPLAY_DEVICES = ("auto", "cpu", "train")


class RingBuffer:
    """Fixed-capacity FIFO of named float32 fields, stored as preallocated arrays.

    The replay buffer samples uniformly from it; the causal window reads it back in chronological
    order. Writing wraps around, overwriting the oldest row.

    With ``device`` set (the GPU a run trains on), the rows live there as torch tensors and batches
    are drawn there by torch's generator of that device: an update then moves no data between host
    and device. Without it, rows are numpy arrays and batches are drawn by the numpy ``rng`` passed
    to :meth:`sample`. Checkpoints hold numpy arrays either way.
    """

    def __init__(self, capacity: int, shapes: dict[str, tuple[int, ...]], device: torch.device | None = None):
        if capacity <= 0:
            raise ValueError(f"buffer capacity must be positive, got {capacity}")
        self.capacity = int(capacity)
        self.device = device
        if device is None:
            self.data = {k: np.zeros((self.capacity, *s), dtype=np.float32) for k, s in shapes.items()}
        else:
            self.data = {k: torch.zeros((self.capacity, *s), dtype=torch.float32, device=device)
                         for k, s in shapes.items()}
        self.pos = 0  # next row to write
        self.size = 0

    def __len__(self) -> int:
        return self.size

    @property
    def full(self) -> bool:
        return self.size == self.capacity

    def add(self, **row: np.ndarray | float) -> None:
        if row.keys() != self.data.keys():
            raise KeyError(f"expected fields {sorted(self.data)}, got {sorted(row)}")
        if self.device is None:
            for k, v in row.items():
                self.data[k][self.pos] = v
        else:
            for k, v in row.items():
                self.data[k][self.pos] = torch.as_tensor(np.asarray(v, dtype=np.float32))
        self.pos = (self.pos + 1) % self.capacity
        self.size = min(self.size + 1, self.capacity)

    def sample(self, batch_size: int, rng: np.random.Generator) -> dict[str, np.ndarray | torch.Tensor]:
        """Uniform sample with replacement from the stored rows (on the buffer's device)."""
        if self.size == 0:
            raise RuntimeError("cannot sample from an empty buffer")
        if self.device is not None:
            idx = torch.randint(0, self.size, (batch_size,), device=self.device)
        else:
            idx = rng.integers(0, self.size, size=batch_size)
        return {k: v[idx] for k, v in self.data.items()}

    def chronological(self) -> dict[str, np.ndarray]:
        """All stored rows, oldest first (a copy)."""
        if self.size < self.capacity:
            return self._rows()
        order = np.r_[self.pos : self.capacity, 0 : self.pos]
        data = self.data if self.device is None else self._rows()
        return {k: v[order] for k, v in data.items()}

    def _rows(self) -> dict[str, np.ndarray]:
        """The stored rows in storage order, as numpy copies (one copy from either storage)."""
        if self.device is None:
            return {k: v[: self.size].copy() for k, v in self.data.items()}
        return {k: v[: self.size].to("cpu", copy=True).numpy() for k, v in self.data.items()}  # a copy on CPU too

    def state_dict(self) -> dict:
        return {
            "capacity": self.capacity,
            "pos": self.pos,
            "size": self.size,
            "data": self._rows(),
        }

    def load_state_dict(self, state: dict) -> None:
        if state["capacity"] != self.capacity:
            raise ValueError(f"checkpoint buffer capacity {state['capacity']} != configured {self.capacity}")
        self.pos, self.size = int(state["pos"]), int(state["size"])
        for k, v in state["data"].items():
            self.data[k][: self.size] = v if self.device is None else torch.as_tensor(v, device=self.device)


def replay_buffer(capacity: int, obs_dim: int, action_dim: int, device: torch.device | None = None) -> RingBuffer:
    """Transitions ``(s, a, r, s', mask)``; mask is 0 only on true termination, never on a time limit."""
    return RingBuffer(
        capacity,
        {"obs": (obs_dim,), "action": (action_dim,), "reward": (1,), "next_obs": (obs_dim,), "mask": (1,)},
        device,
    )


def causal_window(capacity: int, obs_dim: int, action_dim: int) -> RingBuffer:
    """The N_c most recent ``(s, a, r)`` that DirectLiNGAM is fitted on."""
    return RingBuffer(capacity, {"obs": (obs_dim,), "action": (action_dim,), "reward": (1,)})
