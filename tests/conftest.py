"""Shared helpers: compose the project's real Hydra config, run src/run.py in a subprocess, LiNGAM data.

Tests marked ``@pytest.mark.cuda`` need a CUDA GPU: they are skipped where torch sees none (CI), and
``make gpu-check`` runs them (``pytest -m cuda``) on a GPU machine.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
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
