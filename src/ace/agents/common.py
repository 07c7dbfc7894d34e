"""Small pieces both agents use, so that ACE and TD3 update their networks the same way."""

from __future__ import annotations

import torch
from torch import nn


def gradient_step(optimizer: torch.optim.Optimizer, loss: torch.Tensor) -> None:
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()


@torch.no_grad()
def soft_update_(target: nn.Module, online: nn.Module, tau: float) -> None:
    """Polyak averaging: ``target <- (1 - tau) * target + tau * online``."""
    for p_t, p in zip(target.parameters(), online.parameters(), strict=True):
        p_t.lerp_(p, tau)
