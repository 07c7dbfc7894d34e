"""The shipped studies under results/: the analysis code must still produce their published tables.

A change of the analysis code (statistics, bootstrap, table layout) that would change a published
number fails here; regenerate the study's report on purpose and say so in the commit if it is meant.
"""

import pandas as pd
import pytest
from conftest import ROOT

from analysis.report import build_report, write_report

RESULTS = ROOT / "results"
#: Each study's report options, as in its README's command.
STUDIES = {"mw_cpu": {}, "precision_cpu": {"baselines": "none"}}
#: The tables compared byte for byte (what README and papers quote).
TABLES = ("results.csv", "results.md", "results_return.csv", "improvement.csv", "steps_to_threshold.csv",
          "aggregates.csv", "return_aggregates.csv")


@pytest.mark.parametrize("study", sorted(STUDIES))
def test_the_shipped_tables_are_regenerated_exactly(study, tmp_path):
    shipped = RESULTS / study / "report"
    if not shipped.is_dir():
        pytest.fail(f"{shipped} is missing: python -m analysis.report results/{study} --out {shipped} --formats png")
    report = build_report(RESULTS / study, **STUDIES[study])
    report.figures = {}  # the tables are what is published as numbers; figures are drawn from them
    write_report(report, tmp_path, formats=("png",))
    for name in TABLES:
        assert (tmp_path / name).read_text() == (shipped / name).read_text(), f"{study}: {name} differs"
    # And the README's headline numbers come from those tables: every run is finished and counted.
    runs = pd.read_csv(shipped / "runs.csv")
    assert runs["finished"].all() and len(runs) == len(report.runs)
