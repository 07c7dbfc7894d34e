"""analysis/ on a real results folder: smoke trainings of two agents x two seeds on two domains."""

import json
import re
import subprocess
import sys
from urllib.parse import unquote

import imageio.v3 as imageio
import nbformat
import numpy as np
import pandas as pd
import pytest
from conftest import ROOT, run_cli
from nbclient import NotebookClient

from ace.logger import RunLogger
from ace.video import read_mp4, video_path, write_mp4
from analysis.report import build_report
from analysis.runs import LONG_COLUMNS, load_runs, load_table, run_index
from analysis.wandb_runs import history_to_long

TASKS = ("metaworld/reach", "dmc/cheetah-run")
NOTEBOOK = ROOT / "analysis" / "notebooks" / "results.ipynb"


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    root = tmp_path_factory.mktemp("results")
    proc = run_cli("preset=smoke", "wandb.mode=disabled", "log.progress=lines", f"env={','.join(TASKS)}",
                   "agent=ace,sac", "seed=1,2", f"hydra.sweep.dir={root}", "-m", cwd=root, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    # Stand-in evaluation videos (filming itself is tested in test_video.py): run i's latest (step 800)
    # ends on grey level 20 * (i + 1); one run also has an older one.
    for i, run in enumerate(sorted(p.parent for p in root.rglob("final.json"))):
        write_mp4(video_path(run, 800), [np.zeros((32, 32, 3), np.uint8), np.full((32, 32, 3), 20 * (i + 1), np.uint8)],
                  fps=10)
    write_mp4(video_path(root / "metaworld/reach/ace/seed=1", 400), [np.zeros((32, 32, 3), np.uint8)] * 2, fps=10)
    return root


def _grey(run_index: int) -> int:
    return 20 * (run_index + 1)


def report_cli(*args, cwd):
    return subprocess.run([sys.executable, "-m", "analysis.report", *map(str, args)], cwd=cwd, capture_output=True,
                          text=True, timeout=300)


def test_run_index_has_every_run_with_its_variant(results):
    runs = run_index(results)
    assert len(runs) == 8 and runs["finished"].all() and (runs["last_step"] == 800).all()
    assert set(zip(runs["agent"], runs["variant"], strict=True)) == {("ace", "ACE"), ("sac", "SAC")}
    assert dict(zip(runs["domain"], runs["metric"], strict=False)) == {"metaworld": "success", "dmc": "return"}
    assert sorted(runs["seed"].unique()) == [1, 2]
    assert set(runs["run"]) >= {"metaworld/reach/ace/seed=1", "dmc/cheetah-run/sac/seed=2"}


def test_long_format_table(results):
    df = load_runs(results)
    assert list(df.columns) == LONG_COLUMNS
    assert set(df["source"]) == {"eval", "train", "causal", "resets"}
    ev = df[(df["source"] == "eval") & (df["metric"] == "success")]
    assert len(ev) == 8 * 2  # 8 runs x evaluations at steps 400 and 800
    # Causal weights and resets only exist for ACE.
    assert set(df.loc[df["source"] == "causal", "agent"]) == {"ace"}
    assert set(df.loc[df["source"] == "resets", "agent"]) == {"ace"}
    one = df[(df["run"] == "metaworld/reach/ace/seed=1") & (df["source"] == "eval") & (df["metric"] == "return")]
    raw = pd.read_csv(results / "metaworld/reach/ace/seed=1/eval.csv")
    np.testing.assert_allclose(one.sort_values("step")["value"], raw["return"])
    with pytest.raises(ValueError, match="valid sources: eval, train, causal, resets"):
        load_table(results, "evals")


def test_phase_timers_account_for_the_run(results):
    train = load_table(results, "train").sort_values("step")
    last = train.groupby("run").tail(1).set_index("run")
    phases = ["env_s", "act_s", "update_s", "causal_s", "eval_s", "checkpoint_s"]
    assert (last[["env_s", "act_s", "update_s", "eval_s", "checkpoint_s"]] > 0).all().all()
    assert (last.loc[last["agent"] == "ace", "causal_s"] > 0).all()
    assert (last.loc[last["agent"] == "sac", "causal_s"] == 0).all()
    assert (last[phases].sum(axis=1) <= last["elapsed_s"] + 1e-6).all()
    for _, run in train.groupby("run"):
        assert (run[phases].diff().dropna() >= 0).all().all()  # cumulative


def test_report_command_writes_figures_and_tables(results, tmp_path):
    out = tmp_path / "report"
    proc = report_cli(results, "--out", out, "--reps", 500, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "8 runs" in proc.stdout
    for stem in ("curves_metaworld", "curves_dmc", "aggregate_intervals", "normalized_scores", "ablation",
                 "causal_weights/metaworld__reach__ace", "causal_weights/dmc__cheetah-run__ace", "wallclock"):
        for fmt in ("png", "pdf"):
            f = out / f"{stem}.{fmt}"
            assert f.is_file() and f.stat().st_size > 5000, f
        assert (out / f"{stem}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not list((out / "causal_weights").glob("*__sac.png"))  # SAC has no causal weights

    both = pd.read_csv(out / "results.csv")
    table = both[both["codebase"] == "this repository"]
    assert len(table) == 4 and (table["n_seeds"] == 2).all()
    # The table's mean is the mean of the runs' final evaluations, computed here from the raw CSVs.
    for (domain, task, agent), row in table.set_index(["domain", "task", "agent"]).iterrows():
        col = "success" if domain == "metaworld" else "return"
        finals = [pd.read_csv(results / domain / task / agent / f"seed={s}" / "eval.csv")[col].iloc[-1] for s in (1, 2)]
        assert row["mean"] == pytest.approx(np.mean(finals))
        assert row["ci_low"] <= row["mean"] <= row["ci_high"]
    paper = table.set_index(["task", "agent"])["paper"]
    assert paper[("cheetah-run", "ace")] == 760 and paper[("cheetah-run", "sac")] == 550
    assert np.isnan(paper[("reach", "ace")])  # not a paper task

    # Published baselines of both tasks, read at their last step at or before ours (800): their first, step 0.
    theirs = both[both["codebase"] != "this repository"].set_index(["task", "agent"])
    assert set(theirs.index) == {("reach", "SAC, TD-MPC2 repo"), ("reach", "TD-MPC2, TD-MPC2 repo"),
                                 ("cheetah-run", "SAC, TD-MPC2 repo"), ("cheetah-run", "TD-MPC2, TD-MPC2 repo"),
                                 ("cheetah-run", "SAC, SimbaV2 repo")}
    assert (theirs["step"] == 0).all() and (theirs["our_step"] == 800).all()
    refs = ROOT / "analysis" / "reference" / "baselines"
    sac = pd.read_csv(refs / "tdmpc2" / "sac" / "cheetah-run.csv")
    at_0 = sac.loc[sac["step"] == 0, "reward"].mean()
    assert theirs.loc[("cheetah-run", "SAC, TD-MPC2 repo"), "mean"] == pytest.approx(at_0)
    md = (out / "results.md").read_text()
    assert "| cheetah-run |" in md and "| reach |" in md and "paper ACE" in md and "(n=2)" in md
    assert "SAC, TD-MPC2 repo [other codebase]" in md and "(n=3, step 0)" in md
    tex = (out / "results.tex").read_text()
    assert r"\toprule" in tex and "cheetah-run" in tex and r"\bottomrule" in tex
    agg = pd.read_csv(out / "aggregates.csv")
    assert len(agg) == 2 * 2 * 2  # suites x agents x (mean, IQM)
    assert set(agg["suite"]) == {"Meta-World", "DMControl"} and set(agg["statistic"]) == {"mean", "iqm"}
    assert (agg["ci_low"] <= agg["value"] + 1e-9).all() and (agg["value"] <= agg["ci_high"] + 1e-9).all()
    index = (out / "index.md").read_text()
    assert "8 runs" in index and "![curves_dmc](curves_dmc.png)" in index

    # Success tasks judged by return too: curves, table (reach only), P(X > Y) both ways, steps to a threshold.
    assert (out / "returns_metaworld.png").stat().st_size > 5000 and not (out / "returns_dmc.png").exists()
    by_return = pd.read_csv(out / "results_return.csv").set_index(["task", "agent"])
    assert set(by_return.index) == {("reach", "ace"), ("reach", "sac")}
    for agent in ("ace", "sac"):
        finals = [pd.read_csv(results / "metaworld/reach" / agent / f"seed={s}" / "eval.csv")["return"].iloc[-1]
                  for s in (1, 2)]
        assert by_return.loc[("reach", agent), "mean"] == pytest.approx(np.mean(finals))
    pairs = pd.read_csv(out / "improvement.csv").set_index(["judged_by", "x", "y"])
    both_ways = (("ace", "sac"), ("sac", "ace"))
    assert set(pairs.index) == {(j, x, y) for j in ("task metric", "return") for x, y in both_ways}
    for judged_by in ("task metric", "return"):  # ties count half: the two directions sum to 1
        assert pairs.loc[(judged_by, "ace", "sac"), "p_x_beats_y"] + pairs.loc[(judged_by, "sac", "ace"),
                                                                                 "p_x_beats_y"] == pytest.approx(1.0)
    assert pairs.loc[("task metric", "ace", "sac"), "n_tasks"] == 2
    assert pairs.loc[("return", "ace", "sac"), "n_tasks"] == 2
    steps = pd.read_csv(out / "steps_to_threshold.csv")
    assert set(steps["task"]) == {"reach", "cheetah-run"} and (steps["n_seeds"] == 2).all()
    assert set(steps.loc[steps["task"] == "cheetah-run", "judged_by"]) == {"return >= 0.8 x best agent's final"}
    for section in ("## Success tasks by episode return", "## Probability of improvement", "## Steps to a threshold",
                    "![returns_metaworld](returns_metaworld.png)"):
        assert section in index

    # Videos: a poster per task and agent (the lowest seed's latest video, its last frame), linking to a copy
    # of that video, and every run's latest video linked where it lies.
    runs = sorted(p.parent for p in results.rglob("final.json"))
    assert "## Videos" in index
    for domain, task, agent in {tuple(r.relative_to(results).parts[:3]) for r in runs}:
        stem = f"videos/{domain}__{task}__{agent}"
        seed1 = runs.index(results / domain / task / agent / "seed=1")
        poster = imageio.imread(out / f"{stem}.png")
        assert poster.shape == (32, 32, 3) and np.abs(poster.astype(int) - _grey(seed1)).max() <= 3
        assert read_mp4(out / f"{stem}.mp4")[0].shape == (2, 32, 32, 3)
        assert f"[![{domain}/{task} {agent}, seed 1, step 800]({stem}.png)]({stem}.mp4)" in index
    links = [unquote(m) for m in re.findall(r"\[seed \d, step [\d,]+\]\(([^)]+)\)", index)]
    assert len(links) == 8 and all(link.endswith("videos/step=800.mp4") for link in links)
    latest = sorted((run / "videos/step=800.mp4").resolve() for run in runs)
    assert sorted((out / link).resolve() for link in links) == latest


def test_report_on_a_folder_without_runs_is_a_clear_error(tmp_path):
    proc = report_cli(tmp_path, "--out", tmp_path / "r", cwd=ROOT)
    assert proc.returncode == 2 and "no run folder" in proc.stderr and "Traceback" not in proc.stderr


def test_report_notes_unfinished_runs(results, tmp_path):
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(results / "metaworld", copy / "metaworld")
    (copy / "metaworld/reach/ace/seed=1/final.json").unlink()
    report = build_report(copy, reps=200)
    assert any("1 of 4 runs are unfinished" in n and "reach/ace/seed=1" in n for n in report.notes)
    import matplotlib.pyplot as plt
    plt.close("all")


def test_runs_of_other_experiments_or_variants_are_never_pooled(results, tmp_path):
    """Same agent name, other experiment or other toggles: separate labels, and the report still works."""
    import shutil

    import yaml

    root = tmp_path / "mixed"
    src = results / "metaworld/reach/ace"
    for name, edit in (("a", None), ("b", "experiment"), ("c", "no_causal")):
        for seed in (1, 2):
            dst = root / name / f"seed={seed}"
            shutil.copytree(src / f"seed={seed}", dst)
            cfg = yaml.safe_load((dst / "config.yaml").read_text())
            if edit == "experiment":
                cfg["experiment"] = "paper"
            elif edit == "no_causal":
                cfg["agent"]["causal"]["enabled"] = False
            (dst / "config.yaml").write_text(yaml.safe_dump(cfg))
    runs = run_index(root)
    assert sorted(runs["agent"].unique()) == ["ace [paper]", "ace [smoke] (ACE reset-only)", "ace [smoke] (ACE)"]
    assert set(runs["agent_name"]) == {"ace"}
    report = build_report(root, reps=100)
    assert len(report.results) == 3 and (report.results["n_seeds"] == 2).all()
    import matplotlib.pyplot as plt
    plt.close("all")


def test_notebook_runs_headless_and_shows_every_figure(results, tmp_path):
    nb = nbformat.read(NOTEBOOK, as_version=4)
    params = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    assert len(params) == 1
    out = tmp_path / "nb_report"
    params[0].source += f"\nRUNS_DIR = {str(results)!r}\nOUT_DIR = {str(out)!r}\nREPS = 300\nBASELINES = 'simbav2'\n"
    NotebookClient(nb, timeout=600, kernel_name="python3",
                   resources={"metadata": {"path": str(NOTEBOOK.parent)}}).execute()
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    images = [o for o in outputs if "image/png" in o.get("data", {})]
    # 2 curve grids, reach by return, 2 aggregate figures, ablation, 2 causal-weight figures, wall-clock
    assert len(images) == 9
    html = "".join(o["data"].get("text/html", "") for o in outputs if "data" in o)
    assert "cheetah-run" in html and "(n=2)" in html
    assert "P(X &gt; Y)" in html and "return &gt;= 0.8 x best agent" in html  # improvement and steps tables
    assert html.count("<video ") == 8 and html.count("data:video/mp4;base64,") == 8  # each run's latest video
    # The BASELINES parameter picks the sources: SimbaV2's SAC only (it has cheetah-run, not reach).
    assert "SAC, SimbaV2 repo [other codebase]" in html and "TD-MPC2 repo [other codebase]" not in html
    assert (out / "results.csv").is_file() and (out / "curves_dmc.png").is_file()
    table = pd.read_csv(out / "results.csv")
    assert (table["codebase"] == "this repository").sum() == 4
    assert list(table.loc[table["codebase"] != "this repository", "agent"]) == ["SAC, SimbaV2 repo"]


def test_wandb_history_converts_like_run_folders(tmp_path):
    """The keys RunLogger sends to wandb come back as the run folders' sources and metrics."""
    class Recorder:
        def __init__(self):
            self.rows = {}

        def log(self, data, step):
            self.rows.setdefault(step, {"_step": step}).update(data)

        def finish(self):
            pass

    config = {"experiment": "x", "seed": 3, "env": {"domain": "metaworld", "task": "reach", "metric": "success"},
              "agent": {"name": "ace", "algo": "ace", "causal": {"enabled": True}, "reset": {"enabled": True}},
              "train": {"total_steps": 800}}
    logger = RunLogger(tmp_path, 2, 800, config, type("W", (), {"mode": "disabled"})(), progress="lines")
    logger._wandb = rec = Recorder()
    logger.log_eval(400, 12.5, 0.5, 4)
    logger.log_train(400, {"critic_loss": 1.5, "dormancy": 0.2})
    logger.log_causal(400, [0.4, 1.6], 0.25)
    logger.log_reset(400, {"update": 300, "dormancy": 0.2, "factor": 0.8, "applied": 1.0})
    df = history_to_long(config, rec.rows.values(), "wandb:abc")
    got = {(s, m): v for s, m, v in zip(df["source"], df["metric"], df["value"], strict=True)}
    assert got[("eval", "return")] == 12.5 and got[("eval", "success")] == 0.5
    assert got[("train", "critic_loss")] == 1.5 and got[("causal", "w1")] == 1.6
    assert got[("causal", "compute_s")] == 0.25 and got[("resets", "factor")] == 0.8
    assert set(df["variant"]) == {"ACE"} and set(df["seed"]) == {3} and set(df["step"]) == {400}
    assert list(df.columns) == LONG_COLUMNS
    json.dumps(df.to_dict("records"))  # plain values


def test_exported_evidence_reproduces_the_report_without_checkpoints(results, tmp_path):
    from analysis.export import export

    shipped = tmp_path / "shipped"
    proc = subprocess.run([sys.executable, "-m", "analysis.export", str(results), str(shipped)], cwd=ROOT,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "of 8 runs" in proc.stdout
    names = {p.name for p in shipped.rglob("*") if p.is_file()}
    assert {"eval.csv", "train.csv", "causal_weights.csv", "config.yaml", "run_info.json", "final.json"} <= names
    assert not [p for p in shipped.rglob("*") if p.suffix in (".pt", ".mp4", ".lock")]
    original, copy = (build_report(r, reps=200, baselines="none") for r in (results, shipped))
    pd.testing.assert_frame_equal(original.results, copy.results)
    pd.testing.assert_frame_equal(original.improvement, copy.improvement)

    unfinished = tmp_path / "unfinished"
    export(shipped, unfinished)
    (unfinished / "dmc/cheetah-run/sac/seed=2/final.json").unlink()
    proc = subprocess.run([sys.executable, "-m", "analysis.export", str(unfinished), str(tmp_path / "again")],
                          cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2 and "1 of 8 runs are unfinished" in proc.stderr
