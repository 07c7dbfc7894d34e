"""Speed of the parts a million-step ACE run pays for, ours against the straightforward versions.

    make bench                                   # everything, prints tables, writes bench_results/speed.csv
    python benchmarks/speed.py --only causal --vars 24,44 --samples 10000

1. Causal discovery: ``ace.direct_lingam`` vs ``lingam.DirectLiNGAM`` on the same data: generated
   LiNGAM data per variable count, and a real Meta-World window. Full adjacency and the reward row
   only (what ACE computes); whether the order and matrix agree is reported too.
2. Update step: updates/s of ``ACEAgent.update`` vs the plain official-style update
   (``ace.agents.reference``, float32) at the ``cpu`` preset's size (128 x 2, batch 128), 256 x 3 / 256
   and paper size (1024 x 3, batch 512), for each ``agent.precision`` the device runs fast
   (``fp32``; ``bf16`` on CPUs with AVX512-BF16/AMX and on CUDA; ``tf32`` on CUDA). Each row also
   gives the hardware's limit: the update's matrix products timed alone (``matmul_floor.py``) and
   ``ratio_limit``, the ratio an update of nothing but those products would reach.
3. End to end: env steps/s of a short Meta-World reach run with causal discovery on, official
   schedule (lingam, synchronous) vs ours (fast backend, background fit).

Every ratio compares two measurements taken in this same process (our causal fits: median of
``--repeats`` runs; lingam: one run, a minute at 68 variables). On a GPU (when CUDA is
available) the update step and the fast causal backend are measured on it as well;
``--device cuda`` measures only those (``make gpu-check`` runs them in a reduced form), and
``--compile`` times our update compiled too. Without the lingam package, only our fits are timed.
"""

from __future__ import annotations

import argparse
import csv
import importlib.util
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from matmul_floor import record_products, replay  # noqa: E402

from ace.agents import ACEAgent  # noqa: E402
from ace.agents.common import COMPILE_MODES, to_device  # noqa: E402
from ace.agents.reference import ReferenceACE  # noqa: E402
from ace.config import composer  # noqa: E402
from ace.direct_lingam import direct_lingam  # noqa: E402

OBS_DIM, ACT_DIM = 39, 4  # Meta-World


def lingam_data(n: int, p: int, seed: int) -> np.ndarray:
    """A random linear non-Gaussian SEM: sparse DAG, uniform noise, last column a sink (the 'reward')."""
    rng = np.random.default_rng(seed)
    b = np.tril(rng.uniform(0.3, 1.0, (p, p)) * rng.choice([-1, 1], (p, p)) * (rng.uniform(size=(p, p)) < 3.0 / p), -1)
    e = rng.uniform(-1, 1, (n, p))
    x = np.linalg.solve(np.eye(p) - b, e.T).T
    perm = np.r_[rng.permutation(p - 1), p - 1]
    return x[:, perm]


def _median_time(repeats: int, fn, *args, **kwargs):
    """Median wall time of ``repeats`` calls, and the last result (ours: cheap enough to repeat)."""
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        out = fn(*args, **kwargs)
        times.append(time.perf_counter() - t)
    return float(np.median(times)), out


def bench_causal(vars_: list[int], n: int, lingam_max_vars: int, rows: list[dict], device: str, repeats: int) -> None:
    direct_lingam(lingam_data(500, 5, seed=0), device=device)  # warm-up: torch's first calls are slow
    for p in vars_:
        _causal_row(f"{n}x{p}", lingam_data(n, p, seed=p), device, repeats, p <= lingam_max_vars, rows)


def metaworld_window(task: str, n: int, seed: int = 1) -> np.ndarray:
    from ace.causal import random_action_window
    from ace.envs import make_env

    with composer() as compose:
        env = make_env(compose([f"env={task}"]).env, seed)
    return random_action_window(env, n, seed)


def bench_causal_real(task: str, x: np.ndarray, rows: list[dict], device: str, repeats: int, with_lingam: bool) -> None:
    _causal_row(f"{task} window {x.shape[0]}x{x.shape[1]}", x, device, repeats, with_lingam, rows)


def _causal_row(case: str, x: np.ndarray, device: str, repeats: int, with_lingam: bool, rows: list[dict]) -> None:
    """Ours (full matrix and reward row, the last column) and, if asked and installed, lingam on the same data."""
    import warnings

    ours, (order, adj) = _median_time(repeats, direct_lingam, x, device=device)
    ours_row, _ = _median_time(repeats, direct_lingam, x, rows=[-1], device=device)
    row = {"section": "causal", "case": case, "device": device, "ours_s": ours, "ours_reward_row_s": ours_row}
    if with_lingam and importlib.util.find_spec("lingam") is not None:
        import lingam

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # scikit-learn's LARS on real, near-collinear windows
            t = time.perf_counter()
            model = lingam.DirectLiNGAM().fit(x)
            ref = time.perf_counter() - t
        row.update(reference_s=ref, ratio=ref / ours, ratio_reward_row=ref / ours_row,
                   same_order=list(model.causal_order_) == list(order),
                   max_abs_diff=float(np.abs(model.adjacency_matrix_ - adj).max()))
    rows.append(row)
    _print_row(row)


def _update_batch(bs: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
    return {"obs": rng.normal(size=(bs, OBS_DIM)).astype(np.float32),
            "action": rng.uniform(-1, 1, (bs, ACT_DIM)).astype(np.float32),
            "reward": rng.normal(size=(bs, 1)).astype(np.float32),
            "next_obs": rng.normal(size=(bs, OBS_DIM)).astype(np.float32),
            "mask": np.ones((bs, 1), np.float32)}


def bench_update(sizes: list[tuple[int, int, int]], seconds: float, rows: list[dict], device: torch.device,
                 compile_mode: str = "off") -> None:
    """One row per size and precision: ours (``agent.compile=compile_mode``) against the plain float32
    reference update (never compiled), measured interleaved."""
    from ace.precision import PRECISIONS, precision_problem

    precisions = [p for p in PRECISIONS if precision_problem(p, device) is None]
    with composer() as compose:
        for width, depth, bs in sizes:
            size = [f"agent.width={width}", f"agent.depth={depth}", f"agent.batch_size={bs}"]
            agents = {p: _bench_agent(compose, [*size, f"agent.precision={p}", f"agent.compile={compile_mode}"], device)
                      for p in precisions}
            ref = ReferenceACE(agents["fp32"])
            rng = np.random.default_rng(0)
            host = _update_batch(bs, rng)
            on_device = to_device(host, device)
            runs = [("reference", ref.update, host)] + [(p, a.update, on_device) for p, a in agents.items()]
            # The hardware's limit: each update's matrix products alone (matmul_floor.py), over a whole
            # cycle of updates (the actor runs every ``update_interval``), recorded from an uncompiled
            # twin: a compiled update runs the same products, but a CUDA graph replays them unseen.
            periods, flops = {}, {}
            for p in precisions:
                twin = agents[p] if compile_mode == "off" else _bench_agent(
                    compose, [*size, f"agent.precision={p}", "agent.compile=off"], device)
                periods[p] = k = twin.cfg.update_interval
                products = record_products(lambda a=twin, k=k, b=on_device: [a.update(b) for _ in range(k)])
                flops[p] = sum(x.flops for x in products) / k
                runs.append((f"products {p}", replay(products), None))
            rates = {}
            # Interleaved twice so that a slow phase of the machine hits all alike.
            for name, fn, batch in runs * 2:
                rates.setdefault(name, []).append(_rate(fn, batch, seconds, device))
            for precision in precisions:
                row = {"section": "update", "case": f"w{width}xd{depth} b{bs}", "device": str(device),
                       "precision": precision, "compile": compile_mode, "threads": torch.get_num_threads(),
                       "reference_per_s": max(rates["reference"]), "ours_per_s": max(rates[precision])}
                row["ratio"] = row["ours_per_s"] / row["reference_per_s"]
                products_per_s = max(rates[f"products {precision}"]) * periods[precision]
                row.update(products_ms=1e3 / products_per_s, products_gflop_s=flops[precision] * products_per_s / 1e9,
                           ratio_limit=products_per_s / row["reference_per_s"])
                rows.append(row)
                _print_row(row)


def _bench_agent(compose, overrides: list[str], device: torch.device) -> ACEAgent:
    torch.manual_seed(0)
    return ACEAgent(OBS_DIM, ACT_DIM, -np.ones(ACT_DIM), np.ones(ACT_DIM), compose(overrides).agent, device)


def _rate(fn, batch, seconds: float, device: torch.device) -> float:
    for _ in range(3):
        fn(batch)
    _sync(device)
    n, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        fn(batch)
        n += 1
    _sync(device)
    return n / (time.perf_counter() - t0)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def bench_end_to_end(steps: int, rows: list[dict]) -> None:
    from ace.runner import Trainer

    common = ["env=metaworld/reach", "preset=cpu", f"train.total_steps={steps}", "train.start_steps=500",
              "agent.causal.interval=1000", "agent.causal.window=2000", "eval.every=1000000", "eval.episodes=1",
              "checkpoint.every=1000000", "log.every=1000000", "log.progress=lines", "wandb.mode=disabled",
              "eval.video.enabled=false"]
    variants = {"official (lingam, synchronous)": ["agent.causal.backend=lingam", "agent.causal.delay=0"],
                "ours (fast, background)": ["agent.causal.backend=fast", "agent.causal.delay=500"]}
    results = {}
    with composer() as compose, tempfile.TemporaryDirectory() as tmp:
        for name, extra in variants.items():
            cfg = compose([*common, *extra])
            trainer = Trainer(cfg, Path(tmp) / name.split()[0])
            t0 = time.perf_counter()
            trainer.run()
            wall = time.perf_counter() - t0
            results[name] = (steps / wall, trainer.timer.totals["causal"])
    ref, ours = results.values()
    row = {"section": "end_to_end", "case": f"metaworld/reach {steps} steps, preset=cpu, causal every 1000 on 2000",
           "device": "cpu", "reference_steps_per_s": ref[0], "ours_steps_per_s": ours[0], "ratio": ours[0] / ref[0],
           "reference_causal_s": ref[1], "ours_causal_s": ours[1]}
    rows.append(row)
    _print_row(row)


def _print_row(row: dict) -> None:
    print("  " + " | ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in row.items()),
          flush=True)


def cpu_name() -> str:
    """The CPU's model and its fast bf16 paths: the update ratios depend on them (an AMX CPU has a higher limit)."""
    model = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            model = next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), model)
    except OSError:
        pass
    bf16 = [name for name, has in (("AMX", torch.cpu._is_amx_tile_supported()),
                                   ("AVX512-BF16", torch.cpu._is_avx512_bf16_supported())) if has]
    return f"{model} ({', '.join(bf16) or 'no fast bf16'})"


def parse_sizes(text: str) -> list[tuple[int, int, int]]:
    """``256x2x256,1024x3x512`` -> [(width, depth, batch), ...]."""
    try:
        sizes = [tuple(int(v) for v in item.split("x")) for item in text.split(",")]
    except ValueError:
        sizes = []
    if not sizes or any(len(s) != 3 or min(s) <= 0 for s in sizes):
        raise argparse.ArgumentTypeError(f"--sizes wants WIDTHxDEPTHxBATCH[,...], got {text!r}")
    return sizes


def measure(args: argparse.Namespace, sections: list[str], devices: list[str], compile_modes: list[str],
            rows: list[dict]) -> None:
    """The asked sections on the asked devices; each row is appended to ``rows`` as soon as it is measured."""
    if "causal" in sections:
        print("causal discovery (seconds per fit):")
        vars_ = [int(v) for v in args.vars.split(",")]
        window = metaworld_window("metaworld/reach", args.samples)
        for device in devices:  # lingam runs on the CPU: compared once, in the CPU rows
            on_cpu = device == "cpu"
            bench_causal(vars_, args.samples, args.lingam_max_vars if on_cpu else -1, rows, device, args.repeats)
            bench_causal_real("metaworld/reach", window, rows, device, args.repeats, with_lingam=on_cpu)
    if "update" in sections:
        print("update step (updates per second):")
        for device in devices:
            for mode in compile_modes:
                bench_update(args.sizes, args.seconds, rows, torch.device(device), mode)
    if "end_to_end" in sections and "cpu" in devices:
        print("end to end (env steps per second):")
        bench_end_to_end(args.steps, rows)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--only", choices=["causal", "update", "end_to_end"], action="append",
                   help="run only these sections (repeatable)")
    p.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto",
                   help="auto: the CPU, and CUDA when available; cpu or cuda: that one only (end to end: CPU only)")
    p.add_argument("--vars", default="24,44,68,120", help="variable counts for causal discovery")
    p.add_argument("--samples", type=int, default=10_000, help="samples per causal data set (paper window: 10000)")
    p.add_argument("--lingam-max-vars", type=int, default=68,
                   help="skip lingam above this many variables (it grows ~p^3: 120 vars took 5 min here)")
    p.add_argument("--repeats", type=int, default=3,
                   help="our causal fits are timed as the median of this many runs (lingam: one run)")
    p.add_argument("--sizes", type=parse_sizes, default="128x2x128,256x3x256,1024x3x512",
                   help="update step: WIDTHxDEPTHxBATCH list (cpu preset: 128x2x128; paper size: 1024x3x512)")
    p.add_argument("--compile", default="off",
                   help=f"update step: agent.compile mode(s) of ours, comma-separated, from {', '.join(COMPILE_MODES)}")
    p.add_argument("--seconds", type=float, default=5.0, help="seconds per update-rate measurement")
    p.add_argument("--steps", type=int, default=4000, help="env steps of the end-to-end run")
    p.add_argument("--threads", type=int, default=int(os.environ.get("ACE_BENCH_THREADS", "1")))
    p.add_argument("--out", type=Path, default=ROOT / "bench_results" / "speed.csv")
    args = p.parse_args(argv)
    compile_modes = args.compile.split(",")
    if not set(compile_modes) <= set(COMPILE_MODES):
        p.error(f"--compile {args.compile!r}: modes are {', '.join(COMPILE_MODES)}")
    sections = args.only or ["causal", "update", "end_to_end"]
    torch.set_num_threads(args.threads)
    cuda = torch.cuda.is_available()
    if args.device == "cuda" and not cuda:
        print("error: --device cuda, but CUDA is not available to this torch", file=sys.stderr)
        return 2
    devices = {"auto": ["cpu", "cuda"] if cuda else ["cpu"], "cpu": ["cpu"], "cuda": ["cuda"]}[args.device]
    cpu = cpu_name()
    print(f"machine: {cpu}, {os.cpu_count()} CPUs, torch {torch.__version__}, "
          f"{torch.get_num_threads()} thread(s), CUDA: {torch.cuda.get_device_name() if cuda else 'none'}")
    rows: list[dict] = []
    try:
        measure(args, sections, devices, compile_modes, rows)
    except KeyboardInterrupt:  # stopped (e.g. by make gpu-check's time budget): keep what was measured
        print("interrupted: writing the rows measured so far", flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    keys = list(dict.fromkeys(k for r in rows for k in r))
    with open(args.out, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=["machine", *keys])
        w.writeheader()
        for r in rows:
            w.writerow({"machine": f"{platform.node()} {os.cpu_count()}cpu {cpu}" + (" cuda" if cuda else ""), **r})
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
