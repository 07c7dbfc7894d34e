"""Copy a results folder's evidence (logs, configs, provenance) without checkpoints, videos or wandb files.

    python -m analysis.export runs/mw_cpu results/mw_cpu

keeps every run's relative path and the files that ``analysis.report`` and a reader need: the CSV
logs, the resolved ``config.yaml``, ``run_info.json`` (command, git commit, packages, machine),
``final.json`` or ``failed.json``, and ``run.log``. What it copies is a few kB per run, small enough
to commit, share or attach to a paper; checkpoints (tens of MB per run) stay behind.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

from analysis.runs import find_runs

#: What a shipped run folder holds (the run-folder contract's files, minus checkpoints, videos, wandb, lock).
EVIDENCE = ("eval.csv", "train.csv", "causal_weights.csv", "resets.csv", "config.yaml", "run_info.json",
            "final.json", "failed.json", "run.log")


def export(root: str | Path, out: str | Path, include_unfinished: bool = False) -> list[Path]:
    """Copy the evidence of every run under ``root`` to the same relative path under ``out``.

    Unfinished runs (no ``final.json``) are refused unless ``include_unfinished``: shipped results
    should not silently mix budgets.
    """
    root, out = Path(root), Path(out)
    runs = find_runs(root)
    if not runs:
        raise FileNotFoundError(f"no run folders under {root}")
    unfinished = [r for r in runs if not (r / "final.json").exists()]
    if unfinished and not include_unfinished:
        raise ValueError(f"{len(unfinished)} of {len(runs)} runs are unfinished (e.g. {unfinished[0]}); "
                         "finish them or pass --include-unfinished")
    copied = []
    for run in runs:
        target = out / run.relative_to(root)
        target.mkdir(parents=True, exist_ok=True)
        for name in EVIDENCE:
            if (run / name).is_file():
                shutil.copy2(run / name, target / name)
                copied.append(target / name)
    return copied


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m analysis.export", description=__doc__.split("\n\n")[0])
    p.add_argument("runs_dir", type=Path, help="results folder (searched recursively for run folders)")
    p.add_argument("out", type=Path, help="folder to copy the evidence to (same relative paths)")
    p.add_argument("--include-unfinished", action="store_true", help="also copy runs without final.json")
    args = p.parse_args(argv)
    try:
        files = export(args.runs_dir, args.out, args.include_unfinished)
    except (FileNotFoundError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    size = sum(f.stat().st_size for f in files)
    print(f"{len(files)} files ({size / 1e6:.1f} MB) of {len({f.parent for f in files})} runs -> {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
