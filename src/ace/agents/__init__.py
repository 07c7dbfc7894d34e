"""Agents. ``ACEAgent`` is ACE (SAC is ACE with causal weighting and resets off); ``TD3Agent`` is TD3."""

from __future__ import annotations

import numpy as np
import torch
from omegaconf import DictConfig

from ace.agents.ace import ACEAgent
from ace.agents.td3 import TD3Agent

#: ``agent.algo`` -> implementation
AGENTS = {"ace": ACEAgent, "td3": TD3Agent}


def make_agent(cfg: DictConfig, obs_dim: int, action_dim: int, action_low: np.ndarray,
               action_high: np.ndarray, device: torch.device) -> ACEAgent | TD3Agent:
    if cfg.algo not in AGENTS:
        raise ValueError(f"agent.algo={cfg.algo!r} is not one of {sorted(AGENTS)}")
    return AGENTS[cfg.algo](obs_dim, action_dim, action_low, action_high, cfg, device)


__all__ = ["ACEAgent", "AGENTS", "TD3Agent", "make_agent"]
