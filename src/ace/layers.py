"""Layers the networks share that torch does not provide."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from ace.precision import MatmulPrecision


class EnsembleLinear(nn.Module):
    """``n`` independent linear layers applied as one batched matmul (``baddbmm``).

    Weights are stored ``(n, in, out)``. Each member is initialised like its own ``nn.Linear`` by
    ``init`` on the ``(out, in)`` matrix an ``nn.Linear`` would hold (default Xavier-uniform, the
    official networks' init) with zero biases, so an ensemble of two is two ordinary MLP layers.
    """

    def __init__(self, n: int, in_features: int, out_features: int):
        super().__init__()
        self.n, self.in_features, self.out_features = n, in_features, out_features
        self.weight = nn.Parameter(torch.empty(n, in_features, out_features))
        self.bias = nn.Parameter(torch.zeros(n, 1, out_features))
        self.reset_parameters()

    @torch.no_grad()
    def reset_parameters(self, init: Callable[[torch.Tensor], torch.Tensor] = nn.init.xavier_uniform_) -> None:
        for w in self.weight:
            w.copy_(init(torch.empty(self.out_features, self.in_features, device=w.device, dtype=w.dtype)).T)
        self.bias.zero_()

    def forward(self, x: torch.Tensor, precision: MatmulPrecision | None = None) -> torch.Tensor:
        """``x``: ``(n, batch, in)``, or ``(batch, in)`` shared by all members -> ``(n, batch, out)``.

        With ``precision``, the product runs on its copies of the weights (``x`` already cast).
        """
        if x.dim() == 2:
            x = x.unsqueeze(0).expand(self.n, -1, -1)
        if precision is None:
            return torch.baddbmm(self.bias, x, self.weight)
        return torch.baddbmm(precision.weight(self.bias), x, precision.weight(self.weight))

    def extra_repr(self) -> str:
        return f"n={self.n}, in_features={self.in_features}, out_features={self.out_features}"
