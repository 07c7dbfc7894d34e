"""Shared helpers: compose the project's real Hydra config, run src/run.py in a subprocess."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from omegaconf import DictConfig

from ace.config import composer

ROOT = Path(__file__).resolve().parents[1]
CONF = ROOT / "conf"
RUN = ROOT / "src" / "run.py"


def compose_cfg(*overrides: str) -> DictConfig:
    """The config ``src/run.py`` would see for these overrides (without Hydra's run-time keys)."""
    with composer(CONF) as compose:
        return compose(overrides)


def run_cli(*args: str, cwd: Path, timeout: int = 300) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONWARNINGS": "ignore", "WANDB_SILENT": "true"}
    return subprocess.run([sys.executable, str(RUN), *args], cwd=cwd, capture_output=True, text=True,
                          timeout=timeout, env=env)


@pytest.fixture
def smoke_cfg():
    def make(*overrides: str) -> DictConfig:
        return compose_cfg("preset=smoke", "wandb.mode=disabled", "log.progress=lines", *overrides)
    return make
