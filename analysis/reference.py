"""The ACE paper's final numbers, keyed like our runs, for reference marks and side-by-side tables.

``analysis/reference/paper_results.csv`` holds the per-task final values of ACE, SAC and TD3 (and
BAC / SAC+RND where the paper shows them), read by eye from the paper's learning-curve figures:
treat them as approximate (about ±2% of the axis). Returns are episode returns at the paper's
budget; successes are success rates in [0, 1].
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

PAPER_CSV = Path(__file__).parent / "reference" / "paper_results.csv"
#: Paper columns and the run variants they compare with (analysis.runs.variant_of).
PAPER_AGENTS = {"ace": "ACE", "sac": "SAC", "td3": "TD3"}
#: The paper's Figure 1 groups (the sparse group mixes domains); MuJoCo is not in Figure 1.
SUITES = {
    "metaworld": "Meta-World", "dmc": "DMControl", "adroit": "Dexterous Hand", "shadowhand": "Dexterous Hand",
    "metaworld_sparse": "Sparse Reward", "shadowhand_sparse": "Sparse Reward", "robel": "Sparse Reward",
    "panda": "Sparse Reward", "mujoco": "MuJoCo",
}


def suite_of(domain: str) -> str:
    return SUITES.get(domain, domain)


def run_domain(paper_domain: str, reward: str) -> str:
    """Our config domain for a paper row: Meta-World's sparse tasks live in ``metaworld_sparse``."""
    if paper_domain == "metaworld" and reward == "sparse":
        return "metaworld_sparse"
    return paper_domain


def load_paper_results(path: str | Path | None = None) -> pd.DataFrame:
    """Long table ``domain, task, metric, budget, variant, value`` with our domain and task names."""
    path = Path(path) if path is not None else PAPER_CSV
    if not path.exists():
        raise FileNotFoundError(f"paper results file {path} does not exist")
    wide = pd.read_csv(path)
    missing = {"domain", "task", "reward", "metric", "budget_steps"} - set(wide.columns)
    if missing:
        raise ValueError(f"{path} lacks column(s) {sorted(missing)}")
    wide["domain"] = [run_domain(d, r) for d, r in zip(wide["domain"], wide["reward"], strict=True)]
    wide["task"] = wide["task"].str.lower()
    agents = [c for c in PAPER_AGENTS if c in wide.columns]
    long = wide.melt(id_vars=["domain", "task", "metric", "budget_steps"], value_vars=agents,
                     var_name="paper_agent", value_name="value").dropna(subset=["value"])
    long["variant"] = long["paper_agent"].map(PAPER_AGENTS)
    return long.rename(columns={"budget_steps": "budget"}).reset_index(drop=True)
