"""Published baselines (analysis.baselines) in the report: task names, units, table values, figures, switch.

The report tests use small synthetic run folders (config.yaml + eval.csv, no training), with a last
evaluation at 250k steps so that several published steps fall before it.
"""

import fnmatch
import json
import subprocess
import sys

import matplotlib
import numpy as np
import pandas as pd
import pytest
import yaml
from conftest import CONF, ROOT

from analysis import baselines as bl
from analysis.report import build_report

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

DATA = ROOT / "analysis" / "reference" / "baselines"
LAST = 250_000
SYNTHETIC = {  # domain/task -> metric; runs of two agents x two seeds each
    "metaworld/drawer-open": "success", "metaworld_sparse/drawer-open": "success", "dmc/walker-run": "return",
    "mujoco/hopper": "return", "adroit/door": "success",
}


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def write_run(root, domain, task, metric, agent, seed, steps, values):
    """A run folder as src/run.py leaves it, as far as analysis.runs reads it."""
    run = root / domain / task / agent / f"seed={seed}"
    run.mkdir(parents=True)
    enabled = agent == "ace"
    cfg = {"experiment": "synthetic", "seed": seed, "env": {"domain": domain, "task": task, "metric": metric},
           "agent": {"name": agent, "algo": "ace", "causal": {"enabled": enabled}, "reset": {"enabled": enabled}},
           "train": {"total_steps": int(steps[-1])}}
    (run / "config.yaml").write_text(yaml.safe_dump(cfg))
    success = values if metric == "success" else [float("nan")] * len(values)
    pd.DataFrame({"step": steps, "return": values, "success": success, "episodes": 10, "elapsed_s": 1.0}).to_csv(
        run / "eval.csv", index=False)
    (run / "final.json").write_text(json.dumps({"step": int(steps[-1])}))


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory):
    root = tmp_path_factory.mktemp("synthetic_runs")
    steps = np.arange(0, LAST + 1, 50_000)
    for name, metric in SYNTHETIC.items():
        domain, task = name.split("/")
        for k, agent in enumerate(("ace", "sac")):
            for seed in (1, 2):
                scale = 1.0 if metric == "success" else 1000.0
                values = scale * np.linspace(0, 0.5 + 0.1 * k + 0.05 * seed, steps.size)
                write_run(root, domain, task, metric, agent, seed, steps, values)
    return root


def raw_mean(path, step, column, **filters):
    """Mean over seeds of a published file at one step, straight from the shipped CSV."""
    df = pd.read_csv(path)
    for k, v in filters.items():
        df = df[df[k] == v]
    step_col = "env_step" if "env_step" in df.columns else "step"
    values = df.loc[df[step_col] == step, column]
    assert len(values), (path, step)
    return values.mean(), len(values)


# --- task names and data -------------------------------------------------------------------------

@pytest.mark.parametrize(("source", "name", "ours"), [
    ("tdmpc2", "mw-drawer-open", ("metaworld", "drawer-open")),
    ("tdmpc2", "mw-pick-place-wall", ("metaworld", "pick-place-wall")),
    ("tdmpc2", "walker-run", ("dmc", "walker-run")),
    ("tdmpc2", "quadruped-walk", ("dmc", "quadruped-walk")),
    ("simbav2", "Hopper-v4", ("mujoco", "hopper")),
    ("simbav2", "HalfCheetah-v4", ("mujoco", "halfcheetah")),
    ("simbav2", "Walker2d-v4", ("mujoco", "walker2d")),
    ("simbav2", "Ant-v4", ("mujoco", "ant")),
    ("simbav2", "cheetah-run", ("dmc", "cheetah-run")),
])
def test_task_names_map_both_ways(source, name, ours):
    assert bl.source_to_ours(source, name) == ours
    assert bl.ours_to_source(source, *ours) == name


@pytest.mark.parametrize(("source", "domain", "task"), [
    ("tdmpc2", "metaworld_sparse", "drawer-open"),  # TD-MPC2 ran the dense reward
    ("tdmpc2", "mujoco", "hopper"),
    ("simbav2", "metaworld", "drawer-open"),
    ("simbav2", "mujoco", "no-such-task"),
    ("tdmpc2", "adroit", "door"),
])
def test_no_source_name_where_the_source_did_not_run_the_task(source, domain, task):
    assert bl.ours_to_source(source, domain, task) is None


def test_unknown_gym_task_and_unknown_source():
    assert bl.source_to_ours("simbav2", "NoSuchRobot-v4") is None
    with pytest.raises(ValueError, match="unknown baseline source 'tdmpc3'; valid choices: tdmpc2, simbav2"):
        bl.source_to_ours("tdmpc3", "walker-run")


def test_shipped_curves_map_to_our_task_configs_with_our_metric_and_units():
    published = bl.load_baselines("all")
    for (domain, task), g in published.groupby(["domain", "task"]):
        assert (CONF / "env" / domain / f"{task}.yaml").is_file(), (domain, task)
        assert set(g["task_metric"]) == {"success" if domain == "metaworld" else "return"}
    assert set(published["domain"]) == {"metaworld", "dmc", "mujoco"}
    # Every dense Meta-World, DMC and MuJoCo task of the ace29 benchmark has a published curve.
    bench = yaml.safe_load((CONF / "benchmark" / "ace29.yaml").read_text())["benchmark"]["tasks"]
    wanted = {tuple(k.split("/")) for k in bench if k.split("/")[0] in ("metaworld", "dmc", "mujoco")}
    assert wanted <= set(zip(published["domain"], published["task"], strict=True))
    # Success: fractions of 10 evaluation episodes (multiples of 0.1), as in the shipped files.
    success = published.loc[published["task_metric"] == "success", "value"]
    assert success.between(0, 1).all() and success.max() == 1.0
    np.testing.assert_allclose(success * 10, np.round(success * 10), atol=1e-9)
    seeds = published.groupby(["source", "domain", "task"])["seed"].nunique()
    assert seeds[("simbav2", "mujoco", "hopper")] == 10 and seeds[("simbav2", "dmc", "walker-run")] == 2
    assert seeds[("tdmpc2", "metaworld", "drawer-open")] == 3


def test_every_shipped_file_is_package_data_with_its_licence():
    tomllib = pytest.importorskip("tomllib")
    patterns = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]["analysis"]
    files = [p.relative_to(ROOT / "analysis").as_posix() for p in DATA.rglob("*") if p.is_file()]
    assert len(files) == 44
    for f in files:
        assert any(fnmatch.fnmatch(f, pat) and f.count("/") == pat.count("/") for pat in patterns), f
    assert (DATA / "tdmpc2" / "LICENSE").read_text().startswith("MIT License")
    assert "Apache License" in (DATA / "simbav2" / "LICENSE").read_text()
    note = (DATA / "README.md").read_text()
    assert "e9f59321933cbc8e11a002b842adc7d4ffae8ff1" in note and "14fafb27e6f78f0b65d19b8873b4433547a2193c" in note


def test_selection_switch():
    assert bl.parse_selection("all") == ("tdmpc2", "simbav2")
    assert bl.parse_selection("none") == ()
    assert bl.parse_selection("simbav2") == ("simbav2",)
    assert bl.parse_selection(" tdmpc2 , simbav2 ") == ("tdmpc2", "simbav2")
    assert bl.parse_selection("all,tdmpc2") == ("tdmpc2", "simbav2")
    with pytest.raises(ValueError, match="'none' cannot be combined with sources"):
        bl.parse_selection("none,tdmpc2")
    with pytest.raises(ValueError, match="unknown baseline source 'tdmpc'; valid choices: all, none, tdmpc2, simbav2"):
        bl.parse_selection("tdmpc2,tdmpc")
    assert set(bl.load_baselines("simbav2")["source"]) == {"simbav2"}
    assert bl.load_baselines("none").empty


def test_missing_or_malformed_data_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"simbav2/sac\.csv does not exist"):
        bl.load_baselines("simbav2", root=tmp_path)
    (tmp_path / "tdmpc2" / "sac").mkdir(parents=True)
    (tmp_path / "tdmpc2" / "tdmpc2").mkdir()
    pd.DataFrame({"step": [0, 100_000], "success": [0.0, 80.0], "seed": 1}).to_csv(
        tmp_path / "tdmpc2" / "sac" / "mw-reach.csv", index=False)
    with pytest.raises(ValueError, match=r"mw-reach\.csv: success values outside \[0, 1\]"):
        bl.load_baselines("tdmpc2", root=tmp_path)


# --- values placed in the table ------------------------------------------------------------------

def _published(rows):
    df = pd.DataFrame(rows, columns=["task", "seed", "step", "value"])
    return df.assign(domain="dmc", task_metric="return", baseline="SAC, TD-MPC2 repo", source="tdmpc2", algo="sac",
                     source_task=df["task"])[bl.COLUMNS]


def test_values_at_reads_the_last_published_step_at_or_before_ours():
    published = _published([
        ("a", 1, 0, 1.0), ("a", 2, 0, 3.0), ("a", 1, 100, 10.0), ("a", 2, 100, 20.0),
        ("a", 1, 200, 50.0),                                    # seed 2 has no point at 200
        ("b", 1, 100, 7.0), ("b", 2, 100, 9.0),                 # nothing published before 100
    ])
    got = bl.values_at(published, {("dmc", "a"): 150, ("dmc", "b"): 50}, reps=200).set_index("task")
    assert got.loc["a", "step"] == 100 and got.loc["a", "mean"] == 15.0 and got.loc["a", "n_seeds"] == 2
    assert got.loc["a", "ci_low"] >= 10.0 and got.loc["a", "ci_high"] <= 20.0 and got.loc["a", "our_step"] == 150
    assert np.isnan(got.loc["b", "step"]) and np.isnan(got.loc["b", "mean"]) and got.loc["b", "n_seeds"] == 0
    assert got.loc["a", "codebase"] == "TD-MPC2 repo (other codebase and protocol)"
    at_200 = bl.values_at(published, {("dmc", "a"): 200}).iloc[0]
    assert (at_200["step"], at_200["mean"], at_200["n_seeds"]) == (200, 50.0, 1)
    assert at_200["ci_low"] == at_200["ci_high"] == 50.0  # one seed: nothing to resample
    assert bl.values_at(published, {("dmc", "c"): 200}).empty  # not one of our tasks


def test_report_table_holds_published_values_at_our_last_step(synthetic, tmp_path):
    from analysis.report import write_report

    report = build_report(synthetic, reps=200)
    got = report.baseline_results.set_index(["domain", "task", "baseline"])
    assert (got["our_step"] == LAST).all()
    expected = {
        ("dmc", "walker-run", "SAC, TD-MPC2 repo"): (200_000, DATA / "tdmpc2/sac/walker-run.csv", "reward", {}),
        ("dmc", "walker-run", "TD-MPC2, TD-MPC2 repo"): (200_000, DATA / "tdmpc2/tdmpc2/walker-run.csv", "reward",
                                                        {}),
        ("dmc", "walker-run", "SAC, SimbaV2 repo"): (200_000, DATA / "simbav2/sac.csv", "value",
                                                    {"env_name": "walker-run", "metric": "avg_return"}),
        ("mujoco", "hopper", "SAC, SimbaV2 repo"): (249_990, DATA / "simbav2/sac.csv", "value",
                                                   {"env_name": "Hopper-v4", "metric": "avg_return"}),
        ("metaworld", "drawer-open", "SAC, TD-MPC2 repo"): (200_000, DATA / "tdmpc2/sac/mw-drawer-open.csv",
                                                           "success", {}),
        ("metaworld", "drawer-open", "TD-MPC2, TD-MPC2 repo"): (200_000, DATA / "tdmpc2/tdmpc2/mw-drawer-open.csv",
                                                               "success", {}),
    }
    assert set(got.index) == set(expected)  # nothing for metaworld_sparse or adroit
    for key, (step, path, column, filters) in expected.items():
        mean, n = raw_mean(path, step, column, **filters)
        assert got.loc[key, "step"] == step and got.loc[key, "n_seeds"] == n
        assert got.loc[key, "mean"] == pytest.approx(mean)
        assert got.loc[key, "ci_low"] <= got.loc[key, "mean"] <= got.loc[key, "ci_high"]

    write_report(report, tmp_path, formats=("png",))
    table = pd.read_csv(tmp_path / "results.csv")
    ours, theirs = table[table["codebase"] == "this repository"], table[table["codebase"] != "this repository"]
    pd.testing.assert_frame_equal(ours.drop(columns=["codebase", "protocol", "our_step"]).reset_index(drop=True),
                                  report.results.reset_index(drop=True), check_dtype=False)
    assert len(theirs) == len(expected) and set(theirs["variant"]) == {"published baseline"}
    assert "250000.0" not in (tmp_path / "results.csv").read_text()  # steps and budgets stay integers
    row = theirs[(theirs["task"] == "hopper")].iloc[0]
    assert row["codebase"] == "SimbaV2 repo (other codebase and protocol)" and row["step"] == 249_990
    assert row["protocol"] == "MuJoCo v4*" and row["our_step"] == LAST
    md = (tmp_path / "results.md").read_text()
    assert "SAC, SimbaV2 repo [other codebase]" in md and "(n=10, step 249,990)" in md
    assert "never part of our aggregates" in md
    header = md.splitlines()[0].split(" | ")
    assert header.index("sac") < header.index("SAC, SimbaV2 repo [other codebase]")
    sparse = md.splitlines()[[line.startswith("| metaworld_sparse |") for line in md.splitlines()].index(True)]
    assert "step" not in sparse  # no published value on the sparse task
    assert r"SAC, TD-MPC2 repo [other codebase]" in (tmp_path / "results.tex").read_text()
    index = (tmp_path / "index.md").read_text()
    assert "[other codebase]" in index and "published baselines on 3 task(s)" in index


# --- figures --------------------------------------------------------------------------------------

def _lines(fig, task):
    ax = next(a for a in fig.axes if a.get_title() == task)
    return {line.get_label(): line for line in ax.get_lines() if not line.get_label().startswith("_")}


def test_learning_curves_hold_the_reference_lines(synthetic):
    report = build_report(synthetic, reps=200)
    lines = _lines(report.figures["curves_dmc"], "walker-run")
    assert set(lines) == {"ace (n=2)", "sac (n=2)", "SAC, TD-MPC2 repo (action repeat 2*, 3 seeds)",
                          "TD-MPC2, TD-MPC2 repo (action repeat 2, 3 seeds)",
                          "SAC, SimbaV2 repo (action repeat 2*, 2 seeds)"}
    sac = lines["SAC, TD-MPC2 repo (action repeat 2*, 3 seeds)"]
    np.testing.assert_array_equal(sac.get_xdata(), [0, 100_000, 200_000])  # published steps up to ours, as logged
    expected = [raw_mean(DATA / "tdmpc2/sac/walker-run.csv", s, "reward")[0] for s in (0, 100_000, 200_000)]
    np.testing.assert_allclose(sac.get_ydata(), expected)
    assert sac.get_linestyle() == "-." and sac.get_marker() == "s"

    hopper = _lines(report.figures["curves_mujoco"], "hopper")["SAC, SimbaV2 repo (MuJoCo v4*, 10 seeds)"]
    assert hopper.get_xdata()[0] == 1 and hopper.get_xdata()[-1] == 249_990 and len(hopper.get_xdata()) == 16

    mw = _lines(report.figures["curves_metaworld"], "drawer-open")
    assert "SAC, TD-MPC2 repo (Meta-World v2, goal per episode*, 3 seeds)" in mw
    assert "TD-MPC2, TD-MPC2 repo (Meta-World v2, goal per episode, 3 seeds)" in mw
    assert set(_lines(report.figures["curves_metaworld_sparse"], "drawer-open")) == {"ace (n=2)", "sac (n=2)"}
    assert set(_lines(report.figures["curves_adroit"], "door")) == {"ace (n=2)", "sac (n=2)"}

    legends = report.figures["curves_dmc"].legends
    assert len(legends) == 2  # ours, and the published ones with what their step axes count
    ref = legends[1]
    assert {t.get_text() for t in ref.get_texts()} == {
        "SAC, TD-MPC2 repo (action repeat 2*, 3 seeds)", "TD-MPC2, TD-MPC2 repo (action repeat 2, 3 seeds)",
        "SAC, SimbaV2 repo (action repeat 2*, 2 seeds)"}
    title = " ".join(ref.get_title().get_text().split())  # wrapped to the figure's width
    assert "not rescaled" in title and "agent steps, each 2 simulator steps" in title and "env_step" in title
    assert bl.UNDOCUMENTED in title
    assert len(report.figures["curves_metaworld_sparse"].legends) == 1
    # The figure's own title stays the domain's (the legend's notes once leaked into it).
    assert report.figures["curves_dmc"].get_suptitle() == "dmc: mean over seeds, 95% bootstrap band"
    assert report.figures["returns_metaworld"].get_suptitle() == (
        "metaworld, success tasks by episode return: mean over seeds, 95% bootstrap band")


# --- baselines stay out of our statistics; the switch --------------------------------------------

def test_baselines_never_change_our_statistics(synthetic):
    with_refs, without = build_report(synthetic, reps=300), build_report(synthetic, reps=300, baselines="none")
    for name in ("curves", "final", "results", "aggregates", "paper_aggregates"):
        pd.testing.assert_frame_equal(getattr(with_refs, name), getattr(without, name), check_exact=True)
    assert without.baseline_curves is None and without.baseline_results is None
    assert len(with_refs.baseline_results) == 6
    assert set(_lines(without.figures["curves_dmc"], "walker-run")) == {"ace (n=2)", "sac (n=2)"}
    assert not any("published baseline" in n for n in without.notes)


def test_switch_picks_sources(synthetic):
    report = build_report(synthetic, reps=100, baselines="simbav2")
    assert set(report.baseline_results["source"]) == {"simbav2"}
    assert set(report.baseline_curves["baseline"]) == {"SAC, SimbaV2 repo"}
    assert "TD-MPC2" not in report.figures["curves_dmc"].legends[1].get_title().get_text()
    assert "curves_metaworld" in report.figures and len(report.figures["curves_metaworld"].legends) == 1


def report_cli(*args):
    return subprocess.run([sys.executable, "-m", "analysis.report", *map(str, args)], cwd=ROOT, capture_output=True,
                          text=True, timeout=300)


def test_report_command_switch(synthetic, tmp_path):
    proc = report_cli(synthetic, "--out", tmp_path / "r", "--reps", 100, "--formats", "png", "--baselines", "tdmpc2")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "note: published baselines on 2 task(s)" in proc.stdout
    table = pd.read_csv(tmp_path / "r" / "results.csv")
    assert set(table["codebase"]) == {"this repository", "TD-MPC2 repo (other codebase and protocol)"}
    assert (tmp_path / "r" / "baseline_curves.csv").is_file()

    proc = report_cli(synthetic, "--out", tmp_path / "n", "--reps", 100, "--formats", "png", "--baselines", "none")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert set(pd.read_csv(tmp_path / "n" / "results.csv")["codebase"]) == {"this repository"}
    assert not (tmp_path / "n" / "baseline_curves.csv").exists()

    proc = report_cli(synthetic, "--out", tmp_path / "x", "--baselines", "tdmpc2,simba")
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "unknown baseline source 'simba'; valid choices: all, none, tdmpc2, simbav2" in proc.stderr
