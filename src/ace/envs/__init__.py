"""The one env factory: ``make_env(env_cfg, seed)`` for every domain."""

from ace.envs.factory import DOMAINS, UnknownTaskError, available_tasks, make_env

__all__ = ["DOMAINS", "UnknownTaskError", "available_tasks", "make_env"]
