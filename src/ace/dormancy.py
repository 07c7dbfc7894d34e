"""Gradient dormancy and dormancy-guided soft reset (ACE, Sec. 3.3)."""

from __future__ import annotations

import copy
import math
from functools import partial

import torch
from torch import nn

from ace.layers import EnsembleLinear


def gradient_dormancy(module: nn.Module, tau: float) -> tuple[float, dict[str, float]]:
    """Fraction of tau-gradient-dormant neurons over all linear layers of ``module``.

    Neuron i of layer l is dormant when the L2 norm of its weight-gradient row is at most ``tau``
    times the layer's mean row norm. Uses the gradients currently stored in ``.grad`` (those of the
    last backward pass). Returns the network ratio and the per-layer ratios.
    """
    dormant, total, per_layer = 0, 0, {}
    for name, layer in module.named_modules():
        if not isinstance(layer, nn.Linear) or layer.weight.grad is None:
            continue
        norms = layer.weight.grad.detach().norm(dim=1)
        n_dormant = int((norms <= tau * norms.mean()).sum())
        per_layer[name] = n_dormant / norms.numel()
        dormant += n_dormant
        total += norms.numel()
    if total == 0:
        raise RuntimeError("gradient_dormancy: no linear layer of the module has a gradient yet")
    return dormant / total, per_layer


def perturb_factor(dormancy: float, f_min: float, f_max: float) -> float:
    """Official code's share of old weights kept: ``clip(1 - dormancy, f_min, f_max)``."""
    return min(max(f_min, 1.0 - dormancy), f_max)


def paper_perturb_factor(dormancy: float, eta_max: float) -> float:
    """Paper v1 rule: eta = clip(dormancy, 0, eta_max), keep share ``1 - eta`` (1.0 means no reset)."""
    return 1.0 - min(max(dormancy, 0.0), eta_max)


def causal_perturb_factor(weights: torch.Tensor, f_min: float, f_max: float) -> float:
    """Official ``causal_reset`` rule, driven by the spread of the causal weights."""
    spread = float(weights.max() - weights.min())
    return min(max(f_min, 1.0 - (math.exp(-8.0 * spread) - 0.5)), f_max)


def _fresh_copy(module: nn.Module) -> nn.Module:
    """A copy with orthogonal weights (gain 1) and zero biases, as the official reset draws them."""
    fresh = copy.deepcopy(module)
    for layer in fresh.modules():
        if isinstance(layer, nn.Linear):
            nn.init.orthogonal_(layer.weight, gain=1.0)
            if layer.bias is not None:
                nn.init.zeros_(layer.bias)
        elif isinstance(layer, EnsembleLinear):  # each member as its own nn.Linear
            layer.reset_parameters(partial(nn.init.orthogonal_, gain=1.0))
    return fresh


@torch.no_grad()
def soft_reset_(module: nn.Module, factor: float) -> None:
    """In place: ``theta <- factor * theta + (1 - factor) * theta_fresh`` with a freshly drawn network."""
    if not 0.0 <= factor <= 1.0:
        raise ValueError(f"soft-reset factor must lie in [0, 1], got {factor}")
    fresh = _fresh_copy(module)
    for p, q in zip(module.parameters(), fresh.parameters(), strict=True):
        p.mul_(factor).add_(q, alpha=1.0 - factor)


def clear_optimizer_state_(optimizer: torch.optim.Optimizer) -> None:
    """Forget Adam's moments and step counts, as after a reset the old statistics are stale."""
    optimizer.state.clear()
