"""Small pieces both agents use, so that ACE and TD3 update their networks the same way."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn


def gradient_step(optimizer: torch.optim.Optimizer, loss: torch.Tensor,
                  inputs: list[torch.Tensor] | None = None) -> None:
    """One optimizer step on ``loss``; with ``inputs``, gradients reach only those tensors (an actor
    step through a critic leaves the critic's gradients alone and computes none of them)."""
    optimizer.zero_grad()
    loss.backward(inputs=inputs)
    optimizer.step()
    if optimizer.defaults.get("fused"):
        # The fused kernel writes the parameters without bumping their version counters, which is how
        # ace.precision knows that a bf16 copy is stale.
        torch.autograd.graph.increment_version([p for g in optimizer.param_groups for p in g["params"]])


def adam(params, lr: float, precision: str) -> torch.optim.Adam:
    """Adam as the official code builds it. Under ``bf16``/``tf32`` (numbers differ from fp32 anyway) the
    fused kernel: a few times faster per step, equal to the plain one up to float32 rounding."""
    return torch.optim.Adam(params, lr=lr, fused=precision != "fp32" or None)


@torch.no_grad()
def soft_update_(target: nn.Module, online: nn.Module, tau: float) -> None:
    """Polyak averaging ``target <- (1 - tau) * target + tau * online``, one fused multi-tensor kernel."""
    targets, onlines = list(target.parameters()), list(online.parameters())
    if len(targets) != len(onlines):
        raise ValueError(f"target has {len(targets)} parameters, online network {len(onlines)}")
    torch._foreach_lerp_(targets, onlines, tau)


def twin_mse(q: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """``mse(q1, y) + mse(q2, y)`` for both heads stacked as ``(2, batch, 1)``."""
    return (q - target).pow(2).mean(dim=(1, 2)).sum()


def to_device(batch: dict[str, np.ndarray | torch.Tensor], device: torch.device) -> dict[str, torch.Tensor]:
    """A replay batch as tensors on ``device``; tensors already there pass through without a copy."""
    return {k: torch.as_tensor(v, device=device) for k, v in batch.items()}


#: ``agent.compile``: off, or a ``torch.compile`` mode; ``reduce-overhead`` captures CUDA graphs on a GPU.
COMPILE_MODES = ("off", "default", "reduce-overhead", "max-autotune")


def compile_networks(mode: str, *nets: nn.Module) -> None:
    """Compile each network's ``forward`` in place (state-dict keys unchanged), unless ``mode`` is off.

    Worth it on a GPU, where a small SAC update is bound by kernel launches; on a CPU the first
    updates pay tens of seconds of compilation.
    """
    if mode not in COMPILE_MODES:
        raise ValueError(f"agent.compile={mode!r} is not one of {COMPILE_MODES}")
    if mode == "off":
        return
    for net in nets:
        net.compile(mode=None if mode == "default" else mode, dynamic=False)
