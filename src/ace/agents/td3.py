"""TD3 (Fujimoto et al., 2018): the deterministic baseline of the ACE paper.

Clipped double Q, target policy smoothing and a delayed actor, on the same networks sizes, replay,
runner and evaluation as ACE, so that the paper's ACE / SAC / TD3 comparison can be rerun.
"""

from __future__ import annotations

import copy
from typing import Any

import numpy as np
import torch
from omegaconf import DictConfig
from torch import nn

from ace.agents.common import adam, compile_networks, gradient_step, soft_update_, to_device, twin_mse
from ace.agents.networks import TwinQ, hidden_layers, xavier_init_
from ace.dormancy import gradient_dormancy
from ace.plain_config import plain
from ace.precision import MatmulPrecision, configure_matmul, matmul_precision


class DeterministicPolicy(nn.Module):
    def __init__(self, obs_dim: int, action_dim: int, width: int, depth: int, precision: MatmulPrecision):
        super().__init__()
        self.trunk = hidden_layers(obs_dim, width, depth, precision)
        self.head = nn.Linear(width, action_dim)
        xavier_init_(self)

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        return torch.tanh(self.head(self.trunk(obs)))


class TD3Agent:
    """Same interface as ``ACEAgent``: ``act``, ``update``, ``dormancy``, ``state_dict``.

    Actions live in [-1, 1] (the env factory rescales every domain to that range).
    """

    def __init__(self, obs_dim: int, action_dim: int, action_low: np.ndarray, action_high: np.ndarray,
                 cfg: DictConfig, device: torch.device):
        if not (np.all(np.asarray(action_low) == -1.0) and np.all(np.asarray(action_high) == 1.0)):
            raise ValueError("TD3Agent expects actions in [-1, 1]; build envs with ace.envs.make_env")
        if cfg.causal.enabled or cfg.reset.enabled:
            raise ValueError("agent=td3 has no entropy term and no resets: set agent.causal.enabled=false "
                             "and agent.reset.enabled=false")
        self.cfg, self.device, self.action_dim = plain(cfg), device, action_dim
        cfg = self.cfg
        configure_matmul(cfg.precision, device)
        mp = matmul_precision(cfg.precision)
        self.policy = DeterministicPolicy(obs_dim, action_dim, cfg.width, cfg.depth, mp).to(device)
        self.policy_target = copy.deepcopy(self.policy).requires_grad_(False)
        self.critic = TwinQ(obs_dim, action_dim, cfg.width, cfg.depth, matmul_precision(cfg.precision)).to(device)
        self.critic_target = copy.deepcopy(self.critic).requires_grad_(False)
        compile_networks(cfg.compile, self.policy, self.policy_target, self.critic, self.critic_target)
        self.policy_optim = adam(self.policy.parameters(), cfg.lr, cfg.precision)
        self.critic_optim = adam(self.critic.parameters(), cfg.lr, cfg.precision)
        self.updates = 0
        self.last_reset: dict[str, float] | None = None

    @torch.no_grad()
    def act(self, obs: np.ndarray, deterministic: bool = False) -> np.ndarray:
        o = torch.as_tensor(obs, dtype=torch.float32, device=self.device).unsqueeze(0)
        action = self.policy(o)[0]
        if not deterministic:
            action = (action + self.cfg.td3.exploration_noise * torch.randn_like(action)).clamp(-1.0, 1.0)
        return action.cpu().numpy()

    def set_causal_weights(self, weights: np.ndarray) -> None:
        raise RuntimeError("TD3 has no entropy term to weight; run it with agent.causal.enabled=false")

    def critic_loss(self, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        c = self.cfg.td3
        with torch.no_grad():
            next_action = self.policy_target(batch["next_obs"])
            noise = (torch.randn_like(next_action) * c.policy_noise).clamp(-c.noise_clip, c.noise_clip)
            next_action = (next_action + noise).clamp(-1.0, 1.0)
            q_t = self.critic_target(batch["next_obs"], next_action).min(dim=0).values
            target = batch["reward"] + batch["mask"] * self.cfg.gamma * q_t
        q = self.critic(batch["obs"], batch["action"])
        loss = twin_mse(q, target)
        return loss, {"critic_loss": loss.detach(), "q": q[0].detach().mean()}

    def update(self, batch: dict[str, np.ndarray | torch.Tensor]) -> dict[str, torch.Tensor]:
        """One update; diagnostics stay 0-d tensors on the device (no host sync per update)."""
        b = to_device(batch, self.device)
        n = self.updates
        self.updates += 1
        loss, metrics = self.critic_loss(b)
        gradient_step(self.critic_optim, loss)
        if n % self.cfg.update_interval == 0:
            actor_loss = -self.critic.q1(b["obs"], self.policy(b["obs"])).mean()
            gradient_step(self.policy_optim, actor_loss, list(self.policy.parameters()))
            soft_update_(self.critic_target, self.critic, self.cfg.tau)
            soft_update_(self.policy_target, self.policy, self.cfg.tau)
            metrics["actor_loss"] = actor_loss.detach()
        return metrics

    def dormancy(self) -> float:
        return gradient_dormancy(self.policy, self.cfg.reset.tau)[0]

    def state_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k).state_dict() for k in self._STATE} | {"updates": self.updates}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        for k in self._STATE:
            getattr(self, k).load_state_dict(state[k])
        self.updates = int(state["updates"])

    _STATE = ("policy", "policy_target", "critic", "critic_target", "policy_optim", "critic_optim")
