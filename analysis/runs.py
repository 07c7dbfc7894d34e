"""Collect run folders into one long-format table: one row per run x logged step.

    from analysis.runs import load_runs
    df = load_runs("runs")                  # eval.csv of every run under runs/
    df.groupby(["task", "agent", "step"])["success"].mean()
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import yaml

RUN_KEYS = ("experiment", "domain", "task", "agent", "seed")


def run_identity(run_dir: Path) -> dict:
    """Experiment, domain, task, agent and seed of a run, from its resolved ``config.yaml``."""
    cfg = yaml.safe_load((Path(run_dir) / "config.yaml").read_text())
    return {
        "experiment": cfg["experiment"], "domain": cfg["env"]["domain"], "task": cfg["env"]["task"],
        "agent": cfg["agent"]["name"], "seed": cfg["seed"], "run_dir": str(run_dir),
    }


def find_runs(root: str | Path) -> list[Path]:
    return sorted(p.parent for p in Path(root).rglob("config.yaml") if p.parent.name != ".hydra")


def load_runs(root: str | Path, table: str = "eval.csv") -> pd.DataFrame:
    """Concatenate ``table`` of every run under ``root``, tagged with the run's identity columns."""
    frames = []
    for run in find_runs(root):
        path = run / table
        if not path.exists() or path.stat().st_size == 0:
            continue
        df = pd.read_csv(path)
        for k, v in run_identity(run).items():
            df[k] = v
        frames.append(df)
    if not frames:
        raise FileNotFoundError(f"no run folder with {table} under {Path(root).resolve()}")
    out = pd.concat(frames, ignore_index=True)
    return out[[*RUN_KEYS, "run_dir", *[c for c in out.columns if c not in (*RUN_KEYS, "run_dir")]]]
