"""The check's figures, read from what each part leaves behind: (item, metric, value) rows.

Only the standard library: this runs before and whatever the packages the check installs.
"""

from __future__ import annotations

import csv
import xml.etree.ElementTree as ET
from pathlib import Path

Row = tuple[str, str, str]
#: The runner's phase timers in train.csv (ace.timing.PHASES), cumulative seconds.
PHASES = ("env", "act", "update", "causal", "eval", "checkpoint")


def fmt(value: float | int | str) -> str:
    return f"{value:.6g}" if isinstance(value, float) else str(value)


def junit_rows(junit_xml: Path) -> list[Row]:
    """Outcome and seconds of every test in a pytest JUnit report, then the counts."""
    if not junit_xml.exists():
        return [("report", "missing", str(junit_xml.name))]
    rows: list[Row] = []
    counts = dict.fromkeys(("passed", "failed", "error", "skipped"), 0)
    for case in ET.parse(junit_xml).getroot().iter("testcase"):
        item = f"{case.get('classname', '')}::{case.get('name', '')}"
        outcome, message = "passed", ""
        for child in case:
            if child.tag in ("failure", "error", "skipped"):
                outcome = "failed" if child.tag == "failure" else child.tag
                message = (child.get("message") or "").strip().split("\n")[0][:300]
        counts[outcome] += 1
        rows += [(item, "outcome", outcome), (item, "seconds", fmt(float(case.get("time", "nan"))))]
        if message:
            rows.append((item, "message", message))
    return rows + [("all", k, str(v)) for k, v in counts.items()]


def run_rows(train_csv: Path, steady_from: int, item: str = "run", target_steps: int = 1_000_000) -> list[Row]:
    """Speed of a training run from its train.csv, and the time a ``target_steps`` run would take.

    The projection is the run's elapsed time plus the remaining steps at the steady rate: that of the
    rows from ``steady_from`` on (the policy acting, updates, causal fits and evaluations at their
    usual cadence), so compilation and the random-action start are counted once, as in a real run.
    """
    if not train_csv.exists():
        return [("train.csv", "missing", str(train_csv))]
    with open(train_csv, newline="") as f:
        rows = [r for r in csv.DictReader(f) if r.get("step")]
    if not rows:
        return [("train.csv", "rows", "0")]
    last = rows[-1]

    def val(row: dict, key: str) -> float:
        return float(row[key])

    step, elapsed = val(last, "step"), val(last, "elapsed_s")
    out: list[Row] = [(item, "steps", fmt(int(step))), (item, "elapsed_s", fmt(elapsed)),
                      (item, "steps_per_s", fmt(step / elapsed)),
                      (item, "sim_steps_per_s", fmt(step / val(last, "env_s")))]
    out += [(item, f"{p}_s", fmt(val(last, f"{p}_s"))) for p in PHASES]
    first = next((r for r in rows if val(r, "step") >= steady_from), None)
    if first is None or first is last:
        return out + [(item, "steady", f"no rows from step {steady_from} on and after")]

    def delta(key: str) -> float:
        return val(last, key) - val(first, key)

    steady = delta("step") / delta("elapsed_s")
    projected = elapsed + (target_steps - step) / steady
    out += [(item, "steady_from_step", fmt(int(val(first, "step")))), (item, "steady_steps_per_s", fmt(steady)),
            (item, "updates_per_s", fmt(delta("updates") / delta("update_s")))]
    out += [(item, f"steady_{p}_share", fmt(delta(f"{p}_s") / delta("elapsed_s"))) for p in PHASES]
    return out + [(item, f"projected_{target_steps // 1000}k_s", fmt(projected)),
                  (item, f"projected_{target_steps // 1000}k_h", fmt(projected / 3600))]


def bench_rows(bench_csv: Path) -> list[Row]:
    """Every measured figure of benchmarks/speed.py's CSV, one row each."""
    if not bench_csv.exists():
        return [("speed.csv", "missing", str(bench_csv))]
    label_keys = ("machine", "section", "case", "device", "compile")
    out: list[Row] = []
    with open(bench_csv, newline="") as f:
        for r in csv.DictReader(f):
            item = f"{r['section']} {r['case']} on {r['device']}"
            item += f" compile={r['compile']}" if r.get("compile") else ""
            out += [(item, k, v) for k, v in r.items() if k not in label_keys and v not in ("", None)]
    return out
