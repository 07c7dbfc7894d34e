"""Launch a named benchmark (conf/benchmark/<name>.yaml) x agents x seeds as one Hydra multirun.

    python launchers/benchmark.py ace29 --agents ace,sac,td3 --seeds 1..5 --dry-run
    python launchers/benchmark.py ace29 --agents ace --seeds 1..3 -- preset=cpu

``--dry-run`` prints every run (folder, env, agent, seed, budget, metric) and the command, and
trains nothing. Without it the command is executed: today with Hydra's local launcher.
Arguments after ``--`` are passed to src/run.py as overrides.
"""

from __future__ import annotations

import argparse
import os
import shlex
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from hydra import compose, initialize_config_dir  # noqa: E402

from ace.cli import ChoiceError, expand_ranges, group_options  # noqa: E402
from ace.config import register_resolvers  # noqa: E402

CONF = ROOT / "conf"


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


def plan(benchmark: str, agents: list[str], seeds: list[str], overrides: list[str]) -> list[dict]:
    """Every run the multirun would launch, composed exactly as src/run.py composes it."""
    register_resolvers()
    runs = []
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        tasks = compose("config", overrides=[f"+benchmark={benchmark}", *overrides]).benchmark.tasks
        for env in tasks:
            for agent in agents:
                cfg = compose("config", overrides=[f"+benchmark={benchmark}", f"env={env}", f"agent={agent}",
                                                   *overrides])  # the seed changes only the folder
                for seed in seeds:
                    run_dir = f"runs/{cfg.experiment}/{cfg.env.domain}/{cfg.env.task}/{cfg.agent.name}/seed={seed}"
                    runs.append({"run_dir": run_dir, "env": env, "agent": agent, "seed": int(seed),
                                 "budget": cfg.train.total_steps, "metric": cfg.env.metric})
    return runs


def command(benchmark: str, agents: list[str], seeds: list[str], overrides: list[str]) -> list[str]:
    return [sys.executable, str(ROOT / "src" / "run.py"), f"+benchmark={benchmark}", f"agent={','.join(agents)}",
            f"seed={','.join(seeds)}", *overrides, "-m"]


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

    cmd = command(args.benchmark, agents, seeds, overrides)
    if args.dry_run:
        runs = plan(args.benchmark, agents, seeds, overrides)
        width = max(len(r["run_dir"]) for r in runs)
        print(f"{'run folder':<{width}}  {'budget':>9}  metric")
        for r in runs:
            print(f"{r['run_dir']:<{width}}  {r['budget']:>9,d}  {r['metric']}")
        n_tasks = len({r["env"] for r in runs})
        total = sum(r["budget"] for r in runs)
        print(f"{len(runs)} runs = {n_tasks} task runs x {len(agents)} agent(s) x {len(seeds)} seed(s); "
              f"{total:,d} env steps in all")
        print("command: " + " ".join(shlex.quote(c) for c in cmd))
        return 0
    os.execv(cmd[0], cmd)
    return 0  # not reached


if __name__ == "__main__":
    sys.exit(main())
