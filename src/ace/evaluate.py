"""Evaluate a saved policy: ``python -m ace.evaluate RUN_DIR [--episodes N] [--video] [--deterministic|--stochastic]``.

Loads the run's resolved ``config.yaml`` and its latest checkpoint, builds the run's evaluation env
(same seed and goal as the runner's) and runs its evaluation protocol on the CPU, so a run trained
on a GPU can be evaluated anywhere. Prints mean return and success with a percentile-bootstrap
interval over episodes and writes the result (JSON) and, with ``--video``, the first episode (mp4)
under ``RUN_DIR/evaluations/``, the only place it writes. With the run's settings, deterministic
actions and a CPU-trained fp32 run, it reproduces the run's final evaluation exactly.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import math
import shlex
import sys
from pathlib import Path
from typing import Any

EVALUATIONS_DIR = "evaluations"
CONF = 0.95


class EvaluationError(ValueError):
    """A run folder that cannot be evaluated; the message says why in one line."""


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value <= 0:
        raise argparse.ArgumentTypeError(f"{text!r} is not a positive integer")
    return value


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m ace.evaluate", description=__doc__.split("\n\n")[0])
    p.add_argument("run_dir", type=Path, help="a run folder (holds config.yaml and checkpoints/last.pt)")
    p.add_argument("--episodes", type=_positive_int, help="episodes to run (default: the run's eval.episodes)")
    p.add_argument("--video", action="store_true", help="film the first episode to evaluations/<name>.mp4")
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--deterministic", dest="deterministic", action="store_true", default=True,
                      help="the policy's mean action, as the run's evaluations (default)")
    mode.add_argument("--stochastic", dest="deterministic", action="store_false",
                      help="sampled actions (seeded with the run's seed: repeatable)")
    p.add_argument("--size", type=_positive_int, help="video frame size in pixels (default: the run's eval.video.size)")
    p.add_argument("--fps", type=_positive_int, help="video frame rate (default: the run's eval.video.fps)")
    return p.parse_args(argv)


def load_run(run_dir: Path) -> tuple[Any, dict[str, Any]]:
    """The run's resolved config and its newest readable checkpoint; ``EvaluationError`` if there is none."""
    from omegaconf import OmegaConf

    from ace.checkpoint import LAST, load_checkpoint

    if not run_dir.is_dir():
        raise EvaluationError(f"{run_dir} is not a folder")
    if not (run_dir / "config.yaml").is_file():
        raise EvaluationError(f"{run_dir} is not a run folder: it has no config.yaml")
    try:
        state = load_checkpoint(run_dir / "checkpoints")
    except RuntimeError as e:
        raise EvaluationError(f"{run_dir}: {e}") from None
    if state is None:
        raise EvaluationError(f"{run_dir} has no checkpoint (checkpoints/{LAST}): nothing to evaluate")
    return OmegaConf.load(run_dir / "config.yaml"), state


def cpu_precision(precision: str) -> tuple[str, str | None]:
    """The precision to evaluate with on this CPU, and a note when it is not the run's."""
    import torch

    from ace.precision import precision_problem

    if precision_problem(precision, torch.device("cpu")) is None:
        return precision, None
    return "fp32", (f"the run trained with agent.precision={precision}, which this CPU cannot run; "
                    "evaluating in fp32 (the float32 weights as saved)")


def evaluate_run(run_dir: Path, episodes: int | None = None, deterministic: bool = True, video: bool = False,
                 size: int | None = None, fps: int | None = None, command: str | None = None) -> dict[str, Any]:
    """Evaluate the run's saved policy; the result is written to ``run_dir/evaluations/`` and returned."""
    from omegaconf import OmegaConf

    if video:
        from ace.envs.render import choose_gl_backend

        choose_gl_backend()  # before MuJoCo is imported
    cfg, state = load_run(run_dir)
    import torch

    from ace.agents import make_agent
    from ace.runner import EVAL_SEED_OFFSET, evaluation_episodes, make_eval_env, resolve_threads, seed_everything
    from ace.video import BLOCK, EpisodeFilm, write_mp4
    from analysis.stats import bootstrap_ci

    episodes = episodes or int(cfg.eval.episodes)
    size = size or int(OmegaConf.select(cfg, "eval.video.size", default=128))
    fps = fps or int(OmegaConf.select(cfg, "eval.video.fps", default=30))
    if video and size % BLOCK:
        raise EvaluationError(f"--size {size} must be a multiple of {BLOCK} (e.g. 64, 128, 256)")
    torch.set_num_threads(resolve_threads(cfg.threads))
    seed_everything(cfg.seed)  # --stochastic samples actions from torch's RNG: the same ones every call
    precision, note = cpu_precision(str(cfg.agent.precision))
    agent_cfg = OmegaConf.merge(cfg.agent, {"compile": "off", "precision": precision})
    env = make_eval_env(cfg.env, cfg.seed)
    space = env.action_space
    agent = make_agent(agent_cfg, env.observation_space.shape[0], space.shape[0], space.low, space.high,
                       torch.device("cpu"))
    agent.load_state_dict(state["agent"])
    film = EpisodeFilm(cfg.env.domain, env, size) if video else None
    try:
        returns, successes = evaluation_episodes(agent, env, episodes, cfg.seed + EVAL_SEED_OFFSET, deterministic,
                                                 film)
    finally:
        if film is not None:
            film.close()
        env.close()

    step = int(state["step"])
    policy = "deterministic" if deterministic else "stochastic"
    stem = _free_stem(run_dir / EVALUATIONS_DIR, f"step={step}_{policy}_{episodes}ep_"
                      f"{_dt.datetime.now().strftime('%Y%m%d-%H%M%S')}")
    result: dict[str, Any] = {
        "run_dir": str(run_dir.resolve()), "task": f"{cfg.env.domain}/{cfg.env.task}", "agent": cfg.agent.name,
        "seed": int(cfg.seed), "checkpoint_step": step, "policy": policy, "episodes": episodes,
        "eval_seed": int(cfg.seed + EVAL_SEED_OFFSET), "device": "cpu", "precision": precision,
        "returns": returns, "successes": successes,
        "return": _interval(returns, bootstrap_ci), "success": _interval(successes, bootstrap_ci),
        "conf": CONF, "notes": [note] if note else [], "video": None,
        "created": _dt.datetime.now().isoformat(timespec="seconds"), "command": command,
    }
    if film is not None:
        if film.problem is not None:
            result["notes"].append(f"no video: {film.problem}")
        elif film.frames:
            write_mp4(run_dir / EVALUATIONS_DIR / f"{stem}.mp4", film.frames, fps)
            result["video"] = f"{stem}.mp4"
    result["run_eval"] = _run_eval_at(run_dir, step)
    from ace.files import atomic_write_text

    atomic_write_text(run_dir / EVALUATIONS_DIR / f"{stem}.json", json.dumps(result, indent=2) + "\n")
    result["file"] = f"{stem}.json"
    return result


def _interval(values: list[float] | None, bootstrap_ci) -> dict[str, float] | None:
    if values is None:
        return None  # the task has no success signal
    mean, low, high = bootstrap_ci(values, conf=CONF)
    return {"mean": mean, "low": low, "high": high}


def _free_stem(folder: Path, stem: str) -> str:
    """``stem``, or ``stem-2``, ``stem-3``... so that no earlier evaluation's files are replaced."""
    candidate, n = stem, 1
    while (folder / f"{candidate}.json").exists() or (folder / f"{candidate}.mp4").exists():
        n += 1
        candidate = f"{stem}-{n}"
    return candidate


def _run_eval_at(run_dir: Path, step: int) -> dict[str, float] | None:
    """The run's own evaluation at the checkpoint's step (eval.csv), to compare with."""
    import csv

    path = run_dir / "eval.csv"
    if not path.exists():
        return None
    with open(path, newline="") as f:
        for row in csv.DictReader(f):
            if int(float(row["step"])) == step:
                return {"return": float(row["return"]), "success": float(row["success"])}
    return None


def _fmt(interval: dict[str, float] | None, digits: int) -> str:
    if interval is None:
        return "n/a (no success signal)"
    return f"{interval['mean']:.{digits}f} [{interval['low']:.{digits}f}, {interval['high']:.{digits}f}]"


def report(result: dict[str, Any], run_dir: Path) -> str:
    folder = run_dir / EVALUATIONS_DIR
    lines = [f"{result['task']} {result['agent']} seed={result['seed']}, checkpoint step "
             f"{result['checkpoint_step']:,d}: {result['episodes']} {result['policy']} episode(s) on the run's "
             f"evaluation env (seed {result['eval_seed']}), {result['device']}",
             f"return  {_fmt(result['return'], 2)}   (mean [{result['conf']:.0%} bootstrap CI over episodes])",
             f"success {_fmt(result['success'], 2)}"]
    own = result.get("run_eval")
    if own is not None:
        success = "" if math.isnan(own["success"]) else f", success {own['success']:.2f}"
        lines.append(f"the run's own evaluation at step {result['checkpoint_step']:,d}: return {own['return']:.2f}"
                     f"{success}")
    lines += [f"note: {note}" for note in result["notes"]]
    if result["video"]:
        lines.append(f"video:   {folder / result['video']}")
    lines.append(f"results: {folder / result['file']}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = parse_args(argv)
    try:
        result = evaluate_run(args.run_dir, args.episodes, args.deterministic, args.video, args.size, args.fps,
                              command=f"python -m ace.evaluate {shlex.join(argv)}")
    except EvaluationError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(report(result, args.run_dir))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
