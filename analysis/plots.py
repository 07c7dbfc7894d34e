"""The report's figures (matplotlib). Each function returns a Figure; ``save`` writes PNG and PDF.

In a notebook the figures show inline; ``python -m analysis.report`` uses the same functions.
"""

from __future__ import annotations

import math
import textwrap
from collections.abc import Sequence
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.ticker import FuncFormatter

from ace.timing import PHASES
from analysis.baselines import UNDOCUMENTED, legend_label, step_notes
from analysis.stats import bootstrap_ci

VARIANT_COLORS = {"ACE": "#d62728", "SAC": "#1f77b4", "TD3": "#2ca02c", "ACE causal-only": "#ff7f0e",
                  "ACE reset-only": "#9467bd"}
#: Published baselines (analysis.baselines): dash-dot with markers at their published steps, so they never
#: read as one of our agents.
BASELINE_STYLES = {"TD-MPC2, TD-MPC2 repo": ("#17becf", "^"), "SAC, TD-MPC2 repo": ("#7f7f7f", "s"),
                   "SAC, SimbaV2 repo": ("#bcbd22", "D")}
ABLATION_ORDER = ["ACE", "ACE causal-only", "ACE reset-only", "SAC", "TD3"]
# With agent.causal.delay > 0 a fit runs beside training; what the loop spends on it is the wait.
PHASE_LABELS = {"causal": "causal (training waits)"}
PHASE_COLORS = {"env": "#8c564b", "act": "#e377c2", "update": "#1f77b4", "causal": "#d62728", "eval": "#2ca02c",
                "checkpoint": "#7f7f7f"}


def agent_colors(agents: pd.DataFrame) -> dict[str, str]:
    """A fixed color per agent label: the paper variants keep theirs, other labels take the cycle."""
    cycle = iter(plt.rcParams["axes.prop_cycle"].by_key()["color"][5:] * 10)
    colors, used = {}, set()
    for agent, variant in agents[["agent", "variant"]].drop_duplicates().itertuples(index=False):
        c = VARIANT_COLORS.get(variant)
        colors[agent] = c if c and c not in used else next(cycle)
        used.add(colors[agent])
    return colors


def _grid(n: int, ncols: int = 4, size: tuple[float, float] = (3.6, 2.8)) -> tuple[plt.Figure, np.ndarray]:
    ncols = max(1, min(ncols, n))
    nrows = math.ceil(n / ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(size[0] * ncols, size[1] * nrows), squeeze=False)
    for ax in axes.ravel()[n:]:
        ax.set_visible(False)
    return fig, axes.ravel()


def _metric_label(metric: str) -> str:
    return "success rate" if metric == "success" else "episode return"


def learning_curves(curves: pd.DataFrame, domain: str, paper: pd.DataFrame | None = None,
                    conf: float = 0.95, baselines: pd.DataFrame | None = None, title: str | None = None) -> plt.Figure:
    """One panel per task of ``domain``: mean over seeds and its bootstrap band, per agent.

    Dashed lines are the paper's final values (at the paper's budget, which may be longer than
    these runs) in the matching variant's color. ``baselines`` (``analysis.baselines.baseline_curves``):
    published curves of other codebases, dash-dot, on the panels of the tasks and metric they match,
    in a legend of their own that says what their step axis counts.
    """
    d = curves[curves["domain"] == domain]
    if d.empty:
        raise ValueError(f"no curves for domain {domain!r}; domains: {sorted(curves['domain'].unique())}")
    refs = baselines[baselines["domain"] == domain] if baselines is not None else None
    ref_labels = {name: legend_label(g) for name, g in refs.groupby("baseline")} if refs is not None else {}
    tasks = sorted(d["task"].unique())
    colors = agent_colors(curves)
    fig, axes = _grid(len(tasks))
    for ax, task in zip(axes, tasks, strict=False):
        t = d[d["task"] == task]
        for agent, g in t.groupby("agent", sort=True):
            g = g.sort_values("step")
            n = int(g["n_seeds"].max())
            ax.plot(g["step"], g["mean"], color=colors[agent], label=f"{agent} (n={n})")
            ax.fill_between(g["step"], g["ci_low"], g["ci_high"], color=colors[agent], alpha=0.2, linewidth=0)
        if paper is not None:
            ref = paper[(paper["domain"] == domain) & (paper["task"] == task)]
            for agent, variant in t[["agent", "variant"]].drop_duplicates().itertuples(index=False):
                for value in ref.loc[ref["variant"] == variant, "value"]:
                    ax.axhline(value, color=colors[agent], linestyle="--", linewidth=1, alpha=0.8)
        metric = t["task_metric"].iloc[0]
        if refs is not None:
            mine = refs[(refs["task"] == task) & (refs["task_metric"] == metric)]
            for name, g in mine.groupby("baseline", sort=True):
                _reference_curve(ax, g.sort_values("step"), ref_labels[name])
        ax.set_title(task)
        ax.set_xlabel("env steps")
        ax.xaxis.set_major_formatter(FuncFormatter(_steps_label))
        ax.set_ylabel(_metric_label(metric))
        if metric == "success":
            ax.set_ylim(-0.03, 1.03)
        ax.grid(alpha=0.3)
    entries = _legend_entries(axes)
    ours = [(h, lab) for lab, h in entries.items() if lab not in ref_labels.values()]
    if paper is not None:
        ours.append((plt.Line2D([], [], color="black", linestyle="--", linewidth=1), "paper, final (its budget)"))
    fig.legend(*zip(*ours, strict=True), loc="lower center", ncol=min(6, len(ours)), frameon=False,
               bbox_to_anchor=(0.5, -0.02))
    drawn = [(h, lab) for lab, h in entries.items() if lab in ref_labels.values()]
    if drawn:
        notes = ["Dash-dot: published by other codebases under their own protocols (never in our statistics), "
                 "at the step they logged, not rescaled.", *step_notes(refs["source"])]
        if any("*" in lab for _, lab in drawn):
            notes.append(UNDOCUMENTED)
        width = max(60, int(18 * fig.get_figwidth()))  # characters of 7-point text across the figure
        legend_title = "\n".join(textwrap.fill(n, width, subsequent_indent="  ") for n in notes)
        ncol = min(len(drawn), len(tasks), 3)  # about one entry per panel width
        fig.legend(*zip(*drawn, strict=True), loc="upper center", ncol=ncol, frameon=False, fontsize=8,
                   title=legend_title, title_fontsize=7, bbox_to_anchor=(0.5, 0.0))
    fig.suptitle(f"{title or domain}: mean over seeds, {int(conf * 100)}% bootstrap band")
    fig.tight_layout(rect=(0, 0.06, 1, 1))
    return fig


def _steps_label(x: float, _pos: int) -> str:
    """``250k``, ``1.5M``: step ticks that stay apart on narrow panels."""
    if abs(x) >= 1e6:
        return f"{x / 1e6:g}M"
    return f"{x / 1e3:g}k" if abs(x) >= 1e3 else f"{x:g}"


def _reference_curve(ax: plt.Axes, g: pd.DataFrame, label: str) -> None:
    """A published curve: mean over its seeds, and its band where it has more than one seed."""
    color, marker = BASELINE_STYLES.get(g["baseline"].iloc[0], ("black", "o"))
    # Below our curves (zorder 2); at most about a dozen markers on densely published curves.
    ax.plot(g["step"], g["mean"], color=color, linestyle="-.", linewidth=1.2, marker=marker, markersize=3,
            markevery=max(1, len(g) // 12), label=label, zorder=1.9)
    band = g[g["n_seeds"] > 1]
    ax.fill_between(band["step"], band["ci_low"], band["ci_high"], color=color, alpha=0.12, linewidth=0, zorder=0.9)


def _legend_entries(axes: Sequence[plt.Axes]) -> dict[str, object]:
    """Legend handles by label over all panels (a label missing from the first panel still shows)."""
    entries: dict[str, object] = {}
    for ax in axes:
        for handle, label in zip(*ax.get_legend_handles_labels(), strict=True):
            entries.setdefault(label, handle)
    return entries


def aggregate_intervals(agg: pd.DataFrame, by: str = "suite", conf: float = 0.95) -> plt.Figure:
    """rliable-style interval plot: mean and IQM per group (columns) and agent (rows)."""
    groups = sorted(agg[by].unique())
    stats = ["mean", "iqm"]
    colors = agent_colors(agg)
    agents = sorted(agg["agent"].unique(), key=_ablation_key(agg))
    fig, axes = plt.subplots(len(stats), len(groups), figsize=(3.4 * len(groups), 0.5 * len(agents) * 2 + 1.8),
                             squeeze=False)
    for j, group in enumerate(groups):
        for i, stat in enumerate(stats):
            ax = axes[i, j]
            a = agg[(agg[by] == group) & (agg["statistic"] == stat)].set_index("agent")
            for y, agent in enumerate(agents):
                if agent not in a.index:
                    continue
                r = a.loc[agent]
                ax.plot([r["ci_low"], r["ci_high"]], [y, y], color=colors[agent], linewidth=6, alpha=0.5,
                        solid_capstyle="butt")
                ax.plot([r["value"]], [y], "|", color="black", markersize=12)
            ax.set_yticks(range(len(agents)), agents if j == 0 else [""] * len(agents))
            ax.set_ylim(-0.7, len(agents) - 0.3)
            ax.set_title(f"{group}: {stat.upper() if stat == 'iqm' else 'Mean'}")
            ax.set_xlabel("normalized score")
            ax.grid(axis="x", alpha=0.3)
    fig.suptitle(f"Aggregates over tasks and seeds, {int(conf * 100)}% stratified bootstrap CIs")
    fig.tight_layout()
    return fig


def normalized_bars(agg: pd.DataFrame, paper_agg: pd.DataFrame | None = None, by: str = "suite") -> plt.Figure:
    """Figure-1 style: mean normalized score per group, one bar per agent, CI as error bars.

    Black ticks mark the paper's values computed the same way from its per-task final numbers.
    """
    a = agg[agg["statistic"] == "mean"]
    groups = sorted(a[by].unique())
    agents = sorted(a["agent"].unique(), key=_ablation_key(a))
    colors = agent_colors(a)
    width = 0.8 / len(agents)
    fig, ax = plt.subplots(figsize=(max(5.0, 1.6 * len(groups) * max(1, len(agents) / 2)), 3.8))
    for k, agent in enumerate(agents):
        r = a[a["agent"] == agent].set_index(by).reindex(groups)
        x = np.arange(len(groups)) + (k - (len(agents) - 1) / 2) * width
        err = np.vstack([r["value"] - r["ci_low"], r["ci_high"] - r["value"]])
        ax.bar(x, r["value"], width=width * 0.95, color=colors[agent], label=agent, yerr=err.tolist(), capsize=3)
        if paper_agg is not None:
            variant = a.loc[a["agent"] == agent, "variant"].iloc[0]
            p = paper_agg[paper_agg["variant"] == variant].set_index(by)["value"].reindex(groups)
            ax.scatter(x, p, marker="_", s=300, color="black", zorder=3,
                       label="paper (same normalization)" if k == 0 else None)
    ax.set_xticks(range(len(groups)), groups)
    ax.set_ylabel("normalized score (mean)")
    ax.grid(axis="y", alpha=0.3)
    ax.legend(frameon=False, fontsize=8, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    ax.set_title("Normalized score per domain (mean over tasks; CI: stratified bootstrap)")
    fig.tight_layout()
    return fig


def ablation(final: pd.DataFrame, conf: float = 0.95, reps: int = 2000, seed: int = 0) -> plt.Figure:
    """Final score per task for every variant (ACE, its causal-only / reset-only ablations, SAC, TD3)."""
    tasks = final[["domain", "task", "task_metric"]].drop_duplicates().sort_values(["domain", "task"])
    variants = [v for v in ABLATION_ORDER if v in set(final["variant"])] + sorted(
        set(final["variant"]) - set(ABLATION_ORDER))
    colors = {v: VARIANT_COLORS.get(v, "#7f7f7f") for v in variants}
    fig, axes = _grid(len(tasks), ncols=4, size=(3.4, 2.8))
    for ax, (domain, task, metric) in zip(axes, tasks.itertuples(index=False), strict=False):
        t = final[(final["domain"] == domain) & (final["task"] == task)]
        for k, v in enumerate(variants):
            s = t.loc[t["variant"] == v, "score"].to_numpy()
            if s.size == 0:
                continue
            m, lo, hi = bootstrap_ci(s, reps=reps, conf=conf, seed=seed)
            ax.bar(k, m, color=colors[v], yerr=[[m - lo], [hi - m]], capsize=3)
            ax.scatter(np.full(s.size, k), s, color="black", s=8, zorder=3)
        ax.set_xticks(range(len(variants)), [v.replace("ACE ", "") for v in variants], rotation=30, fontsize=8)
        ax.set_title(f"{domain}/{task}", fontsize=9)
        ax.set_ylabel(_metric_label(metric))
        if metric == "success":
            ax.set_ylim(0, 1.05)
        ax.grid(axis="y", alpha=0.3)
    fig.suptitle(f"Ablations: final score, mean over seeds (dots) with {int(conf * 100)}% bootstrap CI")
    fig.tight_layout()
    return fig


def causal_weights(weights: pd.DataFrame, train: pd.DataFrame, resets: pd.DataFrame | None,
                   title: str = "") -> plt.Figure:
    """ACE's diagnostics on one time axis: causal weight per action dimension, dormancy, resets.

    ``weights``/``train``/``resets`` are the wide tables of one (task, agent), any number of seeds:
    lines are the mean over seeds, the band spans the seeds' min to max.
    """
    # Tables of several tasks carry all-NaN w<i> for the dimensions a task does not have.
    wcols = sorted((c for c in weights.columns if c.startswith("w") and c[1:].isdigit() and weights[c].notna().any()),
                   key=lambda c: int(c[1:]))
    if not wcols:
        raise ValueError("causal weights table has no w<i> columns")
    fig, (ax_w, ax_d) = plt.subplots(2, 1, figsize=(8, 5.5), sharex=True, height_ratios=[2, 1])
    cmap = plt.get_cmap("tab10" if len(wcols) <= 10 else "tab20")
    by_step = weights.groupby("step")[wcols]
    mean, lo, hi = by_step.mean(), by_step.min(), by_step.max()
    for i, c in enumerate(wcols):
        color = cmap(i % cmap.N)
        ax_w.plot(mean.index, mean[c], color=color, marker="o", markersize=3, label=f"a{c[1:]}")
        ax_w.fill_between(mean.index, lo[c], hi[c], color=color, alpha=0.15, linewidth=0)
    ax_w.axhline(1.0, color="black", linewidth=0.8, linestyle=":")
    ax_w.set_ylabel("causal weight (sum = |A|)")
    ax_w.legend(ncol=min(8, len(wcols)), fontsize=7, frameon=False, loc="upper left")
    if "dormancy" in train.columns and train["dormancy"].notna().any():
        d = train.groupby("step")["dormancy"]
        ax_d.plot(d.mean().index, d.mean(), color="black", label="gradient dormancy ratio")
        ax_d.fill_between(d.mean().index, d.min(), d.max(), color="black", alpha=0.15, linewidth=0)
    if resets is not None and len(resets):
        applied = resets[resets["applied"].astype(bool)] if "applied" in resets.columns else resets
        for k, step in enumerate(sorted(applied["step"].unique())):
            for ax in (ax_w, ax_d):
                ax.axvline(step, color="#9467bd", linewidth=0.8, alpha=0.6,
                           label="soft reset" if (k == 0 and ax is ax_d) else None)
    ax_d.set_ylabel("dormancy")
    ax_d.set_xlabel("env steps")
    ax_d.legend(fontsize=7, frameon=False, loc="upper left")
    for ax in (ax_w, ax_d):
        ax.grid(alpha=0.3)
    n = weights["seed"].nunique() if "seed" in weights.columns else 1
    fig.suptitle(f"{title} causal weights and dormancy (mean of {n} seed(s); band: min-max)")
    fig.tight_layout()
    return fig


def wallclock(train: pd.DataFrame, shares: pd.DataFrame | None = None) -> plt.Figure:
    """Left: env steps/s over training per agent. Right: where the time went, per agent (share of phases)."""
    colors = agent_colors(train)
    fig, (ax_s, ax_p) = plt.subplots(1, 2, figsize=(11, 3.8))
    for agent, g in train.groupby("agent"):
        s = g.groupby("step")["steps_per_sec"]
        ax_s.plot(s.mean().index, s.mean(), color=colors[agent], label=agent)
        ax_s.fill_between(s.mean().index, s.min(), s.max(), color=colors[agent], alpha=0.15, linewidth=0)
    ax_s.set_xlabel("env steps")
    ax_s.set_ylabel("env steps / s (this launch)")
    ax_s.grid(alpha=0.3)
    ax_s.legend(frameon=False, fontsize=8)
    shares = phase_seconds(train) if shares is None else shares
    agents = list(shares.index)
    left = np.zeros(len(agents))
    for p in PHASES:
        if f"{p}_s" not in shares.columns:
            continue
        v = shares[f"{p}_s"].to_numpy()
        ax_p.barh(agents, v, left=left, color=PHASE_COLORS[p], label=PHASE_LABELS.get(p, p))
        left += v
    ax_p.set_xlabel("seconds per 1k env steps (mean over runs)")
    ax_p.legend(frameon=False, fontsize=8, ncol=3)
    ax_p.grid(axis="x", alpha=0.3)
    fig.suptitle("Wall-clock: throughput, and time in env / acting / updates / causal discovery / eval")
    fig.tight_layout()
    return fig


def phase_seconds(train: pd.DataFrame) -> pd.DataFrame:
    """Seconds per 1000 env steps spent in each phase, per agent (from each run's last train row)."""
    cols = [f"{p}_s" for p in PHASES if f"{p}_s" in train.columns]
    if not cols:
        raise ValueError("train.csv has no phase timing columns (env_s, update_s, ...); runs predate them")
    last = train.sort_values("step").groupby("run").tail(1)
    per_k = last[cols].div(last["step"] / 1000.0, axis=0)
    per_k["agent"] = last["agent"].to_numpy()
    return per_k.groupby("agent")[cols].mean()


def save(fig: plt.Figure, path: str | Path, formats: Sequence[str] = ("png", "pdf"), dpi: int = 120) -> list[Path]:
    """Write ``path.<fmt>`` for each format; returns the files written."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    written = []
    for fmt in formats:
        out = path.with_suffix(f".{fmt}")
        fig.savefig(out, dpi=dpi, bbox_inches="tight")
        written.append(out)
    return written


def _ablation_key(df: pd.DataFrame):
    variant = dict(df[["agent", "variant"]].drop_duplicates().itertuples(index=False))

    def key(agent: str) -> tuple[int, str]:
        v = variant.get(agent, "")
        return (ABLATION_ORDER.index(v) if v in ABLATION_ORDER else len(ABLATION_ORDER), agent)
    return key

