"""Launch a named benchmark (conf/benchmark/<name>.yaml) x agents x seeds as one Hydra multirun.

    python launchers/benchmark.py ace29 --agents ace,sac,td3 --seeds 1..5 --dry-run
    python launchers/benchmark.py ace29 --agents ace --seeds 1..3 -- preset=cpu

``--tasks a,b`` keeps only those of the benchmark's tasks (an ablation on one task, a status of a few).
``--dry-run`` prints every run (folder, env, agent, seed, budget, metric) and the command, and
trains nothing. Without it the command is executed (Hydra's launcher: local by default, or
``-- hydra/launcher=slurm``). Arguments after ``--`` are passed to src/run.py as overrides.

``--status`` tells each run's state from its folder and the scheduler: done, running (its folder's
lock is held by a live process, or its SLURM job is queued), failed (neither finished nor running;
with the reason the run recorded, e.g. a divergence) or missing. ``--relaunch`` launches the failed
and missing runs only, as few multiruns as their (tasks x agents x seeds) products allow; through
SLURM these are submitted together (with ``--dry-run``: prints the commands). A run whose job waits
in the queue without a folder yet is found from submitit's record of it (``runs/<experiment>/.submitit``)
and counts as running, so a relaunch does not queue it twice.
"""

from __future__ import annotations

import argparse
import os
import pickle
import re
import shlex
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from omegaconf import OmegaConf  # noqa: E402

from ace.cli import ChoiceError, expand_ranges, group_options  # noqa: E402
from ace.config import CONF_DIR as CONF  # noqa: E402
from ace.config import composer  # noqa: E402
from ace.run_folder import STATES, RunFolder  # noqa: E402


def parse_list(text: str, name: str) -> list[str]:
    """``a,b,c`` or an inclusive integer range ``1..5``."""
    expanded = expand_ranges([f"x={text}"])[0].removeprefix("x=")
    if expanded.startswith("range("):
        a, b = (int(v) for v in expanded[6:-1].split(","))
        return [str(v) for v in range(a, b)]
    items = [v.strip() for v in text.split(",") if v.strip()]
    if not items:
        raise ChoiceError(f"--{name} is empty")
    return items


def plan(benchmark: str, agents: list[str], seeds: list[str], overrides: list[str],
         only: list[str] | None = None) -> list[dict]:
    """Every run the multirun would launch, composed exactly as src/run.py composes it."""
    runs = []
    with composer() as compose:
        tasks = list(compose([f"+benchmark={benchmark}", *overrides]).benchmark.tasks)
        unknown = sorted(set(only or []) - set(tasks))
        if unknown:
            raise ChoiceError(f"--tasks {', '.join(unknown)} not in benchmark {benchmark}; it has: {', '.join(tasks)}")
        for env in tasks:
            if only and env not in only:
                continue
            for agent in agents:
                cfg = compose([f"+benchmark={benchmark}", f"env={env}", f"agent={agent}",
                               *overrides])  # the seed changes only the folder
                for seed in seeds:
                    run_dir = f"runs/{cfg.experiment}/{cfg.env.domain}/{cfg.env.task}/{cfg.agent.name}/seed={seed}"
                    runs.append({"run_dir": run_dir, "env": env, "agent": agent, "seed": int(seed),
                                 "budget": cfg.train.total_steps, "metric": cfg.env.metric,
                                 "experiment": cfg.experiment})
    return runs


def _queued_job_ids() -> set[str] | None:
    """This user's job ids in the SLURM queue, one per array task (``-r``: a pending array is not one
    ``12_[0-9]`` line), or None where there is no SLURM."""
    try:
        out = subprocess.run(["squeue", "--me", "-h", "-r", "-o", "%i"], capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return set(out.stdout.split()) if out.returncode == 0 else None


def queued_runs(submitit_dir: Path, queued: set[str]) -> dict[tuple[str, str, int], str]:
    """(env, agent, seed) -> job id of the queued jobs submitted from ``submitit_dir``.

    A job that has not started yet has no run folder; submitit keeps what it will run in
    ``<job id>/<job id>_submitted.pkl``: Hydra's overrides for that run. Without this, a run waiting in
    the queue counts as missing and a relaunch queues it a second time.
    """
    found = {}
    for job in queued:
        pkl = submitit_dir / job / f"{job}_submitted.pkl"
        try:
            with pkl.open("rb") as f:
                overrides = pickle.load(f).args[0]
        except FileNotFoundError:  # another experiment's job, or another user's
            continue
        except Exception as e:  # ours but unreadable (e.g. written by another submitit or Hydra version)
            print(f"warning: cannot read queued job {job} ({pkl}: {e}); if it is one of these runs, a relaunch "
                  "queues it again (its lock lets only one train)", file=sys.stderr)
            continue
        values = dict(o.split("=", 1) for o in overrides if isinstance(o, str) and "=" in o and not o.startswith("+"))
        if {"env", "agent", "seed"} <= values.keys() and values["seed"].isdigit():
            found[(values["env"], values["agent"], int(values["seed"]))] = job
    return found


def run_states(runs: list[dict]) -> None:
    """Set each run's ``state`` and ``detail`` from its folder, its lock and the SLURM queue."""
    queued = _queued_job_ids()
    waiting = {}
    if queued:
        for experiment in {r["experiment"] for r in runs}:
            waiting.update(queued_runs(Path("runs") / experiment / ".submitit", queued))
    for r in runs:
        r["state"], r["detail"] = RunFolder(r["run_dir"]).state(r["budget"], queued)
        job = waiting.get((r["env"], r["agent"], r["seed"]))
        if r["state"] in ("missing", "failed") and job is not None:
            r["state"], r["detail"] = "running", f"SLURM job {job} in the queue"


def env_sweep(envs: list[str]) -> str:
    """The override narrowing the benchmark's env sweep; several tasks are quoted, as Hydra refuses
    a bare comma list on a hydra.* key ("Sweeping over Hydra's configuration is not supported")."""
    bad = [e for e in envs if not re.fullmatch(r"[\w./-]+", e)]
    if bad:
        raise ChoiceError(f"task name {bad[0]!r} has characters a sweep cannot carry (letters, digits, _ . / - only)")
    value = ",".join(envs)
    return f"hydra.sweeper.params.env='{value}'" if len(envs) > 1 else f"hydra.sweeper.params.env={value}"


def relaunch_groups(runs: list[dict]) -> list[tuple[list[str], list[str], list[str]]]:
    """The failed and missing runs as few (envs, agents, seeds) products as possible.

    Hydra sweeps a product, so runs are first grouped by (env, agent), then agents with the same
    missing seeds of one env are merged, then envs with the same agents and seeds: a fresh launch is
    one multirun (one SLURM array that keeps every slot busy), not one per task and agent.
    """
    seeds: dict[tuple[str, str], list[str]] = {}
    for r in runs:
        if r["state"] in ("failed", "missing"):
            seeds.setdefault((r["env"], r["agent"]), []).append(str(r["seed"]))
    by_env: dict[tuple[str, tuple[str, ...]], list[str]] = {}
    for (env, agent), s in seeds.items():
        by_env.setdefault((env, tuple(s)), []).append(agent)
    merged: dict[tuple[tuple[str, ...], tuple[str, ...]], list[str]] = {}
    for (env, s), agents in by_env.items():
        merged.setdefault((tuple(agents), s), []).append(env)
    return [(envs, list(agents), list(s)) for (agents, s), envs in merged.items()]


def relaunch_commands(benchmark: str, runs: list[dict], overrides: list[str]) -> list[list[str]]:
    """One multirun per group of failed and missing runs, with the benchmark's config.

    The benchmark stays in the config (so a failed run's folder accepts the relaunch as the same
    run and resumes it); only its env sweep is narrowed to the group's tasks.
    """
    return [[sys.executable, str(ROOT / "src" / "run.py"), f"+benchmark={benchmark}",
             env_sweep(envs), f"agent={','.join(agents)}", f"seed={','.join(seeds)}",
             *overrides, "-m"]
            for envs, agents, seeds in relaunch_groups(runs)]


def run_all(cmds: list[list[str]], concurrently: bool) -> int:
    """Run the multiruns; through a scheduler all at once (each waits for its own array), else in turn.

    Returns 0 if every multirun succeeded, else the first failure's status (1 for one killed by a signal).
    """
    if concurrently:
        procs = [subprocess.Popen(c) for c in cmds]
        codes = [p.wait() for p in procs]
    else:
        codes = [subprocess.run(c, check=False).returncode for c in cmds]
    return next((c if c > 0 else 1 for c in codes if c), 0)


def launcher_settings(benchmark: str, overrides: list[str]) -> dict:
    """The Hydra launcher's settings (the sbatch parameters for hydra/launcher=slurm), resolved."""
    with composer() as compose:
        cfg = compose([f"+benchmark={benchmark}", *overrides], return_hydra_config=True)
    launcher = OmegaConf.to_container(cfg.hydra.launcher, resolve=False)
    target = str(launcher.pop("_target_", ""))
    if "submitit" not in target:
        return {}
    return {"launcher": target.rsplit(".", 1)[-1], **{k: v for k, v in launcher.items() if v not in (None, {}, [])}}


def command(benchmark: str, agents: list[str], seeds: list[str], overrides: list[str],
            tasks: list[str] | None = None) -> list[str]:
    """The multirun; ``tasks`` narrows the benchmark's env sweep (the config keeps the whole benchmark)."""
    narrow = [env_sweep(tasks)] if tasks else []
    return [sys.executable, str(ROOT / "src" / "run.py"), f"+benchmark={benchmark}", *narrow,
            f"agent={','.join(agents)}", f"seed={','.join(seeds)}", *overrides, "-m"]


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    overrides: list[str] = []
    if "--" in argv:
        i = argv.index("--")
        argv, overrides = argv[:i], argv[i + 1:]
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("benchmark", help=f"one of: {', '.join(group_options(CONF, 'benchmark'))}")
    parser.add_argument("--agents", default="ace", help="comma list, e.g. ace,sac,td3")
    parser.add_argument("--seeds", default="1..5", help="comma list or inclusive range a..b")
    parser.add_argument("--dry-run", action="store_true", help="print the runs and the command; train nothing")
    parser.add_argument("--tasks", default=None,
                        help="only these of the benchmark's tasks (comma list), e.g. an ablation on one task")
    parser.add_argument("--status", action="store_true", help="done / running / failed / missing per run")
    parser.add_argument("--relaunch", action="store_true", help="launch only the failed and missing runs")
    args = parser.parse_args(argv)

    try:
        benchmarks = group_options(CONF, "benchmark")
        if args.benchmark not in benchmarks:
            raise ChoiceError(f"unknown benchmark {args.benchmark!r}; valid choices: {', '.join(benchmarks)}")
        agents, seeds = parse_list(args.agents, "agents"), parse_list(args.seeds, "seeds")
        bad = [a for a in agents if a not in group_options(CONF, "agent")]
        if bad:
            raise ChoiceError(f"unknown agent {bad[0]!r}; valid choices: {', '.join(group_options(CONF, 'agent'))}")
    except ChoiceError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2

    tasks = parse_list(args.tasks, "tasks") if args.tasks else None
    try:
        runs = plan(args.benchmark, agents, seeds, overrides, tasks)
    except ChoiceError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    cmd = command(args.benchmark, agents, seeds, overrides, tasks)
    if args.status or args.relaunch:
        run_states(runs)
        if args.status:
            width = max(len(r["run_dir"]) for r in runs)
            for r in runs:
                print(f"{r['run_dir']:<{width}}  {r['state']:<7}  {r['detail']}".rstrip())
            counts = {s: sum(r["state"] == s for r in runs) for s in STATES}
            print(", ".join(f"{n} {s}" for s, n in counts.items()))
        if args.relaunch:
            cmds = relaunch_commands(args.benchmark, runs, overrides)
            if not cmds:
                print("nothing to relaunch")
            for c in cmds:
                print("relaunch: " + " ".join(shlex.quote(x) for x in c), flush=True)
            if cmds and not args.dry_run:
                through_slurm = launcher_settings(args.benchmark, overrides).get("launcher") == "SlurmLauncher"
                return run_all(cmds, concurrently=through_slurm)
        return 0
    if args.dry_run:
        width = max(len(r["run_dir"]) for r in runs)
        print(f"{'run folder':<{width}}  {'budget':>9}  metric")
        for r in runs:
            print(f"{r['run_dir']:<{width}}  {r['budget']:>9,d}  {r['metric']}")
        n_tasks = len({r["env"] for r in runs})
        total = sum(r["budget"] for r in runs)
        print(f"{len(runs)} runs = {n_tasks} task runs x {len(agents)} agent(s) x {len(seeds)} seed(s); "
              f"{total:,d} env steps in all")
        print("command: " + " ".join(shlex.quote(c) for c in cmd))
        launcher = launcher_settings(args.benchmark, overrides)
        if launcher:
            print("launcher: " + ", ".join(f"{k}={v}" for k, v in launcher.items()))
        return 0
    os.execv(cmd[0], cmd)
    return 0  # not reached


if __name__ == "__main__":
    sys.exit(main())
