"""Figures and tables of a results folder, without Jupyter.

    python -m analysis.report runs/ace29_paper --out reports/ace29

writes learning curves per domain, aggregate scores (mean and IQM with stratified bootstrap CIs),
the normalized-score bar chart, ablations, causal-weight diagnostics, wall-clock figures, the
results table (CSV/Markdown/LaTeX), a poster frame per task and agent of the runs' evaluation videos
and ``index.md`` linking them. ``analysis/notebooks/results.ipynb``
shows the same, inline. Where a task matches, curves and table also show the learning curves other
codebases published (``analysis.baselines``; ``--baselines none`` leaves them out).
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from ace.files import atomic_write_text
from analysis import baselines as published_baselines
from analysis import plots, scores
from analysis.reference import PAPER_CSV, load_paper_results
from analysis.runs import load_table, run_index
from analysis.tables import BASELINE_NOTE, display_table, to_markdown, write_results
from analysis.videos import VIDEO_COLUMNS, latest_videos, video_markdown, write_posters


@dataclass
class Report:
    """Everything the report shows: the tables, and the figures by file stem."""

    runs: pd.DataFrame
    curves: pd.DataFrame
    final: pd.DataFrame
    results: pd.DataFrame
    aggregates: pd.DataFrame
    paper_aggregates: pd.DataFrame | None
    phase_seconds: pd.DataFrame | None
    figures: dict = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    #: Published curves of other codebases on our tasks (analysis.baselines), never in the statistics above.
    baseline_curves: pd.DataFrame | None = None
    baseline_results: pd.DataFrame | None = None
    #: Each run's latest evaluation video (``analysis.videos.latest_videos``).
    videos: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=VIDEO_COLUMNS))
    #: Success tasks judged by episode return: curves, final table (empty when no task is a success task).
    return_curves: pd.DataFrame | None = None
    return_results: pd.DataFrame | None = None
    #: Aggregates of every task judged by return, each divided by its best agent's mean final return.
    return_aggregates: pd.DataFrame | None = None
    #: P(X > Y) per ordered pair of agents, by the tasks' metrics and by return (``scores.improvement_table``).
    improvement: pd.DataFrame | None = None
    #: First step at which each agent's seeds reach a score (``scores.steps_to_threshold``), by metric and by return.
    thresholds: pd.DataFrame | None = None


def _optional(root: Path, source: str, index: pd.DataFrame) -> pd.DataFrame | None:
    try:
        return load_table(root, source, index)
    except FileNotFoundError:
        return None


def build_report(root: str | Path, paper_csv: str | Path | None = PAPER_CSV, reps: int = 2000, conf: float = 0.95,
                 last_evals: int = 1, return_normalizer: str = "best", seed: int = 0,
                 baselines: str = "all", success_threshold: float = 0.5, return_fraction: float = 0.8) -> Report:
    """Load every run under ``root`` and compute the report's tables and figures.

    ``baselines``: published curves to show beside ours: ``"all"``, ``"none"`` or a comma-separated
    list of sources (``analysis.baselines.SOURCES``). ``success_threshold`` and ``return_fraction``
    define the steps-to-threshold table: a success rate, and a fraction of the best agent's mean final
    return on the task.
    """
    root = Path(root)
    sources = published_baselines.parse_selection(baselines)  # a bad name fails before any run is read
    runs = run_index(root)
    evals = load_table(root, "eval", runs)
    paper = load_paper_results(paper_csv) if paper_csv is not None else None
    curves = scores.learning_curves(evals, reps=reps, conf=conf, seed=seed)
    final = scores.final_scores(evals, last_evals=last_evals)
    results = scores.results_table(final, paper, reps=reps, conf=conf, seed=seed)
    normalized = scores.normalized_scores(final, paper, return_normalizer)
    aggregates = scores.aggregate(normalized, reps=reps, conf=conf, seed=seed)
    paper_agg = (scores.paper_aggregate(paper, final, return_normalizer=return_normalizer)
                 if paper is not None else None)
    report = Report(runs, curves, final, results, aggregates, paper_agg, None, videos=latest_videos(runs))
    _add_returns_and_comparisons(report, evals, reps=reps, conf=conf, seed=seed, last_evals=last_evals,
                                 success_threshold=success_threshold, return_fraction=return_fraction)

    unfinished = runs[~runs["finished"]]
    if len(unfinished):
        report.notes.append(f"{len(unfinished)} of {len(runs)} runs are unfinished; their latest evaluation is used: "
                            + ", ".join(unfinished["run"]))
    diverged = final[~np.isfinite(final["score"])]
    if len(diverged):
        report.notes.append(f"{len(diverged)} run(s) have a non-finite final score and are left out of the "
                            "statistics: " + ", ".join(diverged["run"]))
    if sources:
        _add_baselines(report, sources, reps=reps, conf=conf, seed=seed)
    for domain in sorted(curves["domain"].unique()):
        report.figures[f"curves_{domain}"] = plots.learning_curves(curves, domain, paper, conf=conf,
                                                                   baselines=report.baseline_curves)
        if report.return_curves is not None and domain in set(report.return_curves["domain"]):
            report.figures[f"returns_{domain}"] = plots.learning_curves(
                report.return_curves, domain, conf=conf, title=f"{domain}, success tasks by episode return")
    report.figures["aggregate_intervals"] = plots.aggregate_intervals(aggregates, conf=conf)
    report.figures["normalized_scores"] = plots.normalized_bars(aggregates, paper_agg)
    if final["variant"].nunique() > 1:
        report.figures["ablation"] = plots.ablation(final, conf=conf, reps=reps, seed=seed)

    weights, train, resets = (_optional(root, s, runs) for s in ("causal", "train", "resets"))
    if weights is not None and train is not None:
        for (domain, task, agent), w in weights.groupby(["domain", "task", "agent"]):
            sel = (train["domain"] == domain) & (train["task"] == task) & (train["agent"] == agent)
            r = None
            if resets is not None:
                r = resets[(resets["domain"] == domain) & (resets["task"] == task) & (resets["agent"] == agent)]
            report.figures[f"causal_weights/{domain}__{task}__{agent}"] = plots.causal_weights(
                w, train[sel], r, title=f"{domain}/{task} {agent}:")
    if train is not None:
        try:
            report.phase_seconds = plots.phase_seconds(train)
            report.figures["wallclock"] = plots.wallclock(train, report.phase_seconds)
        except ValueError as e:  # runs logged before the phase timers existed
            report.notes.append(f"wall-clock figure skipped: {e}")
    return report


def _add_returns_and_comparisons(report: Report, evals: pd.DataFrame, reps: int, conf: float, seed: int,
                                 last_evals: int, success_threshold: float, return_fraction: float) -> None:
    """Return curves and table of the success tasks, P(X > Y) and the steps to a threshold (by return
    only where the best agent's final return is positive: a fraction of it is no bar otherwise)."""
    success_tasks = evals[evals["task_metric"] == "success"]
    all_returns = scores.as_returns(evals)
    final_returns = scores.final_scores(all_returns, last_evals=last_evals)
    pairs = [scores.improvement_table(report.final, reps=reps, conf=conf, seed=seed).assign(judged_by="task metric")]
    if len(success_tasks):
        returns = scores.as_returns(success_tasks)
        report.return_curves = scores.learning_curves(returns, reps=reps, conf=conf, seed=seed)
        report.return_results = scores.results_table(scores.final_scores(returns, last_evals=last_evals),
                                                     reps=reps, conf=conf, seed=seed)
        report.return_aggregates = scores.aggregate(scores.normalized_scores(final_returns), reps=reps, conf=conf,
                                                    seed=seed)
        pairs.append(scores.improvement_table(final_returns, reps=reps, conf=conf, seed=seed)
                     .assign(judged_by="return"))
    report.improvement = pd.concat(pairs, ignore_index=True)
    best_return = final_returns.groupby(["domain", "task", "agent"])["score"].mean().groupby(["domain", "task"]).max()
    by_metric = scores.steps_to_threshold(
        evals, {k: success_threshold for k in set(zip(success_tasks["domain"], success_tasks["task"], strict=True))})
    by_return = scores.steps_to_threshold(all_returns,
                                          {k: return_fraction * v for k, v in best_return.items() if v > 0})
    report.thresholds = pd.concat([by_metric.assign(judged_by="success"),
                                   by_return.assign(judged_by=f"return >= {return_fraction:g} x best agent's final")],
                                  ignore_index=True)


def _add_baselines(report: Report, sources: tuple[str, ...], reps: int, conf: float, seed: int) -> None:
    """Published curves of the tasks and metrics of our runs, up to our last step on each task.

    The table reads them at our last evaluated step on the task: the furthest step that every seed
    of an agent reached (the results table's ``step``), over agents.
    """
    matched = published_baselines.match_runs(published_baselines.load_baselines(sources), report.final)
    curve_ends = report.curves.groupby(["domain", "task"])["step"].max().to_dict()
    table_steps = report.results.groupby(["domain", "task"])["step"].max().to_dict()
    report.baseline_curves = published_baselines.baseline_curves(matched, curve_ends, reps=reps, conf=conf, seed=seed)
    report.baseline_results = published_baselines.values_at(matched, table_steps, reps=reps, conf=conf, seed=seed)
    if len(matched):
        shown = matched[["source", "baseline"]].drop_duplicates()
        tasks = matched[["domain", "task"]].drop_duplicates()
        report.notes.append(
            f"published baselines on {len(tasks)} task(s): {'; '.join(shown['baseline'])} - other codebases under "
            "their own protocols and step axes (analysis/reference/baselines/README.md), never in the aggregates")
    else:
        report.notes.append(f"no published baseline ({', '.join(sources)}) matches the tasks of these runs")


def write_report(report: Report, out: str | Path, formats: tuple[str, ...] = ("png", "pdf")) -> list[Path]:
    """Save every figure and table under ``out`` and an ``index.md`` that links them."""
    import matplotlib.pyplot as plt

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    written = write_results(report.results, out, baselines=report.baseline_results)
    runs = report.runs.drop(columns=["run_dir"])  # absolute paths of this machine; "run" is relative to the folder
    for name, table in (("aggregates", report.aggregates), ("curves", report.curves), ("final_scores", report.final),
                        ("runs", runs)):
        atomic_write_text(out / f"{name}.csv", table.to_csv(index=False))
        written.append(out / f"{name}.csv")
    if report.paper_aggregates is not None:
        atomic_write_text(out / "paper_aggregates.csv", report.paper_aggregates.to_csv(index=False))
        written.append(out / "paper_aggregates.csv")
    if report.baseline_curves is not None and len(report.baseline_curves):
        atomic_write_text(out / "baseline_curves.csv", report.baseline_curves.to_csv(index=False))
        written.append(out / "baseline_curves.csv")
    for name, table in (("return_curves", report.return_curves), ("return_aggregates", report.return_aggregates),
                        ("improvement", report.improvement),
                        ("steps_to_threshold", report.thresholds)):
        if table is not None and len(table):
            atomic_write_text(out / f"{name}.csv", table.to_csv(index=False))
            written.append(out / f"{name}.csv")
    if report.return_results is not None:
        written += write_results(report.return_results, out, stem="results_return")
    if report.phase_seconds is not None:
        atomic_write_text(out / "phase_seconds.csv", report.phase_seconds.to_csv())
        written.append(out / "phase_seconds.csv")
    for name, fig in report.figures.items():
        written += plots.save(fig, out / name, formats)
        plt.close(fig)
    posters = write_posters(report.videos, out)
    written += [f for pair in posters.values() for f in pair]
    written.append(_write_index(report, out, formats, posters))
    return written


def _write_index(report: Report, out: Path, formats: tuple[str, ...], posters: dict) -> Path:
    n = report.runs
    agents, seeds = ", ".join(sorted(n["agent"].unique())), ", ".join(map(str, sorted(n["seed"].unique())))
    lines = ["# Results report", "",
             f"{len(n)} runs: {n['domain'].nunique()} domain(s), {n['task'].nunique()} task(s), "
             f"agents {agents}, seeds {seeds}.", ""]
    lines += [f"- {note}" for note in report.notes]
    lines += ["", "## Final performance (mean over seeds [95% bootstrap CI])", "",
              to_markdown(display_table(report.results, baselines=report.baseline_results)),
              BASELINE_NOTE if report.baseline_results is not None and len(report.baseline_results) else "",
              "## Aggregates (normalized scores)", "",
              to_markdown(report.aggregates.round(2))]
    if report.return_results is not None:
        lines += ["## Success tasks by episode return (mean over seeds [95% bootstrap CI])", "",
                  to_markdown(display_table(report.return_results, with_paper=False)),
                  "Aggregates by return (each task's return in % of its best agent's mean final return):", "",
                  to_markdown(report.return_aggregates.round(2))]
    if report.improvement is not None and len(report.improvement):
        lines += ["## Probability of improvement", "",
                  "P(X > Y): the chance that a random run of X ends above a random run of Y on a task (ties count "
                  "half), averaged over the tasks both ran [95% stratified bootstrap CI].", "",
                  to_markdown(improvement_display(report.improvement))]
    if report.thresholds is not None and len(report.thresholds):
        lines += ["## Steps to a threshold", "",
                  "Lower median over seeds of the first evaluated step at which a seed reaches the threshold "
                  "(never: fewer than half the seeds reached it), and how many seeds reached it.", "",
                  to_markdown(threshold_display(report.thresholds))]
    lines += ["## Figures", ""]
    if "png" in formats:
        lines += [f"![{name}]({name}.png)" for name in report.figures]
    else:
        lines += [f"- {name}.{formats[0]}" for name in report.figures]
    lines += ["", "## Videos", "", *video_markdown(report.videos, posters, out)]
    path = out / "index.md"
    atomic_write_text(path, "\n".join(lines) + "\n")
    return path


def improvement_display(table: pd.DataFrame) -> pd.DataFrame:
    """P(X > Y) as ``p [low, high]`` per pair and judgement."""
    return pd.DataFrame({"judged by": table["judged_by"], "X": table["x"], "Y": table["y"],
                         "P(X > Y)": [f"{p:.2f} [{lo:.2f}, {hi:.2f}]" for p, lo, hi in
                                      zip(table["p_x_beats_y"], table["ci_low"], table["ci_high"], strict=True)],
                         "tasks": table["n_tasks"]})


def threshold_display(table: pd.DataFrame) -> pd.DataFrame:
    """Steps to threshold as ``median step (reached/seeds)`` per task, judgement and agent."""
    rows = []
    for (domain, task, judged_by), t in table.groupby(["domain", "task", "judged_by"], sort=True):
        row = {"task": f"{domain}/{task}", "threshold": f"{judged_by}: {t['threshold'].iloc[0]:.3g}"}
        for r in t.itertuples(index=False):
            step = "never" if np.isnan(r.median_step) else f"{int(r.median_step):,}"
            row[r.agent] = f"{step} ({r.n_reached}/{r.n_seeds})"
        rows.append(row)
    agents = list(dict.fromkeys(table.sort_values(["variant", "agent"])["agent"]))  # as in the results table
    return pd.DataFrame(rows).reindex(columns=["task", "threshold", *agents]).fillna("")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m analysis.report", description=__doc__.split("\n\n")[0])
    p.add_argument("runs_dir", type=Path, help="results folder (searched recursively for run folders)")
    p.add_argument("--out", type=Path, required=True, help="report folder to write")
    p.add_argument("--paper", default=str(PAPER_CSV), help="paper results CSV for reference marks ('none' to omit)")
    p.add_argument("--formats", default="png,pdf", help="figure formats, comma-separated (default png,pdf)")
    p.add_argument("--reps", type=int, default=2000, help="bootstrap replicates (default 2000)")
    p.add_argument("--conf", type=float, default=0.95, help="confidence level (default 0.95)")
    p.add_argument("--last-evals", type=int, default=1, help="final score = mean of a run's last N evaluations")
    p.add_argument("--normalize-returns", choices=scores.RETURN_NORMALIZERS, default="best",
                   help="reference that return tasks are divided by: best agent here, or the paper's ACE")
    p.add_argument("--success-threshold", type=float, default=0.5,
                   help="steps-to-threshold table: the success rate to reach (default 0.5)")
    p.add_argument("--return-fraction", type=float, default=0.8,
                   help="steps-to-threshold table: the fraction of the best agent's final return to reach "
                        "(default 0.8)")
    p.add_argument("--baselines", default="all",
                   help="published curves of other codebases to show where tasks match: all (default), none, or "
                        f"a comma-separated list of {', '.join(published_baselines.SOURCES)}")
    args = p.parse_args(argv)
    import matplotlib

    matplotlib.use("Agg")
    try:
        report = build_report(args.runs_dir, None if args.paper == "none" else args.paper, reps=args.reps,
                              conf=args.conf, last_evals=args.last_evals, return_normalizer=args.normalize_returns,
                              baselines=args.baselines, success_threshold=args.success_threshold,
                              return_fraction=args.return_fraction)
    except (FileNotFoundError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    files = write_report(report, args.out, tuple(f for f in args.formats.split(",") if f))
    for note in report.notes:
        print(f"note: {note}")
    print(f"{len(report.runs)} runs -> {len(files)} files in {args.out} (open {args.out / 'index.md'})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
