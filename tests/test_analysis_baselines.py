"""Published baselines (analysis.baselines): task names, units, the switch, values at our last step."""

import fnmatch

import numpy as np
import pandas as pd
import pytest
import yaml
from conftest import CONF, ROOT

from analysis import baselines as bl

DATA = ROOT / "analysis" / "reference" / "baselines"


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
