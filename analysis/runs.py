"""Run folders -> tables. Works on any mix of envs, agents, seeds and launchers (local or SLURM).

Every run folder written by ``src/run.py`` holds its resolved ``config.yaml`` and CSV logs; that is
all this module reads, so no wandb account is needed.

    from analysis.runs import load_runs, run_index, load_table
    runs = run_index("runs")            # one row per run: identity, toggles, variant, progress
    df = load_runs("runs")              # long format: one row per (run, source, step, metric)
    ev = load_table("runs", "eval")     # wide eval.csv rows of every run, tagged with the run's identity
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Iterable
from pathlib import Path

import pandas as pd
import yaml

#: The CSV each source comes from (see ace.logger).
SOURCES = {"eval": "eval.csv", "train": "train.csv", "causal": "causal_weights.csv", "resets": "resets.csv"}
#: Identity and toggle columns that tag every row of every table.
ID_COLUMNS = ["run", "experiment", "domain", "task", "agent", "variant", "algo", "causal", "reset", "seed"]
LONG_COLUMNS = [*ID_COLUMNS, "source", "step", "metric", "value"]


def find_runs(root: str | Path) -> list[Path]:
    """Run folders under ``root`` (a folder holding ``config.yaml`` outside Hydra's ``.hydra``)."""
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"results folder {root.resolve()} does not exist")
    return sorted(p.parent for p in root.rglob("config.yaml")
                  if p.parent.name != ".hydra" and (p.parent / "eval.csv").exists())


def variant_of(agent_cfg: dict) -> str:
    """The ablation a run belongs to, from its toggles rather than its folder label.

    SAC is ACE with both components off, so a run's label alone does not say which ablation it is.
    """
    if agent_cfg.get("algo") == "td3":
        return "TD3"
    causal = bool(agent_cfg.get("causal", {}).get("enabled"))
    reset = bool(agent_cfg.get("reset", {}).get("enabled"))
    return {(True, True): "ACE", (True, False): "ACE causal-only", (False, True): "ACE reset-only",
            (False, False): "SAC"}[(causal, reset)]


def run_identity(run_dir: str | Path, root: str | Path | None = None) -> dict:
    """Identity, toggles and budget of a run, from its resolved ``config.yaml``."""
    run_dir = Path(run_dir)
    cfg = yaml.safe_load((run_dir / "config.yaml").read_text())
    name = run_dir.relative_to(root).as_posix() if root is not None else run_dir.as_posix()
    return {**identity_from_config(cfg, name), "run_dir": str(run_dir.resolve())}


def identity_from_config(cfg: dict, name: str) -> dict:
    """The identity columns of a run from its resolved config (a run folder's or wandb's)."""
    agent = cfg["agent"]
    return {
        "run": name, "experiment": cfg["experiment"], "domain": cfg["env"]["domain"], "task": cfg["env"]["task"],
        "agent": agent["name"], "variant": variant_of(agent), "algo": agent.get("algo", "ace"),
        "causal": bool(agent.get("causal", {}).get("enabled", False)) and agent.get("algo") != "td3",
        "reset": bool(agent.get("reset", {}).get("enabled", False)) and agent.get("algo") != "td3",
        "seed": int(cfg["seed"]), "metric": cfg["env"].get("metric", "return"),
        "budget": int(cfg["train"]["total_steps"]),
    }


def run_index(root: str | Path) -> pd.DataFrame:
    """One row per run: identity, toggles, the metric it is judged by, its budget and how far it got.

    ``agent`` is the label figures and tables group by: the run's ``agent.name``, extended with the
    experiment when the folder mixes experiments, and with the variant when one name covers several
    ablations, so that different things are never pooled as seeds of one agent (``agent_name`` keeps
    the raw name).
    """
    rows = []
    for run in find_runs(root):
        row = run_identity(run, root)
        ev = _read_csv(run / SOURCES["eval"])
        row["last_step"] = int(ev["step"].max()) if ev is not None and len(ev) else 0
        done = run / "final.json"
        row["finished"] = done.exists() and json.loads(done.read_text()).get("step") == row["budget"]
        rows.append(row)
    if not rows:
        raise FileNotFoundError(f"no run folder (config.yaml + eval.csv) under {Path(root).resolve()}")
    index = pd.DataFrame(rows)
    index["agent_name"] = index["agent"]
    if index["experiment"].nunique() > 1:
        index["agent"] = index["agent"] + " [" + index["experiment"] + "]"
    several = index.groupby("agent")["variant"].transform("nunique") > 1
    index.loc[several, "agent"] = index.loc[several, "agent"] + " (" + index.loc[several, "variant"] + ")"
    dup = index[index.duplicated(["domain", "task", "agent", "seed"], keep=False)]
    if len(dup):
        warnings.warn(f"{len(dup)} run folders share domain, task, agent and seed with another one; they are all "
                      f"counted: {', '.join(dup['run'])}", stacklevel=2)
    return index


def load_table(root: str | Path, source: str = "eval", index: pd.DataFrame | None = None) -> pd.DataFrame:
    """The ``source`` CSV of every run, one row per logged step, with the run's identity columns in front.

    ``index``: ``run_index(root)`` when the caller already has it (it reads every run's config and eval.csv).
    """
    file = _source_file(source)
    frames = []
    for _, ident in (run_index(root) if index is None else index).iterrows():
        df = _read_csv(Path(ident["run_dir"]) / file)
        if df is None or df.empty:
            continue
        for k in (*ID_COLUMNS, "metric", "budget", "run_dir"):
            df[k if k != "metric" else "task_metric"] = ident[k]
        frames.append(df)
    if not frames:
        raise FileNotFoundError(f"no run under {Path(root).resolve()} has rows in {file}")
    out = pd.concat(frames, ignore_index=True)
    front = [*ID_COLUMNS, "task_metric", "budget", "run_dir"]
    return out[[*front, *[c for c in out.columns if c not in front]]]


def load_runs(root: str | Path, sources: Iterable[str] = ("eval", "train", "causal", "resets")) -> pd.DataFrame:
    """Everything logged under ``root`` in long format: ``run, ..., seed, source, step, metric, value``."""
    frames = []
    index = run_index(root)
    for source in sources:
        try:
            wide = load_table(root, source, index)
        except FileNotFoundError:
            continue
        value_cols = [c for c in wide.columns if c not in (*ID_COLUMNS, "task_metric", "budget", "run_dir", "step")]
        long = wide.melt(id_vars=[*ID_COLUMNS, "step"], value_vars=value_cols, var_name="metric", value_name="value")
        long["source"] = source
        frames.append(long)
    if not frames:
        raise FileNotFoundError(f"no run folder with logs under {Path(root).resolve()}")
    out = pd.concat(frames, ignore_index=True)
    out["value"] = pd.to_numeric(out["value"], errors="coerce")
    return out[LONG_COLUMNS]


def _source_file(source: str) -> str:
    if source not in SOURCES:
        raise ValueError(f"unknown source {source!r}; valid sources: {', '.join(SOURCES)}")
    return SOURCES[source]


def _read_csv(path: Path) -> pd.DataFrame | None:
    if not path.exists() or path.stat().st_size == 0:
        return None
    return pd.read_csv(path)
