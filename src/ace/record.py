"""A per-run reproducibility record: code version, packages, hardware, and the replay command."""

from __future__ import annotations

import datetime as _dt
import json
import os
import platform
import shlex
import socket
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import torch

from ace.files import atomic_write_text

REPO_ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("ace-rl", "torch", "numpy", "gymnasium", "mujoco", "metaworld", "dm-control",
            "gymnasium-robotics", "panda-gym", "pybullet", "robel", "gym", "lingam", "scikit-learn",
            "hydra-core", "omegaconf", "wandb")


def _git(*args: str) -> str | None:
    try:
        out = subprocess.run(["git", *args], cwd=REPO_ROOT, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout.strip() if out.returncode == 0 else None


def git_state() -> dict:
    commit = _git("rev-parse", "HEAD")
    status = _git("status", "--porcelain", "--untracked-files=no")
    diff = _git("diff", "HEAD") if status else ""
    return {"commit": commit, "dirty": bool(status) if status is not None else None, "diff": diff or ""}


def package_versions() -> dict[str, str | None]:
    versions = {}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def hardware(device: torch.device) -> dict:
    info = {
        "hostname": socket.gethostname(),
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "device": str(device),
    }
    if device.type == "cuda":
        info["gpu"] = torch.cuda.get_device_name(device)
    return info


def replay_command(overrides: list[str], run_dir: Path) -> str:
    """The command that recreates this run (same overrides, same folder)."""
    # Hydra needs the path quoted: run folders contain '=' (seed=1).
    args = ["python", "src/run.py", *overrides, f"hydra.run.dir='{Path(run_dir).resolve()}'"]
    return " ".join(shlex.quote(a) for a in args)


def write_record(run_dir: Path, overrides: list[str], device: torch.device) -> dict:
    record = {
        "started": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "command": replay_command(overrides, run_dir),
        "argv": sys.argv,
        "python": sys.version.split()[0],
        "git": git_state(),
        "packages": package_versions(),
        "hardware": hardware(device),
    }
    atomic_write_text(Path(run_dir) / "run_info.json", json.dumps(record, indent=2) + "\n")
    return record
