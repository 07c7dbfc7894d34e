"""The GPU check: one command for a CUDA machine that has no network (``make gpu-check``).

    python3 gpu_check/check.py --out DIR        # = make gpu-check OUT_DIR=DIR
    python3 gpu_check/check.py --dry-run        # the plan and what is missing, on any machine

It needs a CUDA torch, numpy, scikit-learn and pytest (the GPU image's), and the wheels of
gpu_check/wheels/ (``make gpu-wheels`` downloads them where PyPI is reachable). Each part runs in
its own process within its time budget (then it is interrupted, and the check goes on), 7 minutes
in all on an H100/H200:

1. install: the wheels into a temporary folder (pip --no-index --no-deps --target), on PYTHONPATH;
2. tests: the CUDA tests (pytest -m cuda): causal fit, replay, every agent.compile mode, every
   agent.precision, a GPU run resumed on a CPU;
3. run: Meta-World reach at paper size for 20k steps, agent.compile=reduce-overhead, replay and
   causal fits on the GPU: steps/s, updates/s and the projected time of a 1M-step run;
4. bench: the GPU sections of make bench, reduced (causal fits; the paper-size update, eager and
   compiled, against the plain reference update).

Everything goes to DIR/gpu_check.csv (part, item, metric, value) and DIR/gpu_check.log.
Exit status: 0 all parts passed, 1 a part failed or ran out of time, 2 a prerequisite is missing.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from gpu_check.budget import Log, Outcome, run_within  # noqa: E402
from gpu_check.figures import Row, bench_rows, junit_rows, run_rows  # noqa: E402
from gpu_check.manifest import WHEELS, pinned_wheels  # noqa: E402

WHEEL_DIR = ROOT / "gpu_check" / "wheels"
TOTAL_BUDGET_S = 420  # 7 minutes
#: Test files holding CUDA tests (tests/test_gpu_check.py checks that none is missing).
CUDA_TEST_FILES = ("tests/test_buffer.py", "tests/test_cuda.py", "tests/test_fast_update.py")
RUN_STEPS, RUN_START_STEPS = 20_000, 10_000  # the paper preset's random-action start
RUN_OVERRIDES = ("env=metaworld/reach", "preset=paper", f"train.total_steps={RUN_STEPS}",
                 f"train.start_steps={RUN_START_STEPS}", "agent.compile=reduce-overhead", "device=cuda",
                 "train.replay_device=auto", "agent.causal.device=auto", "wandb.mode=disabled",
                 "eval.video.enabled=false", "log.progress=lines", "log.every=1000", "seed=1")
BENCH_ARGS = ("--device", "cuda", "--only", "causal", "--only", "update", "--vars", "24,44,68", "--samples", "10000",
              "--repeats", "3", "--sizes", "1024x3x512", "--compile", "off,reduce-overhead", "--seconds", "2")
#: Run in the parts' processes: what torch and the machine are (no CUDA context in the check itself).
PROBE = """import json, os, platform, torch
cuda = torch.cuda.is_available()
info = {"python": platform.python_version(), "torch": torch.__version__, "cuda": torch.version.cuda,
        "cuda_available": cuda, "cpus": os.cpu_count()}
if cuda:
    p = torch.cuda.get_device_properties(0)
    info.update(gpu=p.name, gpu_memory_gib=round(p.total_memory / 2**30, 1), capability=f"{p.major}.{p.minor}",
                gpus=torch.cuda.device_count())
print(json.dumps(info))"""


class CheckError(Exception):
    """A missing prerequisite: reported as one line, exit status 2."""


@dataclass
class Context:
    out: Path
    work: Path
    wheels: Path
    python: str = sys.executable

    @property
    def site(self) -> Path:
        return self.work / "site"

    @property
    def env(self) -> dict[str, str]:
        """The parts' environment: the installed wheels and the repo importable, no GL, no wandb."""
        path = [str(self.site), str(ROOT / "src"), str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])]
        return {**os.environ, "PYTHONPATH": os.pathsep.join(path), "PYTHONUNBUFFERED": "1",
                "MUJOCO_GL": "disable",  # Meta-World states need no OpenGL, and egl fails without libEGL
                "WANDB_MODE": "disabled", "WANDB_SILENT": "true"}


@dataclass
class Part:
    name: str
    budget_s: float
    what: str
    commands: Callable[[Context], list[list[str]]]
    figures: Callable[[Context], list[Row]]


def install_commands(ctx: Context) -> list[list[str]]:
    return [[ctx.python, "-m", "pip", "install", "-q", "--no-index", "--no-deps", "--no-compile", "--no-cache-dir",
             "--disable-pip-version-check", "--target", str(ctx.site), *map(str, pinned_wheels(ctx.wheels).values())],
            [ctx.python, "-c", "import gymnasium, hydra, metaworld, mujoco, omegaconf; "
                               "print('imported: mujoco', mujoco.__version__, 'gymnasium', gymnasium.__version__, "
                               "'hydra', hydra.__version__, 'omegaconf', omegaconf.__version__)"]]


def installed_versions(ctx: Context) -> list[Row]:
    from importlib import metadata

    found = {d.metadata["Name"]: d.version for d in metadata.distributions(path=[str(ctx.site)])}
    return [(name, "version", version) for name, version in sorted(found.items())]


def test_commands(ctx: Context) -> list[list[str]]:
    return [[ctx.python, "-m", "pytest", "-m", "cuda", "-p", "no:cacheprovider", "-q", "-rfEs",
             f"--junitxml={ctx.work / 'junit.xml'}", *CUDA_TEST_FILES]]


def run_commands(ctx: Context) -> list[list[str]]:
    return [[ctx.python, "src/run.py", *RUN_OVERRIDES, f"hydra.run.dir={ctx.work / 'run'}"]]


def bench_commands(ctx: Context) -> list[list[str]]:
    return [[ctx.python, "benchmarks/speed.py", *BENCH_ARGS, "--out", str(ctx.work / "speed.csv")]]


PARTS = (
    Part("install", 20, "the carried wheels into a temporary folder", install_commands, installed_versions),
    Part("tests", 160, "pytest -m cuda: " + " ".join(CUDA_TEST_FILES), test_commands,
         lambda ctx: junit_rows(ctx.work / "junit.xml")),
    Part("run", 150, f"src/run.py {' '.join(RUN_OVERRIDES)}", run_commands,
         lambda ctx: run_rows(ctx.work / "run" / "train.csv", RUN_START_STEPS, "metaworld/reach 1024x3 b512")),
    Part("bench", 75, f"benchmarks/speed.py {' '.join(BENCH_ARGS)}", bench_commands,
         lambda ctx: bench_rows(ctx.work / "speed.csv")),
)


def missing_wheels(folder: Path) -> list[str]:
    """Pinned wheels not in ``folder`` (a wheel of another version counts as missing)."""
    have = pinned_wheels(folder)
    return [f"{n}=={v}" for n, v in WHEELS.items() if n not in have]


def probe_machine(python: str) -> dict:
    """torch's and the GPU's description, from a child process; CheckError if torch cannot say."""
    try:
        proc = subprocess.run([python, "-c", PROBE], capture_output=True, text=True, timeout=120)
    except (OSError, subprocess.TimeoutExpired) as e:
        raise CheckError(f"{python} could not report on torch ({e})") from None
    if proc.returncode != 0:
        last = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        raise CheckError(f"{python} cannot import torch ({last})")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def preflight(ctx: Context) -> dict:
    machine = probe_machine(ctx.python)
    if not machine["cuda_available"]:
        raise CheckError(f"CUDA is not available to torch {machine['torch']} here: this check runs on a CUDA GPU "
                         "(see README, 'GPU check')")
    missing = missing_wheels(ctx.wheels)
    if missing:
        raise CheckError(f"{len(missing)} wheel(s) missing from {ctx.wheels} ({', '.join(missing)}): run "
                         "`make gpu-wheels` where PyPI is reachable and bring that folder along")
    return machine


def budgets(parts: list[Part], spent_s: float, total_s: float = TOTAL_BUDGET_S) -> list[float]:
    """Each part's own budget, in order, as long as the total allows: the last parts are cut first."""
    out, left = [], total_s - spent_s
    for part in parts:
        out.append(max(0.0, min(part.budget_s, left)))
        left -= out[-1]
    return out


class Results:
    """The one CSV, written row by row: a check stopped from outside keeps what it has measured."""

    HEADER = ("part", "item", "metric", "value")

    def __init__(self, path: Path):
        self.file = open(path, "w", newline="", encoding="utf-8")
        self.writer = csv.writer(self.file)
        self.writer.writerow(self.HEADER)

    def add(self, part: str, rows: list[Row]) -> None:
        for row in rows:
            self.writer.writerow((part, *row))
        self.file.flush()

    def close(self) -> None:
        self.file.close()


def run_part(part: Part, budget_s: float, ctx: Context, log: Log, results: Results) -> Outcome:
    log.write(f"\n== {part.name} (budget {budget_s:.0f} s): {part.what}\n")
    t0, outcome = time.monotonic(), Outcome(0, 0.0, False)
    for cmd in part.commands(ctx):
        left = budget_s - (time.monotonic() - t0)
        if left <= 1:
            outcome = Outcome(outcome.returncode, outcome.seconds, True)
            break
        log.write("$ " + " ".join(cmd) + "\n")
        step = run_within(cmd, left, log, env=ctx.env, cwd=ROOT)
        outcome = Outcome(step.returncode, time.monotonic() - t0, step.stopped)
        if not step.ok:
            break
    status = "ok" if outcome.ok else (f"stopped at its {budget_s:.0f} s budget" if outcome.stopped
                                      else f"failed (exit {outcome.returncode})")
    try:
        rows = part.figures(ctx)
    except Exception as e:  # a part that died half-way may leave half a file: say so, keep going
        rows = [("figures", "error", f"{type(e).__name__}: {e}")]
    results.add(part.name, [("part", "status", status), ("part", "seconds", f"{outcome.seconds:.1f}"),
                            ("part", "budget_s", f"{budget_s:.0f}"), *rows])
    log.write(f"== {part.name}: {status} after {outcome.seconds:.0f} s\n")
    return outcome


def summary(csv_path: Path) -> list[str]:
    """The headline figures, for the end of the log."""
    with open(csv_path, newline="") as f:
        rows = list(csv.DictReader(f))
    pick = {("part", "status"), ("all", "passed"), ("all", "failed"), ("all", "error"), ("all", "skipped")}
    lines = []
    for r in rows:
        if (r["item"], r["metric"]) in pick or r["metric"] in (
                "steps_per_s", "steady_steps_per_s", "updates_per_s", "projected_1000k_h") or (
                r["part"] == "bench" and r["metric"] in ("ratio", "ours_per_s", "ours_s")):
            lines.append(f"  {r['part']:8s} {r['item']:55s} {r['metric']:20s} {r['value']}")
    return lines


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", type=Path, default=ROOT / "gpu_check_results", help="folder of the CSV and the log")
    p.add_argument("--wheels", type=Path, default=WHEEL_DIR, help="folder of the carried wheels")
    p.add_argument("--only", action="append", choices=[x.name for x in PARTS[1:]],
                   help="run only these parts (repeatable; the install always runs)")
    p.add_argument("--dry-run", action="store_true", help="print the plan and what is missing; run nothing")
    p.add_argument("--keep", action="store_true", help="keep the temporary folder (installed wheels, run folder)")
    args = p.parse_args(argv)
    started = time.monotonic()
    parts = [x for x in PARTS if x.name == "install" or not args.only or x.name in args.only]
    ctx = Context(out=args.out, work=Path(tempfile.gettempdir()) / "ace-gpu-check", wheels=args.wheels)
    if args.dry_run:
        return dry_run(parts, ctx)
    try:
        machine = preflight(ctx)
    except CheckError as e:
        print(f"gpu-check: {e}", file=sys.stderr)
        return 2
    ctx.out.mkdir(parents=True, exist_ok=True)
    ctx.work = Path(tempfile.mkdtemp(prefix="ace-gpu-check-"))
    log, results = Log(ctx.out / "gpu_check.log"), Results(ctx.out / "gpu_check.csv")
    results.add("machine", [("machine", k, str(v)) for k, v in machine.items()])
    log.write(f"gpu-check: {json.dumps(machine)}\n")
    if shutil.which("nvidia-smi"):
        run_within(["nvidia-smi"], 30, log)
    outcomes = []
    for part, budget in zip(parts, budgets(parts, time.monotonic() - started), strict=True):
        outcomes.append(run_part(part, budget, ctx, log, results))
        if part.name == "install" and not outcomes[-1].ok:
            log.write("== the wheels did not install: nothing else can run\n")
            break
    results.close()
    log.write(f"\n== summary ({time.monotonic() - started:.0f} s in all; every figure in gpu_check.csv)\n")
    log.write("\n".join(summary(ctx.out / "gpu_check.csv")) + "\n")
    log.close()
    if not args.keep:
        shutil.rmtree(ctx.work, ignore_errors=True)
    return 0 if all(o.ok for o in outcomes) else 1


def dry_run(parts: list[Part], ctx: Context) -> int:
    print(f"gpu-check plan ({sum(x.budget_s for x in parts):.0f} s of budgets; the check stops at "
          f"{TOTAL_BUDGET_S} s):")
    for part in parts:
        print(f"  {part.name:8s} {part.budget_s:4.0f} s  {part.what}")
        for cmd in part.commands(ctx):
            print("           $ " + shlex.join(cmd))
    missing = missing_wheels(ctx.wheels)
    print(f"wheels: {len(WHEELS) - len(missing)} of {len(WHEELS)} in {ctx.wheels}"
          + (f"; missing {', '.join(missing)} (make gpu-wheels)" if missing else ""))
    print(f"results: {ctx.out / 'gpu_check.csv'} and {ctx.out / 'gpu_check.log'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
