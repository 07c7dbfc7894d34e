"""Agents. ``ACEAgent`` is ACE; SAC is ACE with causal weighting and resets switched off."""

from ace.agents.ace import ACEAgent

AGENTS = {"ace": ACEAgent}

__all__ = ["ACEAgent", "AGENTS"]
