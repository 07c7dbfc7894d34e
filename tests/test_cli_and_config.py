from pathlib import Path

import pytest
from conftest import CONF, compose_cfg
from hydra.core.override_parser.overrides_parser import OverridesParser

from ace.cli import ChoiceError, check_choices, expand_ranges, group_options, preprocess
from ace.config import ConfigError, validate


def test_inclusive_range_becomes_hydra_range():
    assert expand_ranges(["seed=1..5", "agent.lr=3e-4", "hydra.run.dir=../x..y"]) == [
        "seed=range(1,6)", "agent.lr=3e-4", "hydra.run.dir=../x..y"]
    assert expand_ranges(["agent.causal.interval=-2..0"]) == ["agent.causal.interval=range(-2,1)"]
    with pytest.raises(ChoiceError, match="empty range"):
        expand_ranges(["seed=5..1"])


def test_a_sweep_needs_multirun_and_a_one_value_range_is_no_sweep():
    with pytest.raises(ChoiceError, match=r"^seed=1\.\.3 is a sweep of 3 runs; add -m to launch them"):
        preprocess(["seed=1..3"], CONF)
    with pytest.raises(ChoiceError, match=r"^agent=ace,sac is a sweep of 2 runs; add -m"):
        preprocess(["agent=ace,sac"], CONF)
    with pytest.raises(ChoiceError, match=r"^\+benchmark=ace29 is a sweep over the benchmark's tasks; add -m"):
        preprocess(["+benchmark=ace29", "agent=sac"], CONF)
    assert preprocess(["seed=1..3", "-m"], CONF) == ["seed=range(1,4)", "-m"]
    assert preprocess(["seed=4..4"], CONF) == ["seed=4"]


def test_range_expands_to_the_right_sweep():
    parsed = OverridesParser.create().parse_overrides(expand_ranges(["seed=1..5"]))
    assert list(parsed[0].sweep_iterator()) == [1, 2, 3, 4, 5]


def test_every_metaworld_task_has_a_dense_and_a_sparse_config():
    options = group_options(CONF, "env")
    dense = [o for o in options if o.startswith("metaworld/")]
    sparse = [o for o in options if o.startswith("metaworld_sparse/")]
    assert len(dense) == 50 and len(sparse) == 50
    assert {o.split("/")[1] for o in dense} == {o.split("/")[1] for o in sparse}


def test_misspelt_choices_fail_with_close_matches():
    with pytest.raises(ChoiceError, match="unknown env 'metaworld/reachh'; did you mean: metaworld/reach"):
        check_choices(["env=metaworld/reachh"], CONF)
    with pytest.raises(ChoiceError, match="did you mean: adroit/hammer, metaworld/hammer, metaworld_sparse/hammer"):
        check_choices(["env=hammer"], CONF)
    with pytest.raises(ChoiceError, match="unknown agent 'acee'; did you mean: ace"):
        check_choices(["agent=acee"], CONF)
    with pytest.raises(ChoiceError, match="unknown preset 'fast'; valid choices: cpu, paper, smoke"):
        check_choices(["preset=fast"], CONF)
    with pytest.raises(ChoiceError, match="metaworld/hamer"):
        check_choices(["env=metaworld/reach,metaworld/hamer"], CONF)
    check_choices(["env=metaworld/reach,metaworld_sparse/door-open", "agent=ace,sac", "seed=1"], CONF)


def test_presets_and_agents_compose_as_documented():
    paper = compose_cfg()
    assert paper.agent.name == "ace" and paper.agent.width == 1024 and paper.agent.batch_size == 512
    assert paper.train.total_steps == 1_000_000 and paper.train.start_steps == 10_000
    assert paper.agent.causal.interval == 10_000 and paper.agent.reset.interval == 100_000
    assert paper.env.episode_length == 200 and paper.experiment == "paper"
    sac = compose_cfg("agent=sac")
    assert sac.agent.name == "sac" and not sac.agent.causal.enabled and not sac.agent.reset.enabled
    assert sac.agent.width == 1024
    cpu = compose_cfg("preset=cpu", "agent.width=64")
    assert cpu.agent.width == 64 and cpu.train.total_steps < paper.train.total_steps  # CLI beats preset
    sparse = compose_cfg("env=metaworld_sparse/door-open")
    assert sparse.env.reward == "sparse" and sparse.env.task == "door-open"
    assert sparse.env.domain == "metaworld_sparse"
    for cfg in (paper, sac, cpu, sparse, compose_cfg("preset=smoke")):
        validate(cfg)


@pytest.mark.parametrize(("override", "message"), [
    ("agent.batch_size=0", r"agent.batch_size=0 must be a positive integer"),
    ("train.replay_size=-5", r"train.replay_size=-5 must be a positive integer"),
    ("agent.batch_size=10000", r"agent.batch_size=10000 is larger than the replay buffer \(train.replay_size=5000\)"),
    ("agent.reset.mode=random", r"agent.reset.mode='random' is not valid; choose one of: dormancy, causal"),
    ("wandb.mode=cloud", r"wandb.mode='cloud' is not valid; choose one of: online, offline, disabled"),
    ("env.task=reachh", r"unknown metaworld task 'reachh'. Did you mean: reach"),
    ("agent.gamma=1.5", r"agent.gamma=1.5 must lie in \[0.0, 1.0\]"),
])
def test_bad_values_fail_validation_with_the_key_and_choices(override, message):
    with pytest.raises(ConfigError, match=message):
        validate(compose_cfg("preset=smoke", override))


def test_conf_dir_is_the_one_run_py_uses():
    assert (Path(CONF) / "config.yaml").exists()
