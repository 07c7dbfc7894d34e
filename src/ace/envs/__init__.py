"""The one env factory: ``make_env(env_cfg, seed)`` for every domain."""

from ace.envs.factory import (
    DOMAINS,
    UnknownTaskError,
    available_tasks,
    env_rng_state,
    make_env,
    set_env_rng_state,
)

__all__ = ["DOMAINS", "UnknownTaskError", "available_tasks", "env_rng_state", "make_env", "set_env_rng_state"]
