"""The paper's benchmark as one config: what it expands to, and the launcher's dry run."""

import subprocess
import sys

import pytest
from conftest import CONF, ROOT
from hydra.core.override_parser.overrides_parser import OverridesParser
from omegaconf import OmegaConf

from ace.cli import group_options
from ace.config import composer

BUDGETS = {"mujoco": 1_000_000, "dmc": 400_000, "metaworld": 1_000_000, "metaworld_sparse": 1_000_000,
           "adroit": 1_000_000, "shadowhand": 1_000_000, "robel": 1_000_000, "panda": 100_000}


def sweep_envs() -> tuple[list[str], dict]:
    """The env choices Hydra's sweeper gets from ``+benchmark=ace29``, resolved as in src/run.py."""
    with composer(CONF) as compose:
        cfg = compose(["+benchmark=ace29"], return_hydra_config=True)
    params = OmegaConf.to_container(cfg.hydra.sweeper.params, resolve=True)
    (override,) = OverridesParser.create().parse_overrides([f"env={params['env']}"])
    return list(override.sweep_iterator()), OmegaConf.to_container(cfg.benchmark.tasks)


def test_benchmark_expands_to_the_papers_task_runs():
    envs, listed = sweep_envs()
    assert envs == list(listed)
    # 29 distinct tasks; door-open is run both dense and sparse, as in the paper: 30 task runs.
    assert len(envs) == 30 and len({e.split("/")[1] for e in envs}) == 29
    assert {"metaworld/door-open", "metaworld_sparse/door-open"} <= set(envs)
    by_domain = {}
    for e in envs:
        by_domain[e.split("/")[0]] = by_domain.get(e.split("/")[0], 0) + 1
    assert by_domain == {"mujoco": 4, "dmc": 5, "metaworld": 12, "adroit": 1, "shadowhand": 2, "robel": 2,
                         "panda": 1, "metaworld_sparse": 3}
    options = set(group_options(CONF, "env"))
    assert set(envs) <= options


def test_listed_budgets_and_metrics_match_the_env_configs():
    envs, listed = sweep_envs()
    with composer(CONF) as compose:
        for env in envs:
            cfg = compose(["+benchmark=ace29", f"env={env}"])
            domain = env.split("/")[0]
            expected = 3_000_000 if env == "mujoco/ant" else BUDGETS[domain]
            assert cfg.train.total_steps == expected == listed[env]["budget"], env
            assert cfg.env.metric == listed[env]["metric"], env
            assert cfg.experiment == "ace29_paper"
            if domain.startswith("metaworld"):
                assert cfg.env.goals == "fixed", env  # the paper's protocol: one goal per seed


def test_launcher_dry_run_lists_runs_without_training(tmp_path):
    proc = subprocess.run([sys.executable, str(ROOT / "launchers" / "benchmark.py"), "ace29", "--agents",
                           "ace,sac,td3", "--seeds", "1..5", "--dry-run"], cwd=tmp_path, capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    lines = proc.stdout.splitlines()
    runs = [ln for ln in lines if ln.startswith("runs/")]
    assert len(runs) == 450
    assert ["runs/ace29_paper/mujoco/ant/td3/seed=5", "3,000,000", "return"] in [r.split() for r in runs]
    assert ["runs/ace29_paper/panda/reach-joints/sac/seed=1", "100,000", "success"] in [r.split() for r in runs]
    assert "450 runs = 30 task runs x 3 agent(s) x 5 seed(s)" in proc.stdout
    assert "+benchmark=ace29 agent=ace,sac,td3 seed=1,2,3,4,5 -m" in proc.stdout
    assert not (tmp_path / "runs").exists()


def test_launching_some_of_the_tasks_narrows_the_sweep(tmp_path):
    """An ablation on one task: --tasks picks the runs and narrows the env sweep of the same benchmark."""
    proc = subprocess.run([sys.executable, str(ROOT / "launchers" / "benchmark.py"), "ace29", "--agents",
                           "ace_causal_only,ace_reset_only", "--seeds", "1..2", "--tasks", "metaworld/hammer",
                           "--dry-run"], cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    runs = sorted(ln.split()[0] for ln in proc.stdout.splitlines() if ln.startswith("runs/"))
    assert runs == [f"runs/ace29_paper/metaworld/hammer/{a}/seed={s}" for a in ("ace_causal_only", "ace_reset_only")
                    for s in (1, 2)]
    assert ("+benchmark=ace29 hydra.sweeper.params.env=metaworld/hammer agent=ace_causal_only,ace_reset_only "
            "seed=1,2 -m") in proc.stdout


def test_launcher_rejects_unknown_names(tmp_path):
    proc = subprocess.run([sys.executable, str(ROOT / "launchers" / "benchmark.py"), "ace30", "--dry-run"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and "unknown benchmark 'ace30'; valid choices: ace29" in proc.stderr
    proc = subprocess.run([sys.executable, str(ROOT / "launchers" / "benchmark.py"), "ace29", "--agents", "ppo",
                           "--dry-run"], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and "unknown agent 'ppo'" in proc.stderr


def test_dry_run_prints_the_sbatch_parameters(tmp_path):
    proc = subprocess.run([sys.executable, str(ROOT / "launchers" / "benchmark.py"), "ace29", "--seeds", "1",
                           "--dry-run", "--", "hydra/launcher=slurm", "hydra.launcher.partition=gpu",
                           "hydra.launcher.gpus_per_node=1", "hydra.launcher.account=rl"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    (launcher,) = [ln for ln in proc.stdout.splitlines() if ln.startswith("launcher: ")]
    for part in ("launcher=SlurmLauncher", "partition=gpu", "gpus_per_node=1", "account=rl", "timeout_min=1440",
                 "max_num_timeout=20", "array_parallelism=64"):
        assert part in launcher, part
    assert not (tmp_path / "runs").exists() and not (tmp_path / ".submitit").exists()


def _launcher_module():
    import importlib.util

    spec = importlib.util.spec_from_file_location("benchmark_launcher", ROOT / "launchers" / "benchmark.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_several_tasks_narrow_the_sweep_as_one_quoted_value():
    """A bare ``hydra.sweeper.params.env=a,b`` is refused by Hydra ("Sweeping over Hydra's configuration is not
    supported"): several tasks travel as one quoted value that the sweeper then splits."""
    launcher = _launcher_module()
    parser = OverridesParser.create()
    (narrow,) = parser.parse_overrides([launcher.env_sweep(["metaworld/door-open", "metaworld/plate-slide"])])
    assert not narrow.is_sweep_override() and narrow.value() == "metaworld/door-open,metaworld/plate-slide"
    (env,) = parser.parse_overrides([f"env={narrow.value()}"])
    assert list(env.sweep_iterator()) == ["metaworld/door-open", "metaworld/plate-slide"]
    assert launcher.env_sweep(["metaworld/hammer"]) == "hydra.sweeper.params.env=metaworld/hammer"


def test_relaunch_groups_missing_runs_into_few_multiruns():
    """A fresh launch is one multirun (one SLURM array keeping every slot busy), not one per task and agent."""
    launcher = _launcher_module()
    envs, agents, seeds = ("metaworld/a", "metaworld/b"), ("ace", "sac"), (1, 2, 3)
    runs = [{"env": e, "agent": a, "seed": s, "state": "missing"} for e in envs for a in agents for s in seeds]
    assert launcher.relaunch_groups(runs) == [(list(envs), list(agents), ["1", "2", "3"])]
    for r in runs:  # some done or running: the rest in as few products as they form
        if (r["env"], r["agent"]) == ("metaworld/a", "ace") and r["seed"] < 3:
            r["state"] = "done"
        if r["env"] == "metaworld/b" and r["seed"] == 1:
            r["state"] = "running"
    groups = launcher.relaunch_groups(runs)
    assert sorted(groups) == sorted([(["metaworld/a"], ["ace"], ["3"]), (["metaworld/a"], ["sac"], ["1", "2", "3"]),
                                     (["metaworld/b"], ["ace", "sac"], ["2", "3"])])
    covered = {(e, a, s) for es, as_, ss in groups for e in es for a in as_ for s in ss}
    assert covered == {(r["env"], r["agent"], str(r["seed"])) for r in runs if r["state"] in ("missing", "failed")}


def test_the_cpu_study_is_one_preset_and_budget_under_the_papers_protocol():
    with composer(CONF) as compose:
        cfg = compose(["+benchmark=mw_cpu"], return_hydra_config=True)
        params = OmegaConf.to_container(cfg.hydra.sweeper.params, resolve=True)
        listed = OmegaConf.to_container(cfg.benchmark.tasks)
        (override,) = OverridesParser.create().parse_overrides([f"env={params['env']}"])
        assert list(override.sweep_iterator()) == list(listed) and len(listed) == 3
        for env in listed:
            for agent in ("ace", "sac", "ace_causal_only", "ace_reset_only"):
                run = compose(["+benchmark=mw_cpu", f"env={env}", f"agent={agent}"])
                assert run.train.total_steps == listed[env]["budget"] == 60_000
                assert (run.preset.name, run.agent.width, run.agent.batch_size) == ("cpu", 128, 128)
                assert run.env.goals == "fixed" and run.env.metric == listed[env]["metric"] == "success"
                assert run.experiment == "mw_cpu" and run.eval.episodes == 1 and run.eval.every == 5000


def test_a_relaunch_fails_when_any_multirun_fails_or_is_killed():
    launcher = _launcher_module()
    ok, fail, killed = ([sys.executable, "-c", code] for code in
                        ("pass", "raise SystemExit(3)", "import os, signal; os.kill(os.getpid(), signal.SIGKILL)"))
    for concurrently in (False, True):
        assert launcher.run_all([ok, ok], concurrently) == 0
        assert launcher.run_all([ok, fail], concurrently) == 3
        assert launcher.run_all([killed, ok], concurrently) == 1  # a negative status is no success
    with pytest.raises(launcher.ChoiceError, match="characters a sweep cannot carry"):
        launcher.env_sweep(["metaworld/a", "metaworld/b=c"])
