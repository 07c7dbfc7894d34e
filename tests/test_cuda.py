"""The GPU path: causal fits, precisions, a run with replay and fits on the GPU that resumes on a CPU.

Every test here needs CUDA (``-m cuda``; skipped without a GPU). ``make gpu-check`` runs them with the
CUDA tests of test_buffer.py (replay storage) and test_fast_update.py (every ``agent.compile`` mode).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from conftest import compose_cfg, lingam_data, random_batches, run_cli

from ace.agents import make_agent
from ace.direct_lingam import direct_lingam
from ace.precision import PRECISIONS
from ace.runner import Trainer

pytestmark = pytest.mark.cuda

#: How far the first update's diagnostics may be from fp32's (bf16: 8 mantissa bits; tf32: 10).
TOLERANCE = {"fp32": 0.0, "bf16": 5e-2, "tf32": 1e-2}
OBS, ACT = 39, 4  # Meta-World
SMOKE = ("preset=smoke", "wandb.mode=disabled", "log.progress=lines")


def test_fast_causal_fit_on_cuda_matches_cpu():
    X = lingam_data(3000, 12, seed=2, law="uniform")
    order, B = direct_lingam(X)
    order_c, B_c = direct_lingam(X, device="cuda")
    assert order_c == order
    np.testing.assert_allclose(B_c, B, rtol=1e-9, atol=1e-12)
    order_t, _ = direct_lingam(torch.from_numpy(X).cuda())
    assert order_t == order


@pytest.fixture
def restore_matmul_settings():
    """A precision may switch torch's process-wide TF32 settings; later tests compare fp32 numbers."""
    saved = (torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32,
             torch.get_float32_matmul_precision())
    yield
    torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = saved[:2]
    torch.set_float32_matmul_precision(saved[2])


def paper_size_agent(algo: str, *overrides: str):
    cfg = compose_cfg(f"agent={algo}", *overrides).agent  # the paper preset: 1024 x 3, batch 512
    torch.manual_seed(0)
    return make_agent(cfg, OBS, ACT, -np.ones(ACT), np.ones(ACT), torch.device("cuda"))


def batches(n: int, size: int = 512, seed: int = 0):
    return random_batches(n, OBS, ACT, size, seed)


@pytest.mark.parametrize("algo", ["ace", "td3"])
@pytest.mark.parametrize("precision", PRECISIONS)
def test_every_precision_trains_on_cuda_close_to_fp32(precision, algo, restore_matmul_settings):
    """fp32 is the default and gives the default's numbers exactly; bf16 and tf32 stay close and finite."""
    assert compose_cfg(f"agent={algo}").agent.precision == "fp32"
    reference, agent = paper_size_agent(algo), paper_size_agent(algo, f"agent.precision={precision}")
    tol = TOLERANCE[precision]
    for i, batch in enumerate(batches(3)):
        torch.manual_seed(i)
        expected = reference.update(batch)
        torch.manual_seed(i)
        got = agent.update(batch)
        assert got.keys() == expected.keys()
        for k in expected:
            assert np.isfinite(float(got[k])), (precision, i, k)
            if i == 0:  # before the weights part ways
                assert float(got[k]) == pytest.approx(float(expected[k]), rel=tol, abs=tol), (precision, k)


def test_a_run_with_replay_and_fits_on_the_gpu_resumes_on_a_cpu(tmp_path):
    run = tmp_path / "run"
    cfg = compose_cfg(*SMOKE, "device=cuda", "train.replay_device=auto", "agent.causal.device=auto")
    trainer = Trainer(cfg, run)
    assert trainer.replay.device.type == "cuda" and trainer.replay.data["obs"].is_cuda
    trainer.run()
    assert list(pd.read_csv(run / "causal_weights.csv")["step"]) == [350, 650]  # fitted on the GPU, applied
    assert torch.load(run / "checkpoints" / "previous.pt", map_location="cpu", weights_only=False)["step"] == 400

    # As if the GPU job died after its step-400 checkpoint: the run goes on where torch sees no GPU.
    (run / "final.json").unlink()
    (run / "checkpoints" / "last.pt").unlink()
    proc = run_cli(*SMOKE, "device=cpu", "train.replay_device=auto", "agent.causal.device=auto",
                   f"hydra.run.dir={run}", cwd=tmp_path, env={"CUDA_VISIBLE_DEVICES": ""})
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-3000:]
    assert "resumed" in out and "at step 400" in out
    assert list(pd.read_csv(run / "eval.csv")["step"]) == [400, 800]
    state = torch.load(run / "checkpoints" / "last.pt", weights_only=False)  # no map_location: all on the CPU
    assert state["step"] == 800 and state["rng"]["cuda"] is None
    assert all(t.device.type == "cpu" for t in state["agent"]["policy"].values())
