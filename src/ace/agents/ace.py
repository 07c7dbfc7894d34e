"""ACE: SAC with causality-aware entropy and dormancy-guided soft resets.

Follows the official code's update (see docs/deviations.md for where and why we differ):
critic every update; actor, temperature and target soft update every ``update_interval`` updates;
a soft reset of policy, critic and target critic every ``reset.interval`` updates.
With ``causal.enabled=false`` the weights stay at one and every loss is exactly SAC's.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
from omegaconf import DictConfig

from ace.agents.common import adam, compile_networks, gradient_step, soft_update_, to_device, twin_mse
from ace.agents.networks import GaussianPolicy, TwinQ
from ace.dormancy import (
    causal_perturb_factor,
    clear_optimizer_state_,
    gradient_dormancy,
    paper_perturb_factor,
    perturb_factor,
    soft_reset_,
)
from ace.plain_config import plain
from ace.precision import configure_matmul, matmul_precision

RESET_MODES = ("dormancy", "causal")
RESET_RULES = ("code", "paper")


class ACEAgent:
    """Owns the networks, optimizers, temperature and causal weights; knows nothing of envs."""

    def __init__(self, obs_dim: int, action_dim: int, action_low: np.ndarray, action_high: np.ndarray,
                 cfg: DictConfig, device: torch.device):
        if cfg.reset.mode not in RESET_MODES:
            raise ValueError(f"agent.reset.mode={cfg.reset.mode!r} is not one of {RESET_MODES}")
        if cfg.reset.rule not in RESET_RULES:
            raise ValueError(f"agent.reset.rule={cfg.reset.rule!r} is not one of {RESET_RULES}")
        self.cfg = cfg = plain(cfg)
        self.device = device
        self.action_dim = action_dim
        low = torch.as_tensor(action_low, dtype=torch.float32)
        high = torch.as_tensor(action_high, dtype=torch.float32)
        configure_matmul(cfg.precision, device)
        mp = matmul_precision
        self.policy = GaussianPolicy(obs_dim, action_dim, cfg.width, cfg.depth, low, high,
                                     mp(cfg.precision)).to(device)
        self.critic = TwinQ(obs_dim, action_dim, cfg.width, cfg.depth, mp(cfg.precision)).to(device)
        self.critic_target = TwinQ(obs_dim, action_dim, cfg.width, cfg.depth, mp(cfg.precision)).to(device)
        self.critic_target.load_state_dict(self.critic.state_dict())
        self.critic_target.requires_grad_(False)
        compile_networks(cfg.compile, self.policy, self.critic, self.critic_target)
        self.policy_optim = adam(self.policy.parameters(), cfg.lr, cfg.precision)
        self.critic_optim = adam(self.critic.parameters(), cfg.lr, cfg.precision)

        temp = cfg.temperature
        self.target_entropy = -float(action_dim) if temp.target_entropy == "auto" else float(temp.target_entropy)
        log_alpha0 = math.log(temp.init) if temp.log_alpha_init is None else float(temp.log_alpha_init)
        self.log_alpha = torch.tensor([log_alpha0], device=device, requires_grad=True)
        self.alpha_optim = adam([self.log_alpha], temp.lr, cfg.precision)
        # The official code uses the configured alpha until the first temperature update.
        self.alpha = torch.tensor(float(temp.init), device=device)

        self._policy_params = list(self.policy.parameters())
        self.causal_weights = torch.ones(action_dim, device=device)
        self.updates = 0
        self.last_reset: dict[str, float] | None = None

    # ----------------------------------------------------------------- acting
    @torch.no_grad()
    def act(self, obs: np.ndarray, deterministic: bool = False) -> np.ndarray:
        o = torch.as_tensor(obs, dtype=torch.float32, device=self.device).unsqueeze(0)
        action = self.policy.deterministic(o) if deterministic else self.policy.action(o)
        return action[0].cpu().numpy()

    def set_causal_weights(self, weights: np.ndarray) -> None:
        w = torch.as_tensor(np.asarray(weights), dtype=torch.float32, device=self.device)
        if w.shape != (self.action_dim,):
            raise ValueError(f"causal weights need shape ({self.action_dim},), got {tuple(w.shape)}")
        self.causal_weights = w

    # ----------------------------------------------------------------- losses
    def causal_log_prob(self, per_dim_logp: torch.Tensor) -> torch.Tensor:
        """``log pi_c(a|s) = sum_i w_i log pi_i(a_i|s)``; with w = 1 it is SAC's log-prob."""
        return (per_dim_logp * self.causal_weights).sum(dim=-1, keepdim=True)

    def critic_loss(self, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        with torch.no_grad():
            next_action, next_logp = self.policy.sample(batch["next_obs"])
            q_t = self.critic_target(batch["next_obs"], next_action).min(dim=0).values
            soft_v = q_t - self.alpha * self.causal_log_prob(next_logp)
            target = batch["reward"] + batch["mask"] * self.cfg.gamma * soft_v
        q = self.critic(batch["obs"], batch["action"])
        loss = twin_mse(q, target)
        return loss, {"critic_loss": loss.detach(), "q": q[0].detach().mean()}

    def actor_loss(self, obs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Actor loss plus the weighted and unweighted log-probs of the sampled actions."""
        action, logp = self.policy.sample(obs)
        q = self.critic(obs, action).min(dim=0).values
        causal_logp = self.causal_log_prob(logp)
        loss = (self.alpha * causal_logp - q).mean()
        return loss, causal_logp, logp.sum(dim=-1, keepdim=True)

    def alpha_loss(self, causal_logp: torch.Tensor) -> torch.Tensor:
        return -(self.log_alpha * (causal_logp + self.target_entropy).detach()).mean()

    # ----------------------------------------------------------------- update
    def update(self, batch: dict[str, np.ndarray | torch.Tensor]) -> dict[str, torch.Tensor]:
        """One gradient update on a replay batch.

        Diagnostics are returned as 0-d tensors on the training device, so an update never waits
        for the GPU; the runner averages and reads them once per log row.
        """
        b = to_device(batch, self.device)
        # 0-based index of this update, as the official loop counts: the delayed actor step
        # runs on updates 0, 2, 4, ... and a reset's dormancy comes from that same update.
        n = self.updates
        self.updates += 1
        loss, metrics = self.critic_loss(b)
        gradient_step(self.critic_optim, loss)

        if n % self.cfg.update_interval == 0:
            actor_loss, causal_logp, logp = self.actor_loss(b["obs"])
            gradient_step(self.policy_optim, actor_loss, self._policy_params)
            if self.cfg.temperature.learn:
                a_loss = self.alpha_loss(causal_logp)
                gradient_step(self.alpha_optim, a_loss)
                self.alpha = self.log_alpha.detach().exp()[0]
                metrics["alpha_loss"] = a_loss.detach()
            soft_update_(self.critic_target, self.critic, self.cfg.tau)
            metrics.update(actor_loss=actor_loss.detach(), entropy=-logp.detach().mean(),
                           causal_entropy=-causal_logp.detach().mean())
        metrics["alpha"] = self.alpha.detach().reshape(())

        r = self.cfg.reset
        if r.enabled and n % r.interval == 0 and n > r.min_updates:
            self.last_reset = self.reset(n)
        return metrics

    # ----------------------------------------------------------------- reset
    def dormancy(self) -> float:
        """tau-gradient-dormancy of the policy, from the gradients of the last actor update."""
        return gradient_dormancy(self.policy, self.cfg.reset.tau)[0]

    def reset(self, update: int | None = None) -> dict[str, float]:
        """Soft-reset policy, critic (and target critic) toward fresh networks; clear optimizer moments."""
        r = self.cfg.reset
        ratio = self.dormancy()
        if r.mode == "causal":
            factor = causal_perturb_factor(self.causal_weights, r.factor_min, r.factor_max)
        elif r.rule == "paper":
            factor = paper_perturb_factor(ratio, r.eta_max)
        else:
            factor = perturb_factor(ratio, r.factor_min, r.factor_max)
        update = self.updates if update is None else update
        event = {"update": float(update), "dormancy": ratio, "factor": factor, "applied": 0.0}
        if factor >= 1.0:  # the paper's rule: nothing dormant, nothing reset
            return event
        nets = [self.policy, self.critic] + ([self.critic_target] if r.include_target else [])
        for net in nets:  # each network is pulled toward its own fresh draw
            soft_reset_(net, factor)
        clear_optimizer_state_(self.policy_optim)
        clear_optimizer_state_(self.critic_optim)
        event["applied"] = 1.0
        return event

    # ----------------------------------------------------------------- state
    def state_dict(self) -> dict[str, Any]:
        return {
            "policy": self.policy.state_dict(),
            "critic": self.critic.state_dict(),
            "critic_target": self.critic_target.state_dict(),
            "policy_optim": self.policy_optim.state_dict(),
            "critic_optim": self.critic_optim.state_dict(),
            "alpha_optim": self.alpha_optim.state_dict(),
            "log_alpha": self.log_alpha.detach().clone(),
            "alpha": self.alpha.clone(),
            "causal_weights": self.causal_weights.clone(),
            "updates": self.updates,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.policy.load_state_dict(state["policy"])
        self.critic.load_state_dict(state["critic"])
        self.critic_target.load_state_dict(state["critic_target"])
        self.policy_optim.load_state_dict(state["policy_optim"])
        self.critic_optim.load_state_dict(state["critic_optim"])
        self.alpha_optim.load_state_dict(state["alpha_optim"])
        with torch.no_grad():
            self.log_alpha.copy_(state["log_alpha"].to(self.device))
        self.alpha = state["alpha"].to(self.device)
        self.causal_weights = state["causal_weights"].to(self.device)
        self.updates = int(state["updates"])
