"""The aggregation math of analysis/ on data with known answers."""

import numpy as np
import pandas as pd
import pytest
import yaml
from conftest import CONF, compose_cfg
from omegaconf import OmegaConf
from scipy import stats as sps

from analysis.reference import load_paper_results
from analysis.runs import variant_of
from analysis.scores import (
    aggregate,
    as_returns,
    final_scores,
    improvement_table,
    normalized_scores,
    paper_aggregate,
    results_table,
    steps_to_threshold,
)
from analysis.stats import bootstrap_ci, iqm, mean, stratified_bootstrap_ci


@pytest.mark.parametrize(("values", "expected"), [
    ([1, 2, 3, 4, 5, 6, 7, 8], 4.5),          # cut 2 from each end: mean(3, 4, 5, 6)
    ([1, 2, 3, 4], 2.5),                      # cut 1 from each end
    ([5, 1, 100, -100, 2, 3, 4, 6], 3.5),     # order does not matter; outliers are cut
    ([7.0], 7.0),
    ([1, 2, 3], 2.0),                         # floor(0.75) = 0: nothing is cut
])
def test_iqm_known_values(values, expected):
    assert iqm(np.array(values)) == pytest.approx(expected)


@pytest.mark.parametrize("n", [5, 8, 10, 13, 40, 101])
def test_iqm_matches_scipy_trim_mean(n):
    x = np.random.default_rng(n).standard_cauchy(n)
    assert iqm(x) == pytest.approx(sps.trim_mean(x, 0.25), rel=1e-12)


def test_iqm_along_last_axis_of_a_matrix():
    x = np.array([[1, 2, 3, 4], [10, 20, 30, 40]], dtype=float)
    np.testing.assert_allclose(iqm(x), [2.5, 25.0])


def test_bootstrap_of_constant_data_has_zero_width():
    assert bootstrap_ci([0.7] * 5) == pytest.approx((0.7, 0.7, 0.7))
    assert bootstrap_ci([3.0]) == (3.0, 3.0, 3.0)
    m, lo, hi = bootstrap_ci([np.nan, np.nan])
    assert np.isnan(m) and np.isnan(lo) and np.isnan(hi)


def test_bootstrap_ci_of_the_mean_matches_the_normal_approximation():
    x = np.random.default_rng(1).normal(2.0, 3.0, size=400)
    m, lo, hi = bootstrap_ci(x, reps=4000)
    half = 1.96 * x.std(ddof=1) / np.sqrt(x.size)
    assert m == pytest.approx(x.mean())
    assert (hi - lo) / 2 == pytest.approx(half, rel=0.1)
    assert lo < m < hi


def test_bootstrap_ci_covers_the_true_mean_about_95_percent_of_the_time():
    rng = np.random.default_rng(2)
    covered = sum(lo <= 0.0 <= hi for lo, hi in
                  (bootstrap_ci(rng.normal(size=30), reps=1000, seed=i)[1:] for i in range(200)))
    assert 0.88 <= covered / 200 <= 0.99


def test_bootstrap_is_reproducible_and_rejects_bad_levels():
    x = np.arange(10.0)
    assert bootstrap_ci(x, seed=3) == bootstrap_ci(x, seed=3)
    with pytest.raises(ValueError, match="confidence level"):
        bootstrap_ci(x, conf=95)


def test_stratified_bootstrap_keeps_the_task_mix_fixed():
    # Seeds agree within each task: only the task mix varies, and stratification never resamples it.
    scores = {"a": [0.0, 0.0, 0.0], "b": [1.0, 1.0, 1.0]}
    assert stratified_bootstrap_ci(scores) == pytest.approx((0.5, 0.5, 0.5))
    # An unstratified bootstrap of the pooled scores would mix tasks and give a wide interval.
    _, lo, hi = bootstrap_ci([0.0] * 3 + [1.0] * 3)
    assert hi - lo > 0.3


def test_stratified_bootstrap_iqm_and_unequal_seed_counts():
    scores = {"a": [1.0, 2.0], "b": [3.0, 4.0, 5.0, 6.0], "c": [7.0, 8.0]}
    m, lo, hi = stratified_bootstrap_ci(scores, iqm, reps=500)
    assert m == pytest.approx(iqm(np.arange(1.0, 9.0)))  # 4.5
    assert lo <= m <= hi and 1.0 <= lo and hi <= 8.0
    m, lo, hi = stratified_bootstrap_ci([[2.0], [4.0]], mean)  # one seed per task: nothing to resample
    assert (m, lo, hi) == pytest.approx((3.0, 3.0, 3.0))


def test_aggregate_mean_weighs_every_task_the_same():
    scores = {"a": [0.0] * 6, "b": [1.0]}  # a task with more seeds must not count more
    assert stratified_bootstrap_ci(scores, "mean") == pytest.approx((0.5, 0.5, 0.5))
    assert stratified_bootstrap_ci(scores, mean)[0] == pytest.approx(1 / 7)  # pooled, if asked for
    assert stratified_bootstrap_ci(scores, "iqm")[0] == pytest.approx(iqm(np.r_[[0.0] * 6, 1.0]))


def test_variant_is_read_from_the_toggles():
    assert variant_of({"algo": "ace", "causal": {"enabled": True}, "reset": {"enabled": True}}) == "ACE"
    assert variant_of({"algo": "ace", "causal": {"enabled": True}, "reset": {"enabled": False}}) == "ACE causal-only"
    assert variant_of({"algo": "ace", "causal": {"enabled": False}, "reset": {"enabled": True}}) == "ACE reset-only"
    assert variant_of({"algo": "ace", "causal": {"enabled": False}, "reset": {"enabled": False}}) == "SAC"
    assert variant_of({"algo": "td3"}) == "TD3"


@pytest.mark.parametrize(("agent", "variant"), [("ace", "ACE"), ("sac", "SAC"), ("td3", "TD3"),
                                                ("ace_causal_only", "ACE causal-only"),
                                                ("ace_reset_only", "ACE reset-only")])
def test_agent_configs_are_the_ablation_variants(agent, variant):
    cfg = compose_cfg(f"agent={agent}")
    assert cfg.agent.name == agent
    assert variant_of(OmegaConf.to_container(cfg.agent, resolve=True)) == variant


def _evals(rows):
    """Eval rows (task, metric, agent, variant, seed, step, return, success) as load_table returns them."""
    df = pd.DataFrame(rows, columns=["domain", "task", "task_metric", "agent", "variant", "seed", "step", "return",
                                     "success"])
    df["run"] = df["domain"] + "/" + df["task"] + "/" + df["agent"] + "/" + df["seed"].astype(str)
    df["budget"] = 1000
    return df


@pytest.fixture
def evals():
    rows = []
    for seed, (s_ace, s_sac, r_ace, r_sac) in enumerate([(1.0, 0.2, 800.0, 400.0), (0.8, 0.4, 600.0, 200.0)], 1):
        for step, f in ((500, 0.5), (1000, 1.0)):
            rows += [("metaworld", "hammer", "success", "ace", "ACE", seed, step, 0.0, s_ace * f),
                     ("metaworld", "hammer", "success", "sac", "SAC", seed, step, 0.0, s_sac * f),
                     ("dmc", "cheetah-run", "return", "ace", "ACE", seed, step, r_ace * f, np.nan),
                     ("dmc", "cheetah-run", "return", "sac", "SAC", seed, step, r_sac * f, np.nan)]
    return _evals(rows)


def test_final_scores_use_each_task_metric(evals):
    final = final_scores(evals).set_index(["task", "agent", "seed"])["score"]
    assert final[("hammer", "ace", 1)] == 1.0 and final[("hammer", "sac", 2)] == pytest.approx(0.4)
    assert final[("cheetah-run", "ace", 2)] == 600.0
    two = final_scores(evals, last_evals=2).set_index(["task", "agent", "seed"])["score"]
    assert two[("cheetah-run", "ace", 1)] == pytest.approx((400.0 + 800.0) / 2)
    with pytest.raises(ValueError, match="last_evals"):
        final_scores(evals, last_evals=0)


def test_results_table_means_and_paper_column(evals):
    paper = load_paper_results()
    table = results_table(final_scores(evals), paper).set_index(["task", "agent"])
    assert table.loc[("hammer", "ace"), "mean"] == pytest.approx(0.9)
    assert table.loc[("cheetah-run", "sac"), "mean"] == pytest.approx(300.0)
    assert table.loc[("cheetah-run", "sac"), "ci_low"] >= 200.0 and table.loc[("cheetah-run", "sac"), "ci_high"] <= 400
    assert table.loc[("hammer", "ace"), "paper"] == 1.0 and table.loc[("hammer", "sac"), "paper"] == 0.2
    assert table.loc[("cheetah-run", "ace"), "paper"] == 760 and (table["n_seeds"] == 2).all()


def test_normalized_scores_and_aggregates(evals):
    norm = normalized_scores(final_scores(evals)).set_index(["task", "agent", "seed"])["normalized"]
    assert norm[("hammer", "sac", 1)] == pytest.approx(20.0)               # success in %
    assert norm[("cheetah-run", "ace", 1)] == pytest.approx(100 * 800 / 700)  # / best agent's mean (ACE: 700)
    agg = aggregate(normalized_scores(final_scores(evals)), reps=500).set_index(["suite", "agent", "statistic"])
    assert agg.loc[("Meta-World", "ace", "mean"), "value"] == pytest.approx(90.0)
    assert agg.loc[("DMControl", "sac", "mean"), "value"] == pytest.approx(100 * 300 / 700)
    assert tuple(agg.loc[("DMControl", "ace", "mean"), ["n_tasks", "n_runs"]]) == (1, 2)
    paper_norm = normalized_scores(final_scores(evals), load_paper_results(), "paper")
    assert paper_norm.set_index(["task", "agent", "seed"]).loc[("cheetah-run", "ace", 1), "normalized"] == \
        pytest.approx(100 * 800 / 760)
    with pytest.raises(ValueError, match="valid choices: best, paper"):
        normalized_scores(final_scores(evals), return_normalizer="max")


def test_paper_aggregate_reproduces_figure_1_on_meta_world():
    """Success rates in % averaged over the 12 dense Meta-World tasks give the paper's Figure 1 bars."""
    paper = load_paper_results()
    tasks = paper[paper["domain"] == "metaworld"][["domain", "task"]].drop_duplicates()
    assert len(tasks) == 12
    agg = paper_aggregate(paper, tasks).set_index(["suite", "variant"])["value"]
    figure_1 = {"ACE": 100, "SAC": 47, "TD3": 39}  # read from the paper's Figure 1 (notes section 4.1)
    for variant, value in figure_1.items():
        assert agg[("Meta-World", variant)] == pytest.approx(value, abs=5)


def test_paper_results_use_our_domain_and_task_names():
    paper = load_paper_results()
    keys = set(zip(paper["domain"], paper["task"], strict=True))
    assert {("mujoco", "hopper"), ("metaworld_sparse", "door-open"), ("metaworld", "door-open"),
            ("robel", "dkitty-stand-random"), ("panda", "reach-joints")} <= keys
    assert len(paper) == 90 and set(paper["variant"]) == {"ACE", "SAC", "TD3"}


def test_paper_tasks_are_exactly_the_benchmark_tasks():
    bench = yaml.safe_load((CONF / "benchmark" / "ace29.yaml").read_text())["benchmark"]["tasks"]
    paper = load_paper_results()
    assert {tuple(k.split("/")) for k in bench} == set(zip(paper["domain"], paper["task"], strict=True))


def test_probability_of_improvement_on_known_answers():
    from analysis.stats import probability_of_improvement

    # X beats Y on every pair of task a, loses every pair on task b: 1/2 on average.
    p, lo, hi = probability_of_improvement({"a": [5, 6, 7], "b": [0, 1]}, {"a": [1, 2], "b": [3, 4, 5]})
    assert p == 0.5 and lo <= p <= hi
    # Ties count half: x=[1,2,3] vs y=[2]: 0 + 1/2 + 1 over 3 pairs.
    assert probability_of_improvement({"t": [1, 2, 3]}, {"t": [2]})[0] == pytest.approx(0.5)
    assert probability_of_improvement({"t": [2, 3, 3]}, {"t": [2]})[0] == pytest.approx(5 / 6)
    # Complete separation gives 1 with a zero-width interval; tasks missing from Y are ignored.
    assert probability_of_improvement({"t": [2, 3], "only_x": [0]}, {"t": [0, 1]}) == (1.0, 1.0, 1.0)
    assert np.isnan(probability_of_improvement({"t": [1]}, {"u": [1]})[0])


def test_probability_of_improvement_agrees_with_mann_whitney_and_covers_the_truth():
    from scipy.stats import mannwhitneyu

    from analysis.stats import probability_of_improvement

    rng = np.random.default_rng(0)
    x, y = rng.normal(0.5, 1.0, 40), rng.normal(0.0, 1.0, 30)
    u = mannwhitneyu(x, y, alternative="greater").statistic
    p, lo, hi = probability_of_improvement({"t": x}, {"t": y})
    assert p == pytest.approx(u / (40 * 30))
    truth = 0.6382  # P(N(0.5,1) > N(0,1)) = Phi(0.5 / sqrt(2))
    assert lo < truth < hi and 0.1 < hi - lo < 0.4


def test_success_tasks_judged_by_return(evals):
    """At small budgets success is often 0 for every agent: the same runs judged by their return."""
    final = final_scores(as_returns(evals)).set_index(["task", "agent", "seed"])["score"]
    assert final[("hammer", "ace", 1)] == 0.0 and final[("cheetah-run", "ace", 1)] == 800.0
    assert set(as_returns(evals)["task_metric"]) == {"return"} and set(evals["task_metric"]) == {"success", "return"}


def test_steps_to_threshold_takes_the_median_first_step_over_seeds():
    # Seed 1 reaches 0.5 at step 200, seed 2 at step 300, seed 3 never: median of (200, 300, never) = 300.
    curves = {1: [0.1, 0.6, 0.2], 2: [0.0, 0.4, 0.9], 3: [0.0, 0.1, 0.2]}
    rows = [("metaworld", "hammer", "success", "ace", "ACE", seed, 100 * (i + 1), 0.0, v)
            for seed, values in curves.items() for i, v in enumerate(values)]
    rows += [("metaworld", "hammer", "success", "sac", "SAC", seed, 100 * (i + 1), 0.0, 0.0)
             for seed in (1, 2, 3) for i in range(3)]
    table = steps_to_threshold(_evals(rows), {("metaworld", "hammer"): 0.5}).set_index("agent")
    assert table.loc["ace", "median_step"] == 300 and table.loc["ace", "n_reached"] == 2
    assert np.isnan(table.loc["sac", "median_step"]) and table.loc["sac", "n_reached"] == 0
    assert (table["n_seeds"] == 3).all() and (table["threshold"] == 0.5).all()
    assert steps_to_threshold(_evals(rows), {("dmc", "cheetah-run"): 1.0}).empty  # only listed tasks
    # Four seeds: two reach it (at 200 and 300): the lower median is 300, a step that was evaluated;
    # with one of four it is never.
    four = rows + [("metaworld", "hammer", "success", "ace", "ACE", 4, 100 * (i + 1), 0.0, 0.0) for i in range(3)]
    table = steps_to_threshold(_evals(four), {("metaworld", "hammer"): 0.5}).set_index("agent")
    assert table.loc["ace", "median_step"] == 300 and table.loc["ace", "n_reached"] == 2
    one_of_four = [r for r in four if not (r[3] == "ace" and r[5] == 2)]
    one_of_four += [("metaworld", "hammer", "success", "ace", "ACE", 2, 100 * (i + 1), 0.0, 0.0) for i in range(3)]
    assert np.isnan(steps_to_threshold(_evals(one_of_four), {("metaworld", "hammer"): 0.5}).set_index("agent")
                    .loc["ace", "median_step"])


def test_improvement_table_has_every_ordered_pair_on_shared_tasks(evals):
    table = improvement_table(final_scores(evals), reps=300).set_index(["x", "y"])
    # ACE's runs beat SAC's on both tasks in every pairing: P = 1, and its complement 0.
    assert table.loc[("ace", "sac"), "p_x_beats_y"] == 1.0 and table.loc[("sac", "ace"), "p_x_beats_y"] == 0.0
    assert table.loc[("ace", "sac"), "n_tasks"] == 2 and len(table) == 2
    ablation = final_scores(evals)
    ablation = pd.concat([ablation, ablation[(ablation["agent"] == "sac") & (ablation["task"] == "hammer")]
                          .assign(agent="ace_reset_only", variant="ACE reset-only")])
    table = improvement_table(ablation, reps=300).set_index(["x", "y"])
    assert table.loc[("ace", "ace_reset_only"), "n_tasks"] == 1  # only the task both ran
    assert table.loc[("ace_reset_only", "sac"), "p_x_beats_y"] == 0.5  # identical runs: ties count half
