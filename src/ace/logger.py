"""The run's one logger: resume-safe CSV files, wandb, and a progress bar or plain log lines."""

from __future__ import annotations

import csv
import hashlib
import logging
import math
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ace.files import atomic_write

log = logging.getLogger("ace")

EVAL_COLUMNS = ["step", "return", "success", "episodes", "elapsed_s"]
TRAIN_COLUMNS = [
    "step", "updates", "episodes", "episode_return", "critic_loss", "actor_loss", "alpha_loss", "alpha", "entropy",
    "causal_entropy", "q", "dormancy", "steps_per_sec", "elapsed_s",
    # Cumulative wall-clock seconds per phase of the loop (see ace.runner.PHASES), kept across resumes.
    "env_s", "act_s", "update_s", "causal_s", "eval_s", "checkpoint_s",
]
RESET_COLUMNS = ["step", "update", "dormancy", "factor", "applied"]
WANDB_MODES = ("online", "offline", "disabled")
PROGRESS_MODES = ("auto", "bar", "lines")


class CsvLog:
    """Append-only CSV with a fixed header; every row is flushed so a crash loses nothing written."""

    def __init__(self, path: Path, columns: Sequence[str]):
        self.path, self.columns = Path(path), list(columns)
        if self.path.exists() and self.path.stat().st_size > 0:
            with open(self.path, newline="") as f:
                header = next(csv.reader(f), None)
            if header != self.columns:
                raise ValueError(f"{self.path} has columns {header}, expected {self.columns}")
        else:
            self.path.write_text(",".join(self.columns) + "\n")

    def write(self, row: dict[str, Any]) -> None:
        unknown = set(row) - set(self.columns)
        if unknown:
            raise KeyError(f"{self.path.name}: unknown columns {sorted(unknown)}")
        with open(self.path, "a", newline="") as f:
            csv.writer(f).writerow([_fmt(row.get(c)) for c in self.columns])

    def drop_rows_after(self, step: int) -> int:
        """Remove rows whose step is past ``step`` (on resume); returns how many were dropped."""
        with open(self.path, newline="") as f:
            rows = list(csv.reader(f))
        header, body = rows[0], rows[1:]
        kept = [r for r in body if r and float(r[0]) <= step]
        if len(kept) != len(body):
            def write(tmp: Path) -> None:
                with open(tmp, "w", newline="") as f:
                    csv.writer(f).writerows([header, *kept])
            atomic_write(self.path, write)
        return len(body) - len(kept)


def _fmt(v: Any) -> str:
    if v is None:
        return ""
    if isinstance(v, float):
        return "nan" if math.isnan(v) else repr(v)  # shortest exact round-trip
    return str(v)


class RunLogger:
    """Writes eval/train/causal/reset records to CSV, wandb and the console."""

    def __init__(self, run_dir: Path, action_dim: int, total_steps: int, config: dict,
                 wandb_cfg: Any, progress: str = "auto", start_step: int = 0, elapsed_before: float = 0.0):
        if wandb_cfg.mode not in WANDB_MODES:
            raise ValueError(f"wandb.mode={wandb_cfg.mode!r} is not one of {WANDB_MODES}")
        if progress not in PROGRESS_MODES:
            raise ValueError(f"log.progress={progress!r} is not one of {PROGRESS_MODES}")
        self.run_dir = Path(run_dir)
        self.total_steps = total_steps
        self.eval = CsvLog(self.run_dir / "eval.csv", EVAL_COLUMNS)
        self.train = CsvLog(self.run_dir / "train.csv", TRAIN_COLUMNS)
        self.causal = CsvLog(self.run_dir / "causal_weights.csv",
                             ["step", *[f"w{i}" for i in range(action_dim)], "compute_s", "window_step",
                              "wait_s"])
        self.resets = CsvLog(self.run_dir / "resets.csv", RESET_COLUMNS)
        self.last_eval: tuple[float, float] | None = None
        self._t0 = time.time()
        self._start_step = start_step
        self._elapsed_before = elapsed_before  # wall-clock of the run before this launch (resume)
        self._wandb = self._init_wandb(wandb_cfg, config)
        use_bar = progress == "bar" or (progress == "auto" and sys.stderr.isatty())
        self._bar = None
        if use_bar:
            from tqdm import tqdm

            self._bar = tqdm(total=total_steps, initial=start_step, unit="step", dynamic_ncols=True,
                             smoothing=0.05, file=sys.stderr)

    def _init_wandb(self, wandb_cfg: Any, config: dict):
        if wandb_cfg.mode == "disabled":
            return None
        import wandb

        # A deterministic id makes a resumed run continue the same wandb run.
        run_id = hashlib.sha1(str(self.run_dir.resolve()).encode()).hexdigest()[:16]
        return wandb.init(
            mode=wandb_cfg.mode, project=wandb_cfg.project, entity=wandb_cfg.entity,
            group=wandb_cfg.group, name=wandb_cfg.name, dir=str(self.run_dir), config=config,
            id=run_id, resume="allow", reinit="finish_previous",
        )

    def drop_rows_after(self, step: int) -> None:
        for f in (self.eval, self.train, self.causal, self.resets):
            n = f.drop_rows_after(step)
            if n:
                log.info("resume: dropped %d row(s) of %s past step %d", n, f.path.name, step)

    @property
    def has_bar(self) -> bool:
        return self._bar is not None

    @property
    def elapsed(self) -> float:
        """Wall-clock seconds of the whole run, earlier launches included (up to their checkpoint)."""
        return self._elapsed_before + time.time() - self._t0

    def steps_per_sec(self, step: int) -> float:
        """Env steps per second of this launch."""
        return (step - self._start_step) / max(time.time() - self._t0, 1e-9)

    def log_eval(self, step: int, mean_return: float, success: float, episodes: int) -> None:
        self.last_eval = (mean_return, success)
        self.eval.write({"step": step, "return": mean_return, "success": success,
                         "episodes": episodes, "elapsed_s": self.elapsed})
        self._to_wandb(step, {"eval/return": mean_return, "eval/success": success})
        self._print(f"eval  step {step:>9,d} | return {mean_return:10.2f} | success {success:.2f}")

    def log_train(self, step: int, metrics: dict[str, float]) -> None:
        row = {"step": step, "elapsed_s": self.elapsed, "steps_per_sec": self.steps_per_sec(step), **metrics}
        self.train.write(row)
        self._to_wandb(step, {f"train/{k}": v for k, v in row.items() if k != "step" and v is not None})

    def log_causal(self, step: int, weights: Sequence[float], seconds: float, window_step: int | None = None,
                   wait_s: float | None = None) -> None:
        """Weights applied at ``step``, fitted on the window that ended at ``window_step``."""
        window_step = step if window_step is None else window_step
        wait_s = seconds if wait_s is None else wait_s
        self.causal.write({"step": step, **{f"w{i}": float(w) for i, w in enumerate(weights)},
                           "compute_s": seconds, "window_step": window_step, "wait_s": wait_s})
        self._to_wandb(step, {**{f"ace/causal_w{i}": float(w) for i, w in enumerate(weights)},
                              "time/causal_s": seconds, "time/causal_wait_s": wait_s})
        lag = f" (window of step {window_step:,d})" if window_step != step else ""
        self._print(f"causal step {step:>9,d} | weights [{', '.join(f'{w:.3f}' for w in weights)}] "
                    f"| fit {seconds:.2f}s, training waited {wait_s:.2f}s{lag}")

    def log_reset(self, step: int, event: dict[str, float]) -> None:
        self.resets.write({"step": step, **event})
        self._to_wandb(step, {"ace/reset_factor": event["factor"], "ace/reset_dormancy": event["dormancy"]})
        verb = "soft reset" if event["applied"] else "reset skipped"
        self._print(f"{verb} at update {int(event['update']):,d} | dormancy {event['dormancy']:.3f} "
                    f"| keep factor {event['factor']:.3f}")

    def log_video(self, step: int, path: Path) -> None:
        """An evaluation video already written to the run folder, to wandb as ``eval/video`` (from the file)."""
        if self._wandb is not None:
            import wandb

            self._wandb.log({"eval/video": wandb.Video(str(path), caption=f"step {step}", format="mp4")}, step=step)

    def progress(self, step: int) -> None:
        """Advance the bar (terminal) or print a plain progress line (files, SLURM logs)."""
        ev = self.last_eval
        if self._bar is not None:
            self._bar.n = step
            post = {"sps": f"{self.steps_per_sec(step):.0f}"}
            if ev:
                post.update(ret=f"{ev[0]:.1f}", succ=f"{ev[1]:.2f}")
            self._bar.set_postfix(post, refresh=False)
            self._bar.refresh()
            return
        sps = self.steps_per_sec(step)
        eta = (self.total_steps - step) / sps if sps > 0 else float("inf")
        evs = f" | last eval return {ev[0]:.1f} success {ev[1]:.2f}" if ev else ""
        log.info("step %s/%s (%.1f%%) | %.0f steps/s%s | ETA %s", f"{step:,d}", f"{self.total_steps:,d}",
                 100.0 * step / self.total_steps, sps, evs, _hms(eta))

    def _print(self, msg: str) -> None:
        if self._bar is not None:
            self._bar.write(msg, file=sys.stderr)
            log.debug(msg)
        else:
            log.info(msg)

    def _to_wandb(self, step: int, data: dict[str, float]) -> None:
        if self._wandb is not None:
            self._wandb.log(data, step=step)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
        if self._wandb is not None:
            self._wandb.finish()


def _hms(seconds: float) -> str:
    if not math.isfinite(seconds):
        return "?"
    s = int(seconds)
    return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}"
