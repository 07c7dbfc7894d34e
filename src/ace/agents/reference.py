"""A plain ACE/SAC update, written the way the official code writes it: the yardstick of the fast one.

Two separate Q MLPs, the batch converted from numpy on every update, ``.item()`` on every loss, a
Python loop for the target update. It is not used for training: tests check that
:class:`ace.agents.ACEAgent` computes the same losses, gradients and parameters as this on the same
batch, and ``make bench`` measures how much faster the fast path is.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ace.agents.ace import ACEAgent
from ace.agents.networks import hidden_layers


class PlainTwinQ(nn.Module):
    def __init__(self, obs_dim: int, action_dim: int, width: int, depth: int):
        super().__init__()
        self.q1 = nn.Sequential(hidden_layers(obs_dim + action_dim, width, depth), nn.Linear(width, 1))
        self.q2 = nn.Sequential(hidden_layers(obs_dim + action_dim, width, depth), nn.Linear(width, 1))

    def forward(self, obs: torch.Tensor, action: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = torch.cat([obs, action], 1)
        return self.q1(x), self.q2(x)

    @torch.no_grad()
    def copy_from_ensemble(self, twin: nn.Module) -> None:
        """Load the weights of an :class:`ace.agents.networks.TwinQ` (member k -> head k+1)."""
        ens = [*twin.layers, twin.head]
        for k, head in enumerate((self.q1, self.q2)):
            linears = [m for m in head.modules() if isinstance(m, nn.Linear)]
            for lin, layer in zip(linears, ens, strict=True):
                lin.weight.copy_(layer.weight[k].T)
                lin.bias.copy_(layer.bias[k, 0])


class ReferenceACE:
    """The official update (critic every step; actor, alpha and target every ``update_interval``)."""

    def __init__(self, agent: ACEAgent):
        """Start from ``agent``'s weights, temperature and causal weights, with fresh Adam states."""
        cfg, dev = agent.cfg, agent.device
        self.cfg, self.device = cfg, dev
        obs_dim = agent.policy.trunk[0].in_features
        action_dim = agent.action_dim
        self.policy = type(agent.policy)(obs_dim, action_dim, cfg.width, cfg.depth, -torch.ones(action_dim),
                                         torch.ones(action_dim)).to(dev)
        self.policy.load_state_dict(agent.policy.state_dict())
        self.critic = PlainTwinQ(obs_dim, action_dim, cfg.width, cfg.depth).to(dev)
        self.critic_target = PlainTwinQ(obs_dim, action_dim, cfg.width, cfg.depth).to(dev)
        self.critic.copy_from_ensemble(agent.critic)
        self.critic_target.copy_from_ensemble(agent.critic_target)
        self.policy_optim = torch.optim.Adam(self.policy.parameters(), lr=cfg.lr)
        self.critic_optim = torch.optim.Adam(self.critic.parameters(), lr=cfg.lr)
        self.log_alpha = agent.log_alpha.detach().clone().requires_grad_(True)
        self.alpha_optim = torch.optim.Adam([self.log_alpha], lr=cfg.temperature.lr)
        self.alpha = float(agent.alpha)
        self.target_entropy = agent.target_entropy
        self.weights = agent.causal_weights.clone()
        self.updates = 0

    def update(self, batch: dict[str, np.ndarray]) -> dict[str, float]:
        obs = torch.FloatTensor(np.asarray(batch["obs"])).to(self.device)
        action = torch.FloatTensor(np.asarray(batch["action"])).to(self.device)
        reward = torch.FloatTensor(np.asarray(batch["reward"])).to(self.device)
        next_obs = torch.FloatTensor(np.asarray(batch["next_obs"])).to(self.device)
        mask = torch.FloatTensor(np.asarray(batch["mask"])).to(self.device)
        with torch.no_grad():
            next_action, next_logp = self.policy.sample(next_obs)
            q1_t, q2_t = self.critic_target(next_obs, next_action)
            next_causal_logp = (next_logp * self.weights).sum(1, keepdim=True)
            target = reward + mask * self.cfg.gamma * (torch.min(q1_t, q2_t) - self.alpha * next_causal_logp)
        q1, q2 = self.critic(obs, action)
        q1_loss, q2_loss = F.mse_loss(q1, target), F.mse_loss(q2, target)
        critic_loss = q1_loss + q2_loss
        self.critic_optim.zero_grad()
        critic_loss.backward()
        self.critic_optim.step()
        out = {"critic_loss": critic_loss.item(), "q": q1.mean().item()}

        if self.updates % self.cfg.update_interval == 0:
            for p in self.critic.parameters():
                p.requires_grad_(False)
            pi, logp = self.policy.sample(obs)
            causal_logp = (logp * self.weights).sum(1, keepdim=True)
            q1_pi, q2_pi = self.critic(obs, pi)
            policy_loss = (self.alpha * causal_logp - torch.min(q1_pi, q2_pi)).mean()
            self.policy_optim.zero_grad()
            policy_loss.backward()
            self.policy_optim.step()
            for p in self.critic.parameters():
                p.requires_grad_(True)
            alpha_loss = -(self.log_alpha * (causal_logp + self.target_entropy).detach()).mean()
            self.alpha_optim.zero_grad()
            alpha_loss.backward()
            self.alpha_optim.step()
            self.alpha = self.log_alpha.exp().item()
            for t, s in zip(self.critic_target.parameters(), self.critic.parameters(), strict=True):
                t.data.copy_(t.data * (1.0 - self.cfg.tau) + s.data * self.cfg.tau)
            out.update(actor_loss=policy_loss.item(), alpha_loss=alpha_loss.item(),
                       entropy=-logp.sum(1).mean().item(), causal_entropy=-causal_logp.mean().item())
        out["alpha"] = self.alpha
        self.updates += 1
        return out
