"""The shared training loop: one runner for every agent, task and ablation.

The runner owns the schedule (random start steps, when to update, evaluate, compute causal
weights, log and checkpoint); the agent only acts and updates. Its run folder (ace.run_folder) is
locked for the run's life; one that already holds a checkpoint is resumed, a finished one is not
run again. A stop signal ends the run at the next episode end with a checkpoint (ace.preemption);
a non-finite number stops it before anything non-finite is saved (ace.divergence).
"""

from __future__ import annotations

import logging
import os
import random
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
from ace.config import check_causal_window, validate
from ace.divergence import Diverged, FiniteGuard, env_problem
from ace.envs import env_rng_state, make_env, set_env_rng_state
from ace.errors import RunError
from ace.logger import RunLogger
from ace.plain_config import plain
from ace.preemption import StopRequest, StopRequested, exit_after_stop, stop_on_signals
from ace.record import write_record
from ace.run_folder import DONE, RunFolder, RunFolderBusy
from ace.timing import PhaseTimer
from ace.video import EpisodeFilm, EvalVideos

log = logging.getLogger("ace")

EVAL_SEED_OFFSET = 1_000_003  # evaluation episodes never share an RNG stream with training ones


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

    def __init__(self, cfg: DictConfig, run_dir: Path | RunFolder, overrides: list[str] | None = None,
                 stop: StopRequest | None = None):
        validate(cfg)
        self.cfg = cfg
        self.settings = plain(cfg)
        self.folder = run_dir if isinstance(run_dir, RunFolder) else RunFolder(run_dir)
        self.run_dir = self.folder.path
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.stop = stop if stop is not None else StopRequest()
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
        check_causal_window(cfg, obs_dim, self.action_dim)
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
        self.guard = FiniteGuard()
        self._saved_step: int | None = None  # step of the newest checkpoint in the folder
        self._episode_start = time.monotonic()
        self._longest_episode_s = 0.0  # wall-clock, with the updates, evaluations and causal waits in it
        elapsed_before = 0.0

        self.folder.check_config(cfg)
        state = load_checkpoint(self.folder.checkpoints)
        if state is not None:
            self._restore(state)
            self._saved_step = self.step
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
            log.info("resumed from %s at step %d", self.folder.checkpoints, self.step)
        self.videos = EvalVideos(cfg.eval.video, self.run_dir, cfg.env.domain, cfg.eval.every, cfg.train.total_steps,
                                 self.logger)
        write_record(self.run_dir, overrides or [], self.device)

    @property
    def _sync(self):
        return torch.cuda.synchronize if self.device.type == "cuda" else None

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
        """Checkpoint, unless a number went non-finite or another process took the folder over."""
        self._check_finite()
        self.folder.assert_owned()
        started = time.monotonic()
        with self.timer("checkpoint"):
            save_checkpoint(self.folder.checkpoints, self.state_dict())
        self._saved_step = self.step
        self.stop.measure(self._longest_episode_s, time.monotonic() - started)

    def _check_env_step(self, reward: float, obs: np.ndarray) -> None:
        if (problem := env_problem(reward, obs)) is not None:
            self._diverged(f"{problem} at step {self.step + 1} (update {self.agent.updates})")

    def _check_finite(self) -> None:
        problem = self.guard.problem(self.agent.state_dict(), self.step, self.agent.updates)
        if problem is not None:
            self._diverged(problem)

    def _diverged(self, problem: str) -> None:
        kept = (f"the last good checkpoint (step {self._saved_step}) is kept in {self.folder.checkpoints}"
                if self._saved_step is not None else "no checkpoint had been written")
        raise Diverged(f"run diverged: {problem}; stopped without saving, {kept}")

    def _stop_if_asked(self, save: bool = True) -> None:
        """At an episode end, the exact-resume point: leave a folder taken over, or stop on a signal."""
        now = time.monotonic()
        self._longest_episode_s = max(self._longest_episode_s, now - self._episode_start) if save else 0.0
        self._episode_start = now
        self.folder.assert_owned()
        if not self.stop:
            return
        if not save:
            log.warning("%s before the first step of this launch: exiting, the run resumes from step %d",
                        self.stop.name, self.step)
            raise StopRequested(self.stop.signum, self.step)
        if self._saved_step != self.step:
            self.save()
        log.warning("%s: checkpoint at step %d%s, %.1f s after the signal; exiting", self.stop.name, self.step,
                    "" if self.stop.step is None else f" (signal at step {self.stop.step})",
                    time.monotonic() - self.stop.received)
        raise StopRequested(self.stop.signum, self.step)

    # ------------------------------------------------------------------ loop
    def run(self) -> dict[str, Any]:
        """ACE's Algorithm 1, one env step per iteration: act (uniformly before ``start_steps``), step
        the env, store the transition in the replay buffer and the causal window; every ``interval``
        steps fit DirectLiNGAM on the window for the causal weights (``_maybe_update_causal_weights``);
        then ``updates_per_step`` gradient updates (critic, actor with the causality-aware entropy,
        temperature, and every ``reset.interval`` updates the dormancy-guided soft reset, all in
        ``agent.update``). Around it: evaluation, logs, and checkpoints at episode ends."""
        cfg = self.settings  # plain attributes: the loop reads them every step
        tc = cfg.train
        self.stop.progress = lambda: self.step  # the step a stop signal arrived at, for the log
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
            self._stop_if_asked(save=False)  # a signal during start-up: nothing new to save
            while self.step < tc.total_steps:
                with timer("act"):
                    action = self.env.action_space.sample() if self.step < tc.start_steps else self.agent.act(obs)
                with timer("env"):
                    next_obs, reward, terminated, truncated, _ = self.env.step(action)
                self._check_env_step(reward, next_obs)
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
                        self.guard.record(self.step, self.agent.updates, metrics)
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
                    self._stop_if_asked()
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
        self._check_finite()
        row = {k: mean_of(v) for k, v in acc.items()}
        row["updates"] = self.agent.updates
        row["episodes"] = self.episodes
        if self.agent.updates >= self.settings.agent.update_interval:
            row["dormancy"] = self.agent.dormancy()
        self.logger.log_train(self.step, {**row, **self.timer.row()})

    def _finish(self) -> dict[str, Any]:
        ret, success = self.logger.last_eval or (float("nan"), float("nan"))
        summary = {"step": self.step, "return": ret, "success": success, "run_dir": str(self.run_dir.resolve())}
        self.folder.assert_owned()
        self.folder.write_done(summary)
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


def train(cfg: DictConfig, run_dir: Path, overrides: list[str] | None = None,
          signal_delay_s: float | None = None) -> dict[str, Any]:
    """Train (or resume, or report an already finished) run in ``run_dir``, as the folder's only writer.

    A stop signal ends the run at an episode end with a checkpoint; the process then leaves so that
    the job is requeued (see ace.preemption). ``signal_delay_s``: the launcher's, checked against
    how long a stop takes. Why a launch stopped early goes to failed.json.
    """
    validate(cfg)
    folder = RunFolder(run_dir)
    with stop_on_signals(signal_delay_s) as stop:
        try:
            with folder.lock():
                summary = folder.finished(cfg.train.total_steps)
                if summary is not None:
                    log.info("run already finished (%s); not running it again", folder.path / DONE)
                    return summary
                try:
                    return Trainer(cfg, folder, overrides, stop).run()
                except RunFolderBusy:
                    raise  # the folder is another process's now: write nothing
                except StopRequested as e:
                    folder.write_failure(str(e), e.step)
                    raise
                except Exception as e:
                    reason = str(e) if isinstance(e, RunError) else f"crashed: {type(e).__name__}: {e}"
                    folder.write_failure(reason.splitlines()[0] if reason else type(e).__name__)
                    raise
        except StopRequested:
            pass  # the lock is released: a requeued job may take the folder at once
    exit_after_stop(stop)
