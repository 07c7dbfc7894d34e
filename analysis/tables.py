"""The results table in the three forms papers and READMEs need: CSV (numbers), Markdown, LaTeX.

Cells read ``mean [low, high]``: the bootstrap interval over seeds is asymmetric, so it is shown as
an interval rather than as ``±``.
"""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd

from ace.files import atomic_write_text


def _fmt(x: float, metric: str) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "–"
    if metric == "success":
        return f"{x:.2f}"
    return f"{x:.0f}" if abs(x) >= 100 else f"{x:.1f}" if abs(x) >= 1 else f"{x:.3g}"


def display_table(table: pd.DataFrame, with_paper: bool = True) -> pd.DataFrame:
    """One row per task, one column per agent (``mean [low, high] (n)``), plus the paper's values."""
    agents = list(dict.fromkeys(table.sort_values(["variant", "agent"])["agent"]))
    rows = []
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
                    row[f"paper {by_agent.loc[agent, 'variant']}"] = _fmt(by_agent.loc[agent, "paper"], metric)
        rows.append(row)
    return pd.DataFrame(rows).fillna("")


def to_markdown(df: pd.DataFrame) -> str:
    cols = list(df.columns)
    lines = ["| " + " | ".join(cols) + " |", "|" + "|".join("---" for _ in cols) + "|"]
    lines += ["| " + " | ".join(str(v).replace("|", "\\|") for v in row) + " |" for row in df.itertuples(index=False)]
    return "\n".join(lines) + "\n"


_LATEX_SPECIAL = {"&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_", "{": r"\{", "}": r"\}",
                  "~": r"\textasciitilde{}", "^": r"\textasciicircum{}", "\\": r"\textbackslash{}", "–": "--"}


def _latex_escape(s: str) -> str:
    return "".join(_LATEX_SPECIAL.get(ch, ch) for ch in str(s))


def to_latex(df: pd.DataFrame, caption: str = "Final performance: mean over seeds [95% bootstrap CI]") -> str:
    """A booktabs table (``\\usepackage{booktabs}``)."""
    cols = list(df.columns)
    out = [r"\begin{table}[t]", r"\centering", r"\small", r"\begin{tabular}{" + "l" * len(cols) + "}", r"\toprule",
           " & ".join(_latex_escape(c) for c in cols) + r" \\", r"\midrule"]
    out += [" & ".join(_latex_escape(v) for v in row) + r" \\" for row in df.itertuples(index=False)]
    out += [r"\bottomrule", r"\end{tabular}", rf"\caption{{{_latex_escape(caption)}}}", r"\end{table}"]
    return "\n".join(out) + "\n"


def write_results(table: pd.DataFrame, out_dir: str | Path, stem: str = "results") -> list[Path]:
    """``<stem>.csv`` (numbers, one row per task and agent), ``<stem>.md`` and ``<stem>.tex`` (display)."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    shown = display_table(table)
    files = {out_dir / f"{stem}.csv": table.to_csv(index=False), out_dir / f"{stem}.md": to_markdown(shown),
             out_dir / f"{stem}.tex": to_latex(shown)}
    for path, text in files.items():
        atomic_write_text(path, text)
    return list(files)
