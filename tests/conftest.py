"""Shared helpers: compose the project's real Hydra config, run src/run.py in a subprocess, the
local SLURM cluster and uninterrupted reference runs (both started once per test session), LiNGAM data.

Tests marked ``@pytest.mark.cuda`` need a CUDA GPU: they are skipped where torch sees none (CI), and
``make gpu-check`` runs them (``pytest -m cuda``) on a GPU machine.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from omegaconf import DictConfig

from ace.config import composer
from ace.envs.render import choose_gl_backend

# In-process tests render (videos, the per-domain render check) as runs do: with the OpenGL backend
# that src/run.py chooses, before any test imports MuJoCo. Subprocesses inherit it.
choose_gl_backend()

ROOT = Path(__file__).resolve().parents[1]
CONF = ROOT / "conf"
RUN = ROOT / "src" / "run.py"
SMOKE = ("preset=smoke", "wandb.mode=disabled", "log.progress=lines")
#: Wall-clock columns: they differ between any two runs.
TIMING = ["elapsed_s", "steps_per_sec", "compute_s", "wait_s", "env_s", "act_s", "update_s", "causal_s", "eval_s",
          "checkpoint_s"]


def compose_cfg(*overrides: str) -> DictConfig:
    """The config ``src/run.py`` would see for these overrides (without Hydra's run-time keys)."""
    with composer(CONF) as compose:
        return compose(overrides)


def run_cli(*args: str, cwd: Path, timeout: int = 300,
            env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """``env``: variables set on top of this process's (e.g. ``CUDA_VISIBLE_DEVICES=""`` to hide the GPU)."""
    env = {**os.environ, "PYTHONWARNINGS": "ignore", "WANDB_SILENT": "true", **(env or {})}
    return subprocess.run([sys.executable, str(RUN), *args], cwd=cwd, capture_output=True, text=True,
                          timeout=timeout, env=env)


@pytest.fixture
def smoke_cfg():
    def make(*overrides: str) -> DictConfig:
        return compose_cfg("preset=smoke", "wandb.mode=disabled", "log.progress=lines", *overrides)
    return make


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs a CUDA GPU (make gpu-check runs it)")
    for item in items:
        if item.get_closest_marker("cuda"):
            item.add_marker(skip)


def lingam_data(n: int, p: int, seed: int, law: str, density: float = 0.4) -> np.ndarray:
    """x = B x + e for a random DAG (random causal order, edge probability ``density``)."""
    rng = np.random.default_rng(seed)
    perm = rng.permutation(p)
    B = np.zeros((p, p))
    for a in range(p):
        for b in range(a):
            if rng.random() < density:
                B[perm[a], perm[b]] = rng.choice([-1.0, 1.0]) * rng.uniform(0.3, 1.0)
    if law == "uniform":
        E = rng.uniform(-1.0, 1.0, (n, p))
    elif law == "laplace":
        E = rng.laplace(size=(n, p))
    elif law == "exponential":
        E = rng.exponential(size=(n, p)) - 1.0
    else:  # bimodal mixture of two Gaussians
        E = np.where(rng.random((n, p)) < 0.5, rng.normal(-1.0, 0.5, (n, p)), rng.normal(1.0, 0.5, (n, p)))
    E *= rng.uniform(0.5, 2.0, p)
    X = np.zeros((n, p))
    for i in perm:
        X[:, i] = X @ B[i] + E[:, i]
    return X


def random_batches(n: int, obs_dim: int, act_dim: int, size: int, seed: int = 0, random_mask: bool = False):
    """``n`` replay batches of random transitions (numpy, float32), as ``ReplayBuffer.sample`` gives them."""
    rng = np.random.default_rng(seed)
    for _ in range(n):
        yield {"obs": rng.normal(size=(size, obs_dim)).astype(np.float32),
               "action": rng.uniform(-1, 1, size=(size, act_dim)).astype(np.float32),
               "reward": rng.normal(size=(size, 1)).astype(np.float32),
               "next_obs": rng.normal(size=(size, obs_dim)).astype(np.float32),
               "mask": ((rng.uniform(size=(size, 1)) > 0.1).astype(np.float32) if random_mask
                        else np.ones((size, 1), np.float32))}


def start_cli(*args: str, cwd: Path) -> subprocess.Popen:
    env = {**os.environ, "PYTHONWARNINGS": "ignore", "WANDB_SILENT": "true"}
    return subprocess.Popen([sys.executable, str(RUN), *args], cwd=cwd, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)


class Reference:
    """An uninterrupted run in the background; ``folder()`` waits for it."""

    def __init__(self, root: Path, overrides: tuple[str, ...]):
        self.path = root
        self.proc = start_cli(*overrides, f"hydra.run.dir={root}", cwd=root.parent)

    def folder(self) -> Path:
        out, _ = self.proc.communicate(timeout=900)
        assert self.proc.returncode == 0, out[-3000:]
        return self.path


@pytest.fixture(scope="session")
def reference(tmp_path_factory):
    """``reference(*overrides)``: the uninterrupted run of these overrides, started once per session."""
    root = tmp_path_factory.mktemp("reference")
    started: dict[tuple[str, ...], Reference] = {}

    def get(*overrides: str) -> Reference:
        if overrides not in started:
            started[overrides] = Reference(root / f"run{len(started)}", overrides)
        return started[overrides]
    yield get
    for ref in started.values():
        ref.proc.kill()
        ref.proc.wait()


def assert_same_training(run: Path, reference: Path) -> None:
    """An interrupted and resumed run ends with exactly the uninterrupted run's numbers (CPU)."""
    for name in ("eval.csv", "train.csv", "causal_weights.csv", "resets.csv"):
        got = pd.read_csv(run / name).drop(columns=TIMING, errors="ignore")
        want = pd.read_csv(reference / name).drop(columns=TIMING, errors="ignore")
        pd.testing.assert_frame_equal(got, want, check_exact=True, obj=name)


STOP_LINE = re.compile(r"(?P<sig>SIG\w+): checkpoint at step (?P<ckpt>\d+) \(signal at step (?P<at>\d+)\), "
                       r"(?P<secs>[\d.]+) s after the signal; exiting")


def stops(log: str) -> list[dict]:
    """The stop checkpoints a run.log reports: signal, checkpoint step, signal step, seconds."""
    return [{"signal": m["sig"], "checkpoint": int(m["ckpt"]), "signal_step": int(m["at"]), "seconds": float(m["secs"])}
            for m in STOP_LINE.finditer(log)]


@pytest.fixture(scope="session")
def slurm_env(tmp_path_factory):
    """A real one-node SLURM cluster for the session (starting one takes ~15 s)."""
    sys.path.insert(0, str(ROOT))
    from launchers.slurm.local_cluster import ClusterUnavailable, start, stop

    root = tmp_path_factory.mktemp("slurm")
    try:
        conf = start(root)
    except ClusterUnavailable as e:
        pytest.skip(f"no local SLURM cluster: {e}")
    yield {**os.environ, "SLURM_CONF": str(conf), "PYTHONWARNINGS": "ignore"}
    stop(root)
