"""Checks on a composed config, so bad input stops the run before any training with one clear message."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from omegaconf import DictConfig, OmegaConf

from ace.agents import AGENTS
from ace.agents.ace import RESET_MODES, RESET_RULES
from ace.agents.common import COMPILE_MODES
from ace.buffer import REPLAY_DEVICES
from ace.causal import BACKENDS as CAUSAL_BACKENDS
from ace.envs.factory import REWARD_TYPES, check_task
from ace.envs.metaworld import GOAL_REGIMES
from ace.errors import BadInputError
from ace.logger import PROGRESS_MODES, WANDB_MODES
from ace.precision import PRECISIONS, precision_problem
from ace.video import BLOCK

POSITIVE_INTS = (
    "train.total_steps", "train.replay_size", "train.updates_per_step", "eval.every", "eval.episodes",
    "eval.video.every", "eval.video.size", "eval.video.fps",
    "checkpoint.every", "log.every", "env.episode_length", "agent.width", "agent.depth",
    "agent.batch_size", "agent.update_interval", "agent.causal.interval", "agent.causal.window",
    "agent.reset.interval",
)
NON_NEGATIVE_INTS = ("seed", "train.start_steps", "train.learning_starts", "agent.reset.min_updates",
                     "agent.causal.delay")
#: (key, low, high): numbers that must lie in [low, high].
BOUNDED_NUMBERS = (
    ("agent.gamma", 0.0, 1.0), ("agent.tau", 0.0, 1.0), ("agent.lr", 0.0, 1.0), ("agent.temperature.lr", 0.0, 1.0),
    ("agent.temperature.init", 0.0, float("inf")), ("agent.reset.factor_min", 0.0, 1.0),
    ("agent.reset.factor_max", 0.0, 1.0), ("agent.reset.eta_max", 0.0, 1.0), ("agent.reset.tau", 0.0, 1.0),
)
BOOLS = ("agent.causal.enabled", "agent.causal.drop_constant_columns", "agent.reset.enabled",
         "agent.reset.include_target", "agent.temperature.learn")


#: The project's config folder (``conf/`` beside ``src/``).
CONF_DIR = Path(__file__).resolve().parents[2] / "conf"


@contextmanager
def composer(conf_dir: Path = CONF_DIR) -> Iterator[Callable[..., DictConfig]]:
    """``compose(overrides, return_hydra_config=False)`` giving the config ``src/run.py`` would get.

    For tools and tests that need configs outside a Hydra app (launchers, dry runs).
    """
    register_resolvers()
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(conf_dir), version_base="1.3"):
        def compose_with(overrides: Iterable[str] = (), return_hydra_config: bool = False) -> DictConfig:
            return compose("config", overrides=list(overrides), return_hydra_config=return_hydra_config)

        yield compose_with


def register_resolvers() -> None:
    """``${csv_keys:${node}}``: a node's keys as a Hydra choice list (the benchmark's env sweep)."""
    if not OmegaConf.has_resolver("csv_keys"):
        OmegaConf.register_new_resolver("csv_keys", lambda node: ",".join(str(k) for k in node))


class ConfigError(BadInputError, ValueError):
    """A config value that cannot work; the message names the key, the value and what is valid."""


def _get(cfg: DictConfig, dotted: str):
    node = cfg
    for part in dotted.split("."):
        node = node[part]
    return node


def _choice(cfg: DictConfig, key: str, valid: tuple[str, ...]) -> None:
    value = _get(cfg, key)
    if value not in valid:
        raise ConfigError(f"{key}={value!r} is not valid; choose one of: {', '.join(valid)}")


def _integer(key: str, v, lowest: int, what: str) -> None:
    if isinstance(v, int) and not isinstance(v, bool) and v >= lowest:
        return
    # Hydra reads 1e5 as the float 100000.0
    hint = f" (write {int(v)})" if isinstance(v, float) and v.is_integer() and v >= lowest else ""
    raise ConfigError(f"{key}={v!r} must be a {what} integer{hint}")


def _number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def validate(cfg: DictConfig) -> None:
    """Raise ``ConfigError`` on the first impossible value."""
    for key in POSITIVE_INTS:
        _integer(key, _get(cfg, key), 1, "positive")
    for key in NON_NEGATIVE_INTS:
        _integer(key, _get(cfg, key), 0, "non-negative")
    for key in BOOLS:
        v = _get(cfg, key)
        if not isinstance(v, bool):
            raise ConfigError(f"{key}={v!r} must be true or false")
    if cfg.agent.batch_size > cfg.train.replay_size:
        raise ConfigError(
            f"agent.batch_size={cfg.agent.batch_size} is larger than the replay buffer "
            f"(train.replay_size={cfg.train.replay_size}); lower the batch or raise the capacity"
        )
    if not isinstance(cfg.eval.video.enabled, bool):
        raise ConfigError(f"eval.video.enabled={cfg.eval.video.enabled!r} must be true or false")
    if cfg.eval.video.size % BLOCK:
        raise ConfigError(f"eval.video.size={cfg.eval.video.size} must be a multiple of {BLOCK} "
                          f"(e.g. 64, 128, 256): video frames are coded in {BLOCK}x{BLOCK} blocks")
    causal = cfg.agent.causal
    if causal.enabled and causal.window < 3:
        raise ConfigError(f"agent.causal.window={causal.window} must be at least 3 samples")
    if causal.enabled and causal.delay >= causal.interval:
        raise ConfigError(f"agent.causal.delay={causal.delay} must be smaller than agent.causal.interval="
                          f"{causal.interval}: a fit's weights are applied before the next fit starts")
    _choice(cfg, "agent.causal.backend", CAUSAL_BACKENDS)
    if str(causal.device) not in ("cpu", "auto") and not str(causal.device).startswith("cuda"):
        raise ConfigError(f"agent.causal.device={causal.device!r} is not valid; choose one of: cpu, auto, cuda, "
                          "cuda:N")
    if causal.enabled and str(causal.device).startswith("cuda"):
        _check_cuda("agent.causal.device", str(causal.device))
    for key, lo, hi in BOUNDED_NUMBERS:
        v = _get(cfg, key)
        if not _number(v):
            raise ConfigError(f"{key}={v!r} must be a number in [{lo}, {hi}]")
        if not lo <= v <= hi:
            raise ConfigError(f"{key}={v!r} must lie in [{lo}, {hi}]")
    temp = cfg.agent.temperature
    if temp.log_alpha_init is not None and not _number(temp.log_alpha_init):
        raise ConfigError(f"agent.temperature.log_alpha_init={temp.log_alpha_init!r} must be a number or null")
    if temp.target_entropy != "auto" and not _number(temp.target_entropy):
        raise ConfigError(f"agent.temperature.target_entropy={temp.target_entropy!r} must be a number or auto")
    if cfg.agent.reset.factor_min > cfg.agent.reset.factor_max:
        raise ConfigError(f"agent.reset.factor_min={cfg.agent.reset.factor_min} exceeds "
                          f"agent.reset.factor_max={cfg.agent.reset.factor_max}")
    _choice(cfg, "agent.algo", tuple(AGENTS))
    if cfg.agent.algo == "td3" and (cfg.agent.causal.enabled or cfg.agent.reset.enabled):
        raise ConfigError("agent=td3 has no entropy term and no resets: agent.causal.enabled and "
                          "agent.reset.enabled must be false")
    if not str(cfg.agent.name) or "/" in str(cfg.agent.name):
        raise ConfigError(f"agent.name={cfg.agent.name!r} must be a non-empty folder name without '/'")
    _choice(cfg, "agent.reset.mode", RESET_MODES)
    _choice(cfg, "agent.reset.rule", RESET_RULES)
    _choice(cfg, "agent.compile", COMPILE_MODES)
    _choice(cfg, "agent.precision", PRECISIONS)
    _choice(cfg, "env.reward", REWARD_TYPES)
    if str(cfg.env.domain).startswith("metaworld"):
        _choice(cfg, "env.goals", GOAL_REGIMES)
    _choice(cfg, "train.replay_device", REPLAY_DEVICES)
    _choice(cfg, "wandb.mode", WANDB_MODES)
    _choice(cfg, "log.progress", PROGRESS_MODES)
    if cfg.threads != "auto" and (not isinstance(cfg.threads, int) or cfg.threads <= 0):
        raise ConfigError(f"threads={cfg.threads!r} must be a positive integer or 'auto'")
    device = str(cfg.device)
    if device not in ("auto", "cpu") and not device.startswith("cuda"):
        raise ConfigError(f"device={device!r} is not valid; choose one of: auto, cpu, cuda, cuda:N")
    if device.startswith("cuda"):
        _check_cuda("device", device)
    import torch

    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cpu" or torch.cuda.is_available():  # (a missing GPU is reported where the device is resolved)
        problem = precision_problem(cfg.agent.precision, torch.device(device))
        if problem:
            raise ConfigError(problem)
    try:
        check_task(cfg.env.domain, cfg.env.task)
    except ValueError as e:
        raise ConfigError(str(e)) from None


def _check_cuda(key: str, device: str) -> None:
    import torch

    if not torch.cuda.is_available():
        raise ConfigError(f"{key}={device!r} but CUDA is not available here (torch {torch.__version__}, "
                          f"{'built without CUDA' if torch.version.cuda is None else 'no GPU visible'}); "
                          f"use {key}=cpu or {key}=auto")
    index = device.partition(":")[2]
    count = torch.cuda.device_count()
    if index and (not index.isdigit() or int(index) >= count):
        raise ConfigError(f"{key}={device!r} is not valid: this machine has {count} CUDA device(s), "
                          f"cuda:0..cuda:{count - 1}")


def min_causal_window(obs_dim: int, action_dim: int) -> int:
    """Fewest samples DirectLiNGAM can fit: the adaptive lasso regresses a variable (the reward, last
    in the causal order at worst) on all the others and needs more samples than predictors + 1."""
    return obs_dim + action_dim + 2


def check_causal_window(cfg: DictConfig, obs_dim: int, action_dim: int) -> None:
    """Refuse a causal window too small for the task, before training instead of at the first fit."""
    causal = cfg.agent.causal
    need = min_causal_window(obs_dim, action_dim)
    if causal.enabled and causal.window < need:
        raise ConfigError(
            f"agent.causal.window={causal.window} is too small for {cfg.env.domain}/{cfg.env.task}: DirectLiNGAM "
            f"fits {obs_dim} state + {action_dim} action + 1 reward variables and needs a window of at least "
            f"{need} samples")
