"""Actor and critic networks as in the official ACE code (pranz24-style SAC networks)."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from ace.layers import EnsembleLinear
from ace.precision import FP32, MatmulPrecision

LOG_STD_MIN, LOG_STD_MAX = -20.0, 2.0
TANH_EPS = 1e-6
_HALF_LOG_2PI = 0.5 * math.log(2.0 * math.pi)


class Trunk(nn.Sequential):
    """Hidden layers ``[Linear, ELU, Linear, ReLU, ...]`` whose products run at ``precision``.

    Returns float32 (the output layers' input) whatever the hidden layers computed in.
    """

    def __init__(self, *layers: nn.Module, precision: MatmulPrecision = FP32):
        super().__init__(*layers)
        self.precision = precision

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        mp = self.precision
        if not mp.lowers(self[0].out_features):
            return super().forward(x)
        x = mp.cast(x)
        for m in self:
            x = F.linear(x, mp.weight(m.weight), mp.weight(m.bias)) if isinstance(m, nn.Linear) else m(x)
        return x.float()


def hidden_layers(in_dim: int, width: int, depth: int, precision: MatmulPrecision = FP32) -> Trunk:
    """``depth`` linear layers of ``width``: ELU after the first, ReLU after the others (official code)."""
    if depth < 1 or width < 1:
        raise ValueError(f"network needs depth >= 1 and width >= 1, got depth={depth}, width={width}")
    layers: list[nn.Module] = [nn.Linear(in_dim, width), nn.ELU()]
    for _ in range(depth - 1):
        layers += [nn.Linear(width, width), nn.ReLU()]
    return Trunk(*layers, precision=precision)


def xavier_init_(module: nn.Module) -> None:
    for layer in module.modules():
        if isinstance(layer, nn.Linear):
            nn.init.xavier_uniform_(layer.weight, gain=1.0)
            nn.init.zeros_(layer.bias)


class GaussianPolicy(nn.Module):
    """Tanh-squashed diagonal Gaussian policy that returns per-dimension log-probabilities."""

    def __init__(self, obs_dim: int, action_dim: int, width: int, depth: int,
                 action_low: torch.Tensor, action_high: torch.Tensor, precision: MatmulPrecision = FP32):
        super().__init__()
        self.trunk = hidden_layers(obs_dim, width, depth, precision)
        self.mean = nn.Linear(width, action_dim)
        self.log_std = nn.Linear(width, action_dim)
        xavier_init_(self)
        self.register_buffer("action_scale", ((action_high - action_low) / 2.0).float())
        self.register_buffer("action_bias", ((action_high + action_low) / 2.0).float())

    def forward(self, obs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.trunk(obs)
        return self.mean(h), self.log_std(h).clamp(LOG_STD_MIN, LOG_STD_MAX)

    def sample(self, obs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Reparameterised action and its per-dimension log-prob ``log pi_i(a_i|s)`` (tanh-corrected)."""
        mean, log_std = self(obs)
        noise = torch.randn_like(mean)
        u = mean + noise * log_std.exp()
        squashed = torch.tanh(u)
        gaussian_logp = -0.5 * noise.pow(2) - log_std - _HALF_LOG_2PI
        logp = gaussian_logp - torch.log(self.action_scale * (1.0 - squashed.pow(2)) + TANH_EPS)
        return squashed * self.action_scale + self.action_bias, logp

    def action(self, obs: torch.Tensor) -> torch.Tensor:
        """``sample(obs)[0]`` without the log-probability (acting needs none): same noise, same action."""
        mean, log_std = self(obs)
        return torch.tanh(mean + torch.randn_like(mean) * log_std.exp()) * self.action_scale + self.action_bias

    def deterministic(self, obs: torch.Tensor) -> torch.Tensor:
        mean, _ = self(obs)
        return torch.tanh(mean) * self.action_scale + self.action_bias


class TwinQ(nn.Module):
    """Two independent Q heads on ``[s, a]``, evaluated together as one batched ensemble.

    Same architecture and initialisation as two separate MLPs (ELU after the first hidden layer,
    ReLU after the others), but each layer of both heads is a single ``baddbmm``: half the kernel
    launches of the plain pair, which is what a small-batch SAC update is bound by.
    """

    def __init__(self, obs_dim: int, action_dim: int, width: int, depth: int, precision: MatmulPrecision = FP32):
        super().__init__()
        if depth < 1 or width < 1:
            raise ValueError(f"network needs depth >= 1 and width >= 1, got depth={depth}, width={width}")
        dims = [obs_dim + action_dim] + [width] * depth
        self.layers = nn.ModuleList(EnsembleLinear(2, i, o) for i, o in zip(dims[:-1], dims[1:], strict=True))
        self.head = EnsembleLinear(2, width, 1)
        self.precision = precision

    def forward(self, obs: torch.Tensor, action: torch.Tensor) -> torch.Tensor:
        """``(2, batch, 1)``: both Q values (``q1, q2 = critic(s, a)`` unpacks them), in float32."""
        h = torch.cat([obs, action], dim=-1)
        mp = self.precision
        low = mp.lowers(self.head.in_features)
        if low:
            h = mp.cast(h)
        for i, layer in enumerate(self.layers):
            h = layer(h, mp) if low else layer(h)
            h = F.elu(h) if i == 0 else F.relu(h)
        return self.head(h.float())

    def q1(self, obs: torch.Tensor, action: torch.Tensor) -> torch.Tensor:
        """The first head alone (TD3's actor loss); computed with both heads' batched kernels."""
        return self(obs, action)[0]
