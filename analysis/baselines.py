"""Learning curves other codebases published, matched to our tasks, for reference beside our own.

``analysis/reference/baselines/`` holds them with their licences and a note of source, commit, units
and step axes (its README.md). They come from other codebases under other protocols: the report
draws and tabulates them with that label, at the step their source logged (not rescaled), and never
lets them into our aggregates.

    published = load_baselines("all")                      # every source, our task names
    curves = baseline_curves(published, last_steps)        # mean and band over their seeds
    table = values_at(published, our_steps)                # their value at our last step
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from ace.envs.gymnasium_tasks import MUJOCO
from analysis import scores
from analysis.stats import bootstrap_ci

BASELINES_DIR = Path(__file__).parent / "reference" / "baselines"
#: Columns of ``load_baselines``: one row per published (task, algorithm, seed, step).
COLUMNS = ["domain", "task", "task_metric", "baseline", "source", "algo", "source_task", "seed", "step", "value"]
#: Columns of ``baseline_curves``.
CURVE_COLUMNS = ["domain", "task", "task_metric", "baseline", "source", "protocol", "step", "mean", "ci_low",
                 "ci_high", "n_seeds"]
#: Columns of ``values_at``.
VALUE_COLUMNS = ["domain", "task", "task_metric", "baseline", "source", "codebase", "protocol", "our_step", "step",
                 "n_seeds", "mean", "ci_low", "ci_high"]


@dataclass(frozen=True)
class Source:
    """One published source: where it comes from, and what its curves measure."""

    repo: str                      # how labels name it
    algos: dict[str, str]          # its algorithm folders/names -> display names
    own_algo: str | None           # the algorithm whose protocol its code documents (others: undocumented)
    protocols: dict[str, str]      # our domain -> protocol in a few words
    step_axis: str                 # what its step column counts


SOURCES: dict[str, Source] = {
    "tdmpc2": Source(
        repo="TD-MPC2 repo", algos={"sac": "SAC", "tdmpc2": "TD-MPC2"}, own_algo="tdmpc2",
        protocols={"metaworld": "Meta-World v2, goal per episode", "dmc": "action repeat 2"},
        step_axis="TD-MPC2 repo: its `step` = agent steps, each 2 simulator steps (action repeat 2 in its code)"),
    "simbav2": Source(
        repo="SimbaV2 repo", algos={"sac": "SAC"}, own_algo=None,
        protocols={"mujoco": "MuJoCo v4", "dmc": "action repeat 2"},
        step_axis="SimbaV2 repo: its `env_step` = agent steps x action repeat (simulator steps)"),
}
SELECTIONS = ("all", "none")
#: The note that goes with a ``*`` in a protocol (see ``protocol``).
UNDOCUMENTED = "* protocol of the repository's own algorithm; how it produced this curve is not documented"

_TDMPC2_METRICS = {"success": "success", "reward": "return"}
_GYM_BASE = {gym_id.split("-v")[0]: task for task, gym_id in MUJOCO.items()}  # "Hopper" -> "hopper"
_SIMBAV2_METRIC = "avg_return"


def parse_selection(spec: str | Iterable[str]) -> tuple[str, ...]:
    """Sources to use from ``"all"``, ``"none"`` or a comma-separated list of source names."""
    names = [s.strip() for s in (spec.split(",") if isinstance(spec, str) else spec) if s.strip()]
    if names in (["none"], []):
        return ()
    if "none" in names:
        raise ValueError(f"baselines {','.join(names)!r}: 'none' cannot be combined with sources; valid choices: "
                         f"all, none, or a comma-separated list of {', '.join(SOURCES)}")
    if "all" in names:
        return tuple(SOURCES)
    bad = [n for n in names if n not in SOURCES]
    if bad:
        raise ValueError(f"unknown baseline source {bad[0]!r}; valid choices: {', '.join([*SELECTIONS, *SOURCES])}")
    return tuple(dict.fromkeys(names))


def source_to_ours(source: str, name: str) -> tuple[str, str] | None:
    """Our ``(domain, task)`` for a task name of ``source``, or None if it is not one of our domains."""
    _check_source(source)
    if source == "tdmpc2":
        return ("metaworld", name[len("mw-"):]) if name.startswith("mw-") else ("dmc", name)
    base, sep, version = name.partition("-v")
    if sep and version.isdigit():
        return ("mujoco", _GYM_BASE[base]) if base in _GYM_BASE else None
    return ("dmc", name)


def ours_to_source(source: str, domain: str, task: str) -> str | None:
    """The task name ``source`` uses for our ``domain/task``, or None where it has no such task.

    TD-MPC2 ran Meta-World's dense reward, so only ``metaworld/`` (not ``metaworld_sparse/``) matches.
    """
    _check_source(source)
    if domain == "dmc":
        return task
    if source == "tdmpc2" and domain == "metaworld":
        return f"mw-{task}"
    if source == "simbav2" and domain == "mujoco" and task in MUJOCO:
        return MUJOCO[task].split("-v")[0] + "-v4"
    return None


def load_baselines(sources: str | Iterable[str] = "all", root: str | Path = BASELINES_DIR) -> pd.DataFrame:
    """Every published curve of ``sources`` under our task names (``COLUMNS``), values in our units."""
    root = Path(root)
    frames = [_READERS[s](root / s) for s in parse_selection(sources)]
    if not frames:
        return pd.DataFrame(columns=COLUMNS)
    out = pd.concat(frames, ignore_index=True)
    out["step"] = out["step"].astype(np.int64)
    out["seed"] = out["seed"].astype(np.int64)
    return out[COLUMNS].sort_values(["domain", "task", "baseline", "seed", "step"], ignore_index=True)


def match_runs(published: pd.DataFrame, tasks: pd.DataFrame) -> pd.DataFrame:
    """The published rows of our runs' tasks that report the metric our task reports."""
    keys = tasks[["domain", "task", "task_metric"]].drop_duplicates()
    return published.merge(keys, on=["domain", "task", "task_metric"], how="inner")


def baseline_curves(published: pd.DataFrame, last_steps: Mapping[tuple[str, str], int] | None = None,
                    reps: int = 1000, conf: float = 0.95, seed: int = 0) -> pd.DataFrame:
    """Mean over their seeds and a bootstrap band per published step (``CURVE_COLUMNS``).

    ``last_steps``: our last step per ``(domain, task)``; later published points are left out, so a
    reference never runs past our curves. Same estimator as our curves (``scores.learning_curves``).
    """
    if last_steps is not None:
        limit = np.array([last_steps.get((d, t), -1) for d, t in zip(published["domain"], published["task"],
                                                                         strict=True)])
        published = published[published["step"].to_numpy() <= limit]
    if published.empty:
        return pd.DataFrame(columns=CURVE_COLUMNS)
    as_evals = published.rename(columns={"baseline": "agent", "source": "variant"})
    as_evals["success"] = as_evals["return"] = as_evals["value"]  # scores.with_score reads the task's metric
    curves = scores.learning_curves(as_evals, reps=reps, conf=conf, seed=seed)
    curves = curves.rename(columns={"agent": "baseline", "variant": "source"})
    curves["protocol"] = [protocol(s, d, b) for s, d, b in zip(curves["source"], curves["domain"], curves["baseline"],
                                                               strict=True)]
    return curves[CURVE_COLUMNS]


def values_at(published: pd.DataFrame, our_steps: Mapping[tuple[str, str], int], reps: int = 2000,
              conf: float = 0.95, seed: int = 0) -> pd.DataFrame:
    """Each source's value on our tasks at our last evaluated step (``VALUE_COLUMNS``).

    Read at their last published step at or before ``our_steps[(domain, task)]``: mean over the seeds
    published at that step, with a bootstrap CI. A task with no published step that early gets a row
    with ``step`` and the values empty.
    """
    rows = []
    for (domain, task, metric, name, source), g in published.groupby(
            ["domain", "task", "task_metric", "baseline", "source"], sort=True):
        if (domain, task) not in our_steps:
            continue
        ours = int(our_steps[(domain, task)])
        earlier = g[g["step"] <= ours]
        step, m, lo, hi, n = np.nan, np.nan, np.nan, np.nan, 0
        if len(earlier):
            step = int(earlier["step"].max())
            values = earlier.loc[earlier["step"] == step, "value"].to_numpy()
            m, lo, hi = bootstrap_ci(values, reps=reps, conf=conf, seed=seed)
            n = int(np.isfinite(values).sum())
        rows.append((domain, task, metric, name, source, codebase(source), protocol(source, domain, name), ours,
                     step, n, m, lo, hi))
    return pd.DataFrame(rows, columns=VALUE_COLUMNS)


def codebase(source: str) -> str:
    """How tables mark a source: it is another codebase with another protocol."""
    return f"{SOURCES[source].repo} (other codebase and protocol)"


def protocol(source: str, domain: str, baseline: str) -> str:
    """A few words on how ``source`` ran ``domain``; ``*`` where they describe another algorithm than ``baseline``."""
    s = SOURCES[source]
    words = s.protocols.get(domain, "protocol not described")
    own = s.algos.get(s.own_algo) if s.own_algo else None
    return words if own is not None and baseline == f"{own}, {s.repo}" else f"{words}*"


def legend_label(curves: pd.DataFrame) -> str:
    """``"SAC, TD-MPC2 repo (Meta-World v2, goal per episode*, 3 seeds)"`` for one baseline's curves of one figure.

    Seeds: the most any step has, per task; a range when tasks differ.
    """
    per_task = curves.groupby(["domain", "task"])["n_seeds"].max()
    lo, hi = int(per_task.min()), int(per_task.max())
    seeds = f"{lo} seeds" if lo == hi else f"{lo}-{hi} seeds"
    protocols = ", ".join(dict.fromkeys(curves["protocol"]))
    return f"{curves['baseline'].iloc[0]} ({protocols}, {seeds})"


def step_notes(sources: Iterable[str]) -> list[str]:
    """What the step axis of each source counts, for a figure's or a table's note."""
    return [SOURCES[s].step_axis for s in dict.fromkeys(sources)]


def _check_source(source: str) -> None:
    if source not in SOURCES:
        raise ValueError(f"unknown baseline source {source!r}; valid choices: {', '.join(SOURCES)}")


def _require(path: Path) -> Path:
    if not path.exists():
        raise FileNotFoundError(f"baseline data {path} does not exist (see {BASELINES_DIR / 'README.md'})")
    return path


def _read_tdmpc2(folder: Path) -> pd.DataFrame:
    source = SOURCES["tdmpc2"]
    frames = []
    for algo, algo_name in source.algos.items():
        files = sorted(_require(folder / algo).glob("*.csv"))
        for path in files:
            df = pd.read_csv(path)
            value_cols = [c for c in _TDMPC2_METRICS if c in df.columns]
            if len(value_cols) != 1 or not {"step", "seed"} <= set(df.columns):
                raise ValueError(f"{path}: expected columns step, seed and one of {', '.join(_TDMPC2_METRICS)}; "
                                 f"got {', '.join(df.columns)}")
            col = value_cols[0]
            if col == "success" and not df[col].between(0.0, 1.0).all():
                raise ValueError(f"{path}: success values outside [0, 1] (a percentage?); expected fractions")
            ours = source_to_ours("tdmpc2", path.stem)
            frames.append(pd.DataFrame({
                "domain": ours[0], "task": ours[1], "task_metric": _TDMPC2_METRICS[col],
                "baseline": f"{algo_name}, {source.repo}", "source": "tdmpc2", "algo": algo,
                "source_task": path.stem, "seed": df["seed"], "step": df["step"], "value": df[col].astype(float)}))
    return pd.concat(frames, ignore_index=True)


def _read_simbav2(folder: Path) -> pd.DataFrame:
    source = SOURCES["simbav2"]
    path = _require(folder / "sac.csv")
    df = pd.read_csv(path)
    missing = {"exp_name", "env_name", "seed", "metric", "env_step", "value"} - set(df.columns)
    if missing:
        raise ValueError(f"{path}: lacks column(s) {', '.join(sorted(missing))}")
    df = df[df["metric"] == _SIMBAV2_METRIC]
    mapped = [source_to_ours("simbav2", n) for n in df["env_name"]]
    keep = np.array([m is not None for m in mapped], dtype=bool)
    df, mapped = df[keep], [m for m in mapped if m is not None]
    return pd.DataFrame({
        "domain": [m[0] for m in mapped], "task": [m[1] for m in mapped], "task_metric": "return",
        "baseline": f"{source.algos['sac']}, {source.repo}", "source": "simbav2", "algo": "sac",
        "source_task": df["env_name"].to_numpy(), "seed": df["seed"].to_numpy(),
        "step": df["env_step"].round().to_numpy(), "value": df["value"].astype(float).to_numpy()})


_READERS = {"tdmpc2": _read_tdmpc2, "simbav2": _read_simbav2}
