"""Every bad input gets one line on stderr and exit status 2, before any training: one table.

The rows run concurrently (each is a src/run.py process) in one module fixture. Two rows need a
file system of their own, mounted here as root: a read-only one (an unwritable run folder) and a
small one filled up during the run (a full disk at a checkpoint).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import torch
from conftest import SMOKE, run_cli, start_cli

CUDA = "cuda" if not torch.cuda.is_available() else f"cuda:{torch.cuda.device_count()}"
CUDA_MESSAGE = ("device='cuda' but CUDA is not available here" if CUDA == "cuda"
                else f"device='{CUDA}' is not valid: this machine has")

# id: (overrides, the message, or a substring of it)
TABLE = {
    "misspelt env": (["env=metaworld/reachh"], "unknown env 'metaworld/reachh'; did you mean: metaworld/reach"),
    "misspelt agent": (["agent=td4"], "unknown agent 'td4'"),
    "unknown preset": (["preset=fast"], "unknown preset 'fast'; valid choices: cpu, paper, smoke"),
    "misspelt task": (["env.task=hamer"], "unknown metaworld task 'hamer'. Did you mean: hammer"),
    "a..b without -m": (["seed=1..3"], "seed=1..3 is a sweep of 3 runs; add -m to launch them"),
    "a,b without -m": (["seed=1,2"], "seed=1,2 is a sweep of 2 runs; add -m to launch them"),
    "word for an integer": (["seed=abc"], "seed='abc' must be a non-negative integer"),
    "1e5 for an integer": (["train.total_steps=1e5"], "train.total_steps=100000.0 must be a positive integer "
                                                      "(write 100000)"),
    "fraction for an integer": (["agent.width=12.5"], "agent.width=12.5 must be a positive integer"),
    "zero batch": (["agent.batch_size=0"], "agent.batch_size=0 must be a positive integer"),
    "batch above the replay size": (["train.replay_size=100", "agent.batch_size=512"],
                                    "agent.batch_size=512 is larger than the replay buffer"),
    "word for a number": (["agent.lr=fast"], "agent.lr='fast' must be a number in [0.0, 1.0]"),
    "word for a switch": (["agent.causal.enabled=maybe"], "agent.causal.enabled='maybe' must be true or false"),
    "CUDA that is not there": ([f"device={CUDA}"], CUDA_MESSAGE),
    "causal window below the task's variables": (
        ["agent.causal.window=5"], "agent.causal.window=5 is too small for metaworld/reach: DirectLiNGAM fits 39 "
                                   "state + 4 action + 1 reward variables and needs a window of at least 45 samples"),
    "unwritable run folder": ([], "cannot be written"),
    "disk full at a checkpoint": (["train.total_steps=4000", "checkpoint.every=400"], "could not be written to"),
}


def mount_tmpfs(path: Path, options: str) -> bool:
    path.mkdir(parents=True)
    return os.geteuid() == 0 and subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(path)],
                                                capture_output=True).returncode == 0


def fill_after_first_checkpoint(proc: subprocess.Popen, run: Path, leave: int = 96 * 1024) -> None:
    """Fill the disk once the first checkpoint exists: the next one (over 300 kB) cannot fit."""
    deadline = time.time() + 300
    while not (run / "checkpoints/last.pt").exists():
        assert proc.poll() is None and time.time() < deadline, "the run ended before its first checkpoint"
        time.sleep(0.01)
    st = os.statvfs(run)
    with open(run.parent / "filler", "wb") as f:
        f.write(b"\0" * max(0, st.f_bavail * st.f_frsize - leave))


def run_row(row: str, base: Path) -> tuple[subprocess.CompletedProcess | None, Path]:
    overrides, _ = TABLE[row]
    place = base / f"row{list(TABLE).index(row)}"
    run = place / "mnt" / "run"
    if row == "unwritable run folder":
        if not mount_tmpfs(place / "mnt", "ro,size=1m"):
            (place / "mnt").chmod(0o555)
            if os.access(place / "mnt", os.W_OK):
                return None, run
    elif row == "disk full at a checkpoint":
        if not mount_tmpfs(place / "mnt", "size=16m"):
            return None, run
        proc = start_cli(*SMOKE, *overrides, f"hydra.run.dir={run}", cwd=place)
        fill_after_first_checkpoint(proc, run)
        out, _ = proc.communicate(timeout=300)
        return subprocess.CompletedProcess(proc.args, proc.returncode, out, out), run
    else:
        place.mkdir(parents=True)
    return run_cli(*SMOKE, *overrides, f"hydra.run.dir={run}", cwd=place), run


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    base = tmp_path_factory.mktemp("bad_input")
    with ThreadPoolExecutor(max_workers=3) as pool:
        done = dict(zip(TABLE, pool.map(lambda row: run_row(row, base), TABLE), strict=True))
    yield done
    for mount in base.glob("*/mnt"):
        if os.path.ismount(mount):
            subprocess.run(["umount", "-l", str(mount)], capture_output=True)
        elif not os.access(mount, os.W_OK):
            mount.chmod(0o755)
    shutil.rmtree(base, ignore_errors=True)


@pytest.mark.parametrize("row", list(TABLE))
def test_bad_input_is_one_line_exit_2_before_training(results, row):
    proc, run = results[row]
    if proc is None:
        pytest.skip("needs root to mount a file system (or a user that file modes stop)")
    # A run whose output merges stdout and stderr (the disk-full row) has its log lines too.
    errors = [ln for ln in proc.stderr.splitlines() if ln.startswith("error:") or "Traceback" in ln]
    assert proc.returncode == 2, proc.stderr[-3000:]
    assert len(errors) == 1 and TABLE[row][1] in errors[0], proc.stderr[-3000:]
    if row == "disk full at a checkpoint":
        step = int(errors[0].split("the checkpoint of step ")[1].split()[0])
        assert "(No space left on device)" in errors[0] and f"{run}/checkpoints/last.pt is intact" in errors[0]
        kept = torch.load(run / "checkpoints/last.pt", weights_only=False)
        assert kept["step"] == step - 400 and not (run / "final.json").exists()
        assert not list((run / "checkpoints").glob(".*"))  # no half-written file left behind
    else:
        assert proc.stderr.strip() == errors[0]
        assert not (run / "checkpoints").exists() and not (run / "eval.csv").exists()
