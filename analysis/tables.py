"""The results table in the three forms papers and READMEs need: CSV (numbers), Markdown, LaTeX.

Cells read ``mean [low, high]``: the bootstrap interval over seeds is asymmetric, so it is shown as
an interval rather than as ``±``. Published baselines (``analysis.baselines.values_at``) come after our
agents and the paper, in columns marked as another codebase, with the step their value was read at.
"""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd

from ace.files import atomic_write_text

CAPTION = "Final performance: mean over seeds [95% bootstrap CI]"
THIS_CODEBASE = "this repository"
OTHER_CODEBASE = "[other codebase]"
#: Said under a table that has baseline columns.
BASELINE_NOTE = (f"Columns marked {OTHER_CODEBASE}: learning curves published by other codebases under their own "
                 "protocols and step axes (analysis/reference/baselines/README.md), read at their last published step "
                 "at or before our last evaluation (the step shown), mean over their seeds [95% bootstrap CI]; "
                 "never part of our aggregates.")


def _fmt(x: float, metric: str) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "–"
    if metric == "success":
        return f"{x:.2f}"
    return f"{x:.0f}" if abs(x) >= 100 else f"{x:.1f}" if abs(x) >= 1 else f"{x:.3g}"


def display_table(table: pd.DataFrame, with_paper: bool = True, baselines: pd.DataFrame | None = None) -> pd.DataFrame:
    """One row per task, one column per agent (``mean [low, high] (n)``), plus the paper's values.

    ``baselines``: published values on these tasks (``analysis.baselines.values_at``), one column per
    baseline marked as another codebase; empty where the source has no task or no step that early.
    """
    agents = list(dict.fromkeys(table.sort_values(["variant", "agent"])["agent"]))
    refs = baselines if baselines is not None else pd.DataFrame(columns=["domain", "task", "baseline"])
    ref_cols = {name: f"{name} {OTHER_CODEBASE}" for name in sorted(refs["baseline"].unique())}
    rows, paper_cols = [], []
    for (domain, task, metric), t in table.groupby(["domain", "task", "task_metric"], sort=True):
        row = {"domain": domain, "task": task, "metric": metric}
        by_agent = t.set_index("agent")
        for agent in agents:
            if agent in by_agent.index:
                r = by_agent.loc[agent]
                row[agent] = (f"{_fmt(r['mean'], metric)} [{_fmt(r['ci_low'], metric)}, "
                              f"{_fmt(r['ci_high'], metric)}] (n={int(r['n_seeds'])})")
            else:
                row[agent] = ""
        if with_paper:
            for agent in agents:
                if agent in by_agent.index and not math.isnan(by_agent.loc[agent, "paper"]):
                    col = f"paper {by_agent.loc[agent, 'variant']}"
                    row[col] = _fmt(by_agent.loc[agent, "paper"], metric)
                    paper_cols.append(col)
        mine = refs[(refs["domain"] == domain) & (refs["task"] == task)]
        for r in mine.itertuples(index=False):
            row[ref_cols[r.baseline]] = "" if math.isnan(r.step) else (
                f"{_fmt(r.mean, metric)} [{_fmt(r.ci_low, metric)}, {_fmt(r.ci_high, metric)}] "
                f"(n={int(r.n_seeds)}, step {int(r.step):,})")
        rows.append(row)
    columns = ["domain", "task", "metric", *agents, *dict.fromkeys(paper_cols), *ref_cols.values()]
    return pd.DataFrame(rows).reindex(columns=columns).fillna("")


def to_markdown(df: pd.DataFrame) -> str:
    cols = list(df.columns)
    lines = ["| " + " | ".join(cols) + " |", "|" + "|".join("---" for _ in cols) + "|"]
    lines += ["| " + " | ".join(str(v).replace("|", "\\|") for v in row) + " |" for row in df.itertuples(index=False)]
    return "\n".join(lines) + "\n"


_LATEX_SPECIAL = {"&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_", "{": r"\{", "}": r"\}",
                  "~": r"\textasciitilde{}", "^": r"\textasciicircum{}", "\\": r"\textbackslash{}", "–": "--"}


def _latex_escape(s: str) -> str:
    return "".join(_LATEX_SPECIAL.get(ch, ch) for ch in str(s))


def to_latex(df: pd.DataFrame, caption: str = CAPTION) -> str:
    """A booktabs table (``\\usepackage{booktabs}``)."""
    cols = list(df.columns)
    out = [r"\begin{table}[t]", r"\centering", r"\small", r"\begin{tabular}{" + "l" * len(cols) + "}", r"\toprule",
           " & ".join(_latex_escape(c) for c in cols) + r" \\", r"\midrule"]
    out += [" & ".join(_latex_escape(v) for v in row) + r" \\" for row in df.itertuples(index=False)]
    out += [r"\bottomrule", r"\end{tabular}", rf"\caption{{{_latex_escape(caption)}}}", r"\end{table}"]
    return "\n".join(out) + "\n"


def write_results(table: pd.DataFrame, out_dir: str | Path, stem: str = "results",
                  baselines: pd.DataFrame | None = None) -> list[Path]:
    """``<stem>.csv`` (numbers, one row per task and agent), ``<stem>.md`` and ``<stem>.tex`` (display).

    With ``baselines``, the CSV gets their rows after ours (``agent`` = the baseline, ``variant`` =
    ``published baseline``, ``step`` = their step, ``our_step`` = ours) and a ``codebase`` column that
    tells the two apart; the Markdown and LaTeX tables get their columns and a note.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    shown = display_table(table, baselines=baselines)
    numbers = table.assign(codebase=THIS_CODEBASE)
    note, caption = "", CAPTION
    if baselines is not None and len(baselines):
        theirs = baselines.rename(columns={"baseline": "agent"}).assign(variant="published baseline")
        numbers = pd.concat([numbers, theirs[[c for c in theirs.columns if c != "source"]]], ignore_index=True)
        counts = ["n_seeds", "step", "budget", "our_step"]  # integers with gaps (NaN would turn them into floats)
        numbers[counts] = numbers[counts].astype("Int64")
        note, caption = f"\n{BASELINE_NOTE}\n", f"{caption}. {BASELINE_NOTE}"
    files = {out_dir / f"{stem}.csv": numbers.to_csv(index=False), out_dir / f"{stem}.md": to_markdown(shown) + note,
             out_dir / f"{stem}.tex": to_latex(shown, caption)}
    for path, text in files.items():
        atomic_write_text(path, text)
    return list(files)
