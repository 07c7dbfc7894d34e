"""The shared training loop: one runner for every agent, task and ablation.

The runner owns the schedule (random start steps, when to update, evaluate, compute causal
weights, log and checkpoint); the agent only acts and updates. A run folder that already holds a
checkpoint is resumed; a finished one is not run again.
"""

from __future__ import annotations

import functools
import itertools
import json
import logging
import os
import random
import socket
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import torch
from omegaconf import DictConfig, OmegaConf

from ace.agents import ACEAgent, TD3Agent, make_agent
from ace.buffer import REPLAY_DEVICES, RingBuffer, causal_window, replay_buffer
from ace.causal import action_reward_weights
from ace.causal_worker import CausalResult, CausalWorker
from ace.checkpoint import load_checkpoint, save_checkpoint
from ace.config import validate
from ace.envs import env_rng_state, make_env, set_env_rng_state
from ace.files import atomic_write_text
from ace.logger import RunLogger
from ace.plain_config import plain
from ace.record import write_record
from ace.timing import PhaseTimer
from ace.video import EpisodeFilm, EvalVideos

log = logging.getLogger("ace")

#: Settings a resumed run may change: they decide where and how fast things are computed (or which
#: evaluations are filmed), not what is learned.
SPEED_ONLY_KEYS = ("agent.compile", "train.replay_device", "agent.causal.device", "agent.causal.backend",
                   "eval.video")
EVAL_SEED_OFFSET = 1_000_003  # evaluation episodes never share an RNG stream with training ones
DONE_FILE = "final.json"


def make_eval_env(env_cfg: DictConfig, seed: int) -> gym.Env:
    """The run's evaluation env: its own RNG stream, but the training goal where a task fixes one goal per run."""
    return make_env(env_cfg, seed + EVAL_SEED_OFFSET, goal_seed=seed)


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def resolve_threads(threads: int | str) -> int:
    """``auto``: the CPUs this process may run on (SLURM/cgroup affinity), at most 4.

    Measured on a 2-core machine: alone, 2 threads give 1.15-1.4x the updates/s of 1 for 128-256
    wide MLPs, but two such runs side by side slow down several-fold, hence the default of 1.
    """
    if threads != "auto":
        return int(threads)
    return max(1, min(4, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1))


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise RuntimeError(f"device={name!r} requested but CUDA is not available; use device=cpu or auto")
    return device


def resolve_replay_device(name: str, training: torch.device) -> torch.device | None:
    """Where the replay rows live: ``auto`` keeps them on the GPU a run trains on, else in numpy."""
    if name == "cpu" or (name == "auto" and training.type != "cuda"):
        return None
    if name in REPLAY_DEVICES:
        return training
    raise ValueError(f"train.replay_device={name!r} is not one of: {', '.join(REPLAY_DEVICES)}")


def evaluation_episodes(agent: ACEAgent | TD3Agent, env: gym.Env, episodes: int, seed: int,
                        deterministic: bool = True, film: EpisodeFilm | None = None,
                        ) -> tuple[list[float], list[float] | None]:
    """Return and success (at any step) of each episode; successes are None where the task has no success signal.

    Every evaluation reseeds the env, so all evaluations of a run face the same initial states and
    goals: curves are less noisy and do not depend on history (a resumed run evaluates the same).
    ``film`` records the first episode; rendering reads the simulation and draws no random numbers.
    """
    returns, successes, has_success = [], [], False
    for i in range(episodes):
        obs, _ = env.reset(seed=seed) if i == 0 else env.reset()
        filming = film is not None and i == 0
        if filming:
            film.capture()
        done, ep_return, success = False, 0.0, False
        while not done:
            obs, reward, terminated, truncated, info = env.step(agent.act(obs, deterministic=deterministic))
            if filming:
                film.capture()
            ep_return += float(reward)
            has_success |= "success" in info
            success |= bool(info.get("success", 0.0))
            done = terminated or truncated
        returns.append(ep_return)
        successes.append(float(success))
    return returns, successes if has_success else None


def evaluate(agent: ACEAgent | TD3Agent, env: gym.Env, episodes: int, seed: int,
             film: EpisodeFilm | None = None) -> tuple[float, float]:
    """Mean return and success rate of deterministic episodes (``evaluation_episodes``)."""
    returns, successes = evaluation_episodes(agent, env, episodes, seed, film=film)
    # Tasks without a success signal (MuJoCo, DMC) report NaN, not a misleading 0.
    return float(np.mean(returns)), float(np.mean(successes)) if successes is not None else float("nan")


class Trainer:
    """Everything one run needs, built from the config, plus the loop."""

    def __init__(self, cfg: DictConfig, run_dir: Path, overrides: list[str] | None = None):
        validate(cfg)
        self.cfg = cfg
        self.settings = plain(cfg)
        self.run_dir = Path(run_dir)
        self.run_dir.mkdir(parents=True, exist_ok=True)
        torch.set_num_threads(resolve_threads(cfg.threads))
        seed_everything(cfg.seed)
        self.device = resolve_device(cfg.device)

        self.env = make_env(cfg.env, cfg.seed)
        self.eval_env = make_eval_env(cfg.env, cfg.seed)
        obs_dim = self.env.observation_space.shape[0]
        space = self.env.action_space
        if not isinstance(space, gym.spaces.Box):
            raise TypeError(f"ACE needs a continuous (Box) action space, got {space}")
        self.action_dim = space.shape[0]
        self.agent = make_agent(cfg.agent, obs_dim, self.action_dim, space.low, space.high, self.device)
        self.replay = replay_buffer(cfg.train.replay_size, obs_dim, self.action_dim,
                                    resolve_replay_device(cfg.train.replay_device, self.device))
        causal = cfg.agent.causal
        self.window: RingBuffer | None = (
            causal_window(causal.window, obs_dim, self.action_dim) if causal.enabled else None
        )
        self.causal_worker = CausalWorker(self._fit_causal_weights, causal.delay) if causal.enabled else None
        self.rng = np.random.default_rng(cfg.seed)
        self.step = 0
        self.episodes = 0
        self._resumed_env_rng: dict | None = None
        self.acc: defaultdict[str, list[float]] = defaultdict(list)  # train metrics since the last row
        self.timer = PhaseTimer(sync=self._sync)
        elapsed_before = 0.0

        self._check_same_config()
        state = load_checkpoint(self.ckpt_dir)
        if state is not None:
            self._restore(state)
            elapsed_before = float(state.get("elapsed_s", 0.0))
        self.logger = RunLogger(
            self.run_dir, self.action_dim, cfg.train.total_steps,
            OmegaConf.to_container(cfg, resolve=True), cfg.wandb, cfg.log.progress, start_step=self.step,
            elapsed_before=elapsed_before,
        )
        # Rows past the checkpoint (or any row, when a crashed run left no checkpoint) will be
        # logged again by the resumed run, so they are dropped rather than duplicated.
        self.logger.drop_rows_after(self.step)
        if state is not None:
            self.logger.last_eval = state["last_eval"]
            log.info("resumed from %s at step %d", self.ckpt_dir, self.step)
        self.videos = EvalVideos(cfg.eval.video, self.run_dir, cfg.env.domain, cfg.eval.every, cfg.train.total_steps,
                                 self.logger)
        write_record(self.run_dir, overrides or [], self.device)
        write_job_marker(self.run_dir)

    @property
    def _sync(self):
        return torch.cuda.synchronize if self.device.type == "cuda" else None

    @property
    def ckpt_dir(self) -> Path:
        return self.run_dir / "checkpoints"

    def _check_same_config(self) -> None:
        """Refuse to resume a folder that holds a run of a different config (nothing is overwritten)."""
        path = self.run_dir / "config.yaml"
        current = OmegaConf.to_yaml(self.cfg, resolve=True)
        if path.exists() and (self.ckpt_dir / "last.pt").exists():
            saved = OmegaConf.to_container(OmegaConf.load(path), resolve=True)
            now = OmegaConf.to_container(self.cfg, resolve=True)
            skip = {"wandb", "log", "device", "threads"}  # may change between launches
            for cfg, dotted in itertools.product((saved, now), SPEED_ONLY_KEYS):  # how fast, not what
                *parents, leaf = dotted.split(".")
                functools.reduce(lambda node, key: node.get(key, {}), parents, cfg).pop(leaf, None)
            diff = sorted(k for k in set(saved) | set(now) if k not in skip and saved.get(k) != now.get(k))
            if diff:
                raise RuntimeError(
                    f"{self.run_dir} already holds a run with a different config (differs in: {', '.join(diff)}). "
                    "Set experiment=<name> (or hydra.run.dir) to start a separate run."
                )
        atomic_write_text(path, current)

    # ------------------------------------------------------------------ state
    def state_dict(self) -> dict[str, Any]:
        return {
            "step": self.step,
            "episodes": self.episodes,
            "agent": self.agent.state_dict(),
            "replay": self.replay.state_dict(),
            "window": self.window.state_dict() if self.window is not None else None,
            "rng": {
                "python": random.getstate(),
                "numpy": np.random.get_state(),
                "torch": torch.get_rng_state(),
                "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None,
                "buffer": self.rng.bit_generator.state,
            },
            "last_eval": self.logger.last_eval,
            "env_rng": env_rng_state(self.env),
            "train_accumulators": {k: [float(x) for x in v] for k, v in self.acc.items()},
            "causal_pending": self.causal_worker.state_dict() if self.causal_worker is not None else None,
            "phase_seconds": dict(self.timer.totals),
            "elapsed_s": self.logger.elapsed,
        }

    def _restore(self, state: dict[str, Any]) -> None:
        self.step, self.episodes = int(state["step"]), int(state["episodes"])
        self.agent.load_state_dict(state["agent"])
        self.replay.load_state_dict(state["replay"])
        if self.window is not None and state["window"] is not None:
            self.window.load_state_dict(state["window"])
        rng = state["rng"]
        random.setstate(rng["python"])
        np.random.set_state(rng["numpy"])
        torch.set_rng_state(rng["torch"])
        if rng["cuda"] is not None and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(rng["cuda"])
        self.rng.bit_generator.state = rng["buffer"]
        self._resumed_env_rng = state["env_rng"]  # includes the action space's sampler
        self.acc = defaultdict(list, state.get("train_accumulators", {}))
        self.timer = PhaseTimer(state.get("phase_seconds"), sync=self._sync)
        if self.causal_worker is not None:
            self.causal_worker.load_state_dict(state.get("causal_pending"))

    def save(self) -> None:
        with self.timer("checkpoint"):
            save_checkpoint(self.ckpt_dir, self.state_dict())

    # ------------------------------------------------------------------ loop
    def run(self) -> dict[str, Any]:
        cfg = self.settings  # plain attributes: the loop reads them every step
        tc = cfg.train
        if self._resumed_env_rng is not None:
            # Checkpoints are taken at episode ends, before the reset: restoring the env's RNGs
            # makes this reset, and so the rest of the run, the same as without the interruption.
            set_env_rng_state(self.env, self._resumed_env_rng)
            obs, _ = self.env.reset()
        else:
            obs, _ = self.env.reset(seed=cfg.seed)
        ep_return, checkpoint_due = 0.0, False
        # A bar is redrawn often; plain lines (files, SLURM logs) only every log.every steps.
        progress_every = max(1, tc.total_steps // 500) if self.logger.has_bar else cfg.log.every
        timer = self.timer
        try:
            while self.step < tc.total_steps:
                with timer("act"):
                    action = self.env.action_space.sample() if self.step < tc.start_steps else self.agent.act(obs)
                with timer("env"):
                    next_obs, reward, terminated, truncated, _ = self.env.step(action)
                # Only true termination cuts the bootstrap; a time limit does not.
                self.replay.add(obs=obs, action=action, reward=reward, next_obs=next_obs,
                                mask=0.0 if terminated else 1.0)
                if self.window is not None:
                    self.window.add(obs=obs, action=action, reward=reward)
                self.step += 1
                ep_return += float(reward)
                obs = next_obs
                episode_over = terminated or truncated
                if episode_over:
                    self.episodes += 1
                    self.acc["episode_return"].append(ep_return)
                    ep_return = 0.0

                if len(self.replay) > tc.learning_starts:
                    self._maybe_update_causal_weights()  # official: inside the learning block
                    for _ in range(tc.updates_per_step):
                        with timer("update"):
                            metrics = self.agent.update(self.replay.sample(cfg.agent.batch_size, self.rng))
                        for k, v in metrics.items():
                            self.acc[k].append(v)
                        if self.agent.last_reset is not None:
                            self.logger.log_reset(self.step, self.agent.last_reset)
                            self.agent.last_reset = None

                if self.step % cfg.eval.every == 0 or self.step == tc.total_steps:
                    with timer("eval"), self.videos.filming(self.step, self.eval_env) as film:
                        mean_return, success = evaluate(self.agent, self.eval_env, cfg.eval.episodes,
                                                        cfg.seed + EVAL_SEED_OFFSET, film)
                    self.logger.log_eval(self.step, mean_return, success, self.episodes)
                if self.step % cfg.log.every == 0 and "critic_loss" in self.acc:
                    self._log_train(self.acc)
                    self.acc = defaultdict(list)
                # Checkpoint at the first episode end at or after each checkpoint.every steps
                # (and at the end), so that no simulator state needs saving.
                checkpoint_due |= self.step % cfg.checkpoint.every == 0
                if (checkpoint_due and episode_over) or self.step == tc.total_steps:
                    self.save()
                    checkpoint_due = False
                if episode_over:
                    with timer("env"):
                        obs, _ = self.env.reset()
                if self.step % progress_every == 0 or self.step == tc.total_steps:
                    self.logger.progress(self.step)
        finally:
            if self.causal_worker is not None:
                self.causal_worker.close()  # nothing is pending at a normal end; on an error, don't wait
            self.logger.close()
        return self._finish()

    def _fit_causal_weights(self, data: dict[str, np.ndarray]) -> np.ndarray:
        c = self.cfg.agent.causal
        device = str(self.device) if c.device == "auto" else c.device
        return action_reward_weights(data["obs"], data["action"], data["reward"],
                                     drop_constant_columns=c.drop_constant_columns, backend=c.backend, device=device)

    def _maybe_update_causal_weights(self) -> None:
        """Apply a finished fit that is due, and start a fit every ``interval`` steps (see CausalWorker)."""
        if self.causal_worker is None:
            return
        c = self.settings.agent.causal
        with self.timer("causal"):
            result = self.causal_worker.due(self.step)
            if result is not None:
                self._apply_causal(result)
            # A fit whose weights would only be applied after the run's end is not started.
            if (self.step % c.interval == 0 and self.window.full
                    and self.step + c.delay <= self.settings.train.total_steps):
                result = self.causal_worker.submit(self.step, self.window.chronological())
                if result is not None:
                    self._apply_causal(result)

    def _apply_causal(self, r: CausalResult) -> None:
        self.agent.set_causal_weights(r.weights)
        self.logger.log_causal(self.step, r.weights, r.compute_s, r.window_step, r.wait_s)

    def _log_train(self, acc: dict[str, list[float | torch.Tensor]]) -> None:
        row = {k: mean_of(v) for k, v in acc.items()}
        row["updates"] = self.agent.updates
        row["episodes"] = self.episodes
        if self.agent.updates >= self.settings.agent.update_interval:
            row["dormancy"] = self.agent.dormancy()
        self.logger.log_train(self.step, {**row, **self.timer.row()})

    def _finish(self) -> dict[str, Any]:
        ret, success = self.logger.last_eval or (float("nan"), float("nan"))
        summary = {"step": self.step, "return": ret, "success": success, "run_dir": str(self.run_dir.resolve())}
        atomic_write_text(self.run_dir / DONE_FILE, json.dumps(summary, indent=2) + "\n")
        return summary


def mean_of(values: list[float | torch.Tensor]) -> float:
    """Mean of floats and 0-d (device) tensors, with one host read for all tensors.

    Agents return update diagnostics as device tensors so that updates never wait for the GPU; the
    values are averaged in float64 in their original order, as floats would be.
    """
    out = np.empty(len(values), dtype=np.float64)
    at = [i for i, x in enumerate(values) if torch.is_tensor(x)]
    if at:
        out[at] = torch.stack([values[i].detach().reshape(()) for i in at]).double().cpu().numpy()
    for i, x in enumerate(values):
        if not torch.is_tensor(x):
            out[i] = float(x)
    return float(out.mean())


JOB_FILE = "job.json"


def slurm_job_id() -> str | None:
    """The id ``squeue`` shows for this job (``<array job>_<task>`` for array tasks), if under SLURM."""
    array, task = os.environ.get("SLURM_ARRAY_JOB_ID"), os.environ.get("SLURM_ARRAY_TASK_ID")
    if array and task:
        return f"{array}_{task}"
    return os.environ.get("SLURM_JOB_ID")


def write_job_marker(run_dir: Path) -> None:
    """Who is running this folder now, so that launchers/benchmark.py --status can tell running from failed."""
    marker = {"slurm_job_id": slurm_job_id(), "host": socket.gethostname(), "pid": os.getpid(),
              "started": time.time()}
    atomic_write_text(Path(run_dir) / JOB_FILE, json.dumps(marker) + "\n")


def train(cfg: DictConfig, run_dir: Path, overrides: list[str] | None = None) -> dict[str, Any]:
    """Train (or resume, or report an already finished) run in ``run_dir``."""
    done = Path(run_dir) / DONE_FILE
    if done.exists() and (Path(run_dir) / "checkpoints" / "last.pt").exists():
        summary = json.loads(done.read_text())
        if summary.get("step") == cfg.train.total_steps:
            log.info("run already finished (%s); not running it again", done)
            return summary
    return Trainer(cfg, run_dir, overrides).run()
