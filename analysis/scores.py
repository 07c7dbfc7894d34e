"""From evaluation rows to the numbers a paper reports: curves, final scores, aggregates, the table.

Every function takes the wide eval table of ``analysis.runs.load_table(root, "eval")``. A run is
judged by its task's metric (``success`` rate for success tasks, episode ``return`` otherwise), as
in the ACE paper.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from analysis.reference import suite_of
from analysis.stats import STATISTICS, bootstrap_ci, probability_of_improvement, stratified_bootstrap_ci

TASK_KEYS = ["domain", "task", "task_metric"]
AGENT_KEYS = ["agent", "variant"]
RETURN_NORMALIZERS = ("best", "paper")


def with_score(evals: pd.DataFrame) -> pd.DataFrame:
    """Add ``score``: the eval column named by each run's task metric."""
    out = evals.copy()
    bad = set(out["task_metric"]) - {"success", "return"}
    if bad:
        raise ValueError(f"unknown task metric(s) {sorted(bad)}; expected success or return")
    out["score"] = np.where(out["task_metric"] == "success", out["success"], out["return"]).astype(float)
    return out


def as_returns(evals: pd.DataFrame) -> pd.DataFrame:
    """The same evaluations judged by episode return, whatever the task's metric.

    At small budgets every agent's success rate is often 0 while their returns differ: the return
    curves and tables of success tasks show what the success rate cannot.
    """
    return evals.assign(task_metric="return")


def learning_curves(evals: pd.DataFrame, reps: int = 1000, conf: float = 0.95, seed: int = 0) -> pd.DataFrame:
    """Mean score over seeds at every evaluation step, with a percentile bootstrap band over seeds."""
    rows = []
    for key, g in with_score(evals).groupby([*TASK_KEYS, *AGENT_KEYS, "step"], sort=True):
        m, lo, hi = bootstrap_ci(g["score"].to_numpy(), reps=reps, conf=conf, seed=seed)
        rows.append((*key, m, lo, hi, g["score"].notna().sum()))
    return pd.DataFrame(rows, columns=[*TASK_KEYS, *AGENT_KEYS, "step", "mean", "ci_low", "ci_high", "n_seeds"])


def final_scores(evals: pd.DataFrame, last_evals: int = 1) -> pd.DataFrame:
    """One score per run: the mean of its last ``last_evals`` evaluations (1 = the final one)."""
    if last_evals < 1:
        raise ValueError(f"last_evals must be >= 1, got {last_evals}")
    scored = with_score(evals).sort_values("step")
    keys = ["run", *TASK_KEYS, *AGENT_KEYS, "seed", "budget"]
    tail = scored.groupby("run", sort=False).tail(last_evals)
    out = tail.groupby(keys, sort=True).agg(score=("score", "mean"), step=("step", "max")).reset_index()
    out["suite"] = out["domain"].map(suite_of)
    return out


def results_table(final: pd.DataFrame, paper: pd.DataFrame | None = None, reps: int = 2000, conf: float = 0.95,
                  seed: int = 0) -> pd.DataFrame:
    """Final performance per task and agent: mean over seeds with a bootstrap CI, next to the paper."""
    rows = []
    for key, g in final.groupby([*TASK_KEYS, *AGENT_KEYS], sort=True):
        m, lo, hi = bootstrap_ci(g["score"].to_numpy(), reps=reps, conf=conf, seed=seed)
        n = int(np.isfinite(g["score"]).sum())  # seeds that enter the mean
        rows.append((*key, n, int(g["step"].min()), int(g["budget"].max()), m, lo, hi))
    table = pd.DataFrame(rows, columns=[*TASK_KEYS, *AGENT_KEYS, "n_seeds", "step", "budget", "mean", "ci_low",
                                        "ci_high"])
    table["paper"] = np.nan
    if paper is not None and len(table):
        ref = paper.set_index(["domain", "task", "variant"])["value"]
        table["paper"] = [ref.get((d, t, v), np.nan)
                          for d, t, v in zip(table["domain"], table["task"], table["variant"], strict=True)]
    return table


def normalized_scores(final: pd.DataFrame, paper: pd.DataFrame | None = None,
                      return_normalizer: str = "best") -> pd.DataFrame:
    """Scores on a 0-100 scale so that tasks can be pooled.

    Success rates become percentages. Returns have no common scale, and the paper does not say how
    its Figure 1 normalises them, so they are divided by a per-task reference: ``best`` (the best
    agent's mean final return on that task in these runs) or ``paper`` (the paper's ACE return).
    """
    _check_normalizer(return_normalizer)
    out = final.copy()
    ref = out.groupby(["domain", "task", "agent"])["score"].mean().groupby(["domain", "task"]).max()
    if return_normalizer == "paper":
        if paper is None:
            raise ValueError("return_normalizer='paper' needs the paper results (analysis.reference)")
        ace = paper[paper["variant"] == "ACE"].set_index(["domain", "task"])["value"]
        ref = pd.Series({k: ace.get(k, np.nan) for k in ref.index}, dtype=float)
    out["normalized"] = _to_percent(out, out["score"], out["task_metric"], ref)
    return out


def _check_normalizer(return_normalizer: str) -> None:
    if return_normalizer not in RETURN_NORMALIZERS:
        raise ValueError(f"return_normalizer={return_normalizer!r}; valid choices: {', '.join(RETURN_NORMALIZERS)}")


def _to_percent(rows: pd.DataFrame, values: pd.Series, metric: pd.Series, ref: pd.Series) -> np.ndarray:
    """Success rates in %, returns in % of their task's reference (``ref`` by (domain, task)); NaN
    where the reference is missing or zero."""
    denom = np.array([ref.get((d, t), np.nan) for d, t in zip(rows["domain"], rows["task"], strict=True)])
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(metric == "success", 100.0 * values,
                        np.where(np.abs(denom) > 0, 100.0 * values / np.abs(denom), np.nan))


def aggregate(normalized: pd.DataFrame, by: str = "suite", reps: int = 2000, conf: float = 0.95,
              seed: int = 0) -> pd.DataFrame:
    """Mean over tasks and pooled IQM of normalized scores per group and agent, stratified bootstrap CIs."""
    rows = []
    for (group, agent, variant), g in normalized.groupby([by, *AGENT_KEYS], sort=True):
        per_task = {t: s["normalized"].to_numpy() for t, s in g.groupby(["domain", "task"])}
        for name in STATISTICS:
            m, lo, hi = stratified_bootstrap_ci(per_task, name, reps=reps, conf=conf, seed=seed)
            rows.append((group, agent, variant, name, m, lo, hi, len(per_task), len(g)))
    return pd.DataFrame(rows, columns=[by, *AGENT_KEYS, "statistic", "value", "ci_low", "ci_high", "n_tasks",
                                       "n_runs"])


def paper_aggregate(paper: pd.DataFrame, tasks: pd.DataFrame, by: str = "suite",
                    return_normalizer: str = "best") -> pd.DataFrame:
    """The paper's mean normalized score per group and variant, over the tasks present in ``tasks``."""
    _check_normalizer(return_normalizer)
    keys = set(zip(tasks["domain"], tasks["task"], strict=True))
    p = paper[[k in keys for k in zip(paper["domain"], paper["task"], strict=True)]].copy()
    if p.empty:
        return pd.DataFrame(columns=[by, "variant", "value", "n_tasks"])
    if return_normalizer == "best":
        ref = p.groupby(["domain", "task"])["value"].max()
    else:
        ref = p[p["variant"] == "ACE"].set_index(["domain", "task"])["value"]
    p["normalized"] = _to_percent(p, p["value"], p["metric"], ref)
    p["suite"] = p["domain"].map(suite_of)
    return (p.groupby([by, "variant"]).agg(value=("normalized", "mean"), n_tasks=("task", "size"))
            .reset_index())


def steps_to_threshold(evals: pd.DataFrame, thresholds: dict[tuple[str, str], float]) -> pd.DataFrame:
    """The first evaluated step at which each run's score reaches its task's threshold, per task and agent.

    ``thresholds`` maps (domain, task) to a score. Per task and agent: how many seeds reached it, and
    the lower median over seeds of their first step (always a step that was evaluated), with a seed
    that never reached it counted as never: NaN unless at least half the seeds reached it.
    """
    rows = []
    scored = with_score(evals)
    for (domain, task, metric, agent, variant), g in scored.groupby([*TASK_KEYS, *AGENT_KEYS], sort=True):
        if (domain, task) not in thresholds:
            continue
        level = thresholds[(domain, task)]
        firsts = []
        for _, run in g.sort_values("step").groupby("run", sort=True):
            hit = run.loc[run["score"] >= level, "step"]
            firsts.append(float(hit.iloc[0]) if len(hit) else np.inf)
        median = sorted(firsts)[(len(firsts) - 1) // 2]
        rows.append((domain, task, metric, agent, variant, level, sum(np.isfinite(firsts)), len(firsts),
                     median if np.isfinite(median) else np.nan))
    return pd.DataFrame(rows, columns=[*TASK_KEYS, *AGENT_KEYS, "threshold", "n_reached", "n_seeds",
                                       "median_step"])


def improvement_table(final: pd.DataFrame, reps: int = 2000, conf: float = 0.95, seed: int = 0) -> pd.DataFrame:
    """P(X > Y) for every ordered pair of agents over the tasks both ran, with a stratified bootstrap CI.

    ``final``: ``final_scores`` (judged by the tasks' metrics, or by return after ``as_returns``).
    """
    per_agent = {agent: {t: s["score"].to_numpy() for t, s in g.groupby(["domain", "task"])}
                 for agent, g in final.groupby("agent", sort=True)}
    rows = []
    for x, xs in per_agent.items():
        for y, ys in per_agent.items():
            common = [t for t in xs if t in ys]
            if x == y or not common:
                continue
            p, lo, hi = probability_of_improvement(xs, ys, reps=reps, conf=conf, seed=seed)
            rows.append((x, y, p, lo, hi, len(common)))
    return pd.DataFrame(rows, columns=["x", "y", "p_x_beats_y", "ci_low", "ci_high", "n_tasks"])
