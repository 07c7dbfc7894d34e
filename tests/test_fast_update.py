"""The fast update path (batched twin critic, fused target update, device-side diagnostics) computes
what the plain, official-style update computes."""

import shutil

import numpy as np
import pytest
import torch
from conftest import compose_cfg, random_batches
from torch import nn

from ace.agents import ACEAgent
from ace.agents.common import COMPILE_MODES, soft_update_
from ace.agents.networks import TwinQ
from ace.agents.reference import PlainTwinQ, ReferenceACE
from ace.dormancy import soft_reset_
from ace.runner import mean_of

OBS, ACT = 7, 3


def make_agent(*overrides, device="cpu"):
    cfg = compose_cfg("preset=smoke", "agent.width=24", "agent.depth=3", *overrides).agent
    torch.manual_seed(0)
    return ACEAgent(OBS, ACT, -np.ones(ACT), np.ones(ACT), cfg, torch.device(device))


def batches(n, size=32, seed=0):
    return random_batches(n, OBS, ACT, size, seed, random_mask=True)


def test_twin_q_is_two_plain_mlps():
    torch.manual_seed(1)
    twin = TwinQ(OBS, ACT, 16, 3)
    plain = PlainTwinQ(OBS, ACT, 16, 3)
    plain.copy_from_ensemble(twin)
    obs, act = torch.randn(10, OBS), torch.randn(10, ACT)
    for fast, slow in zip(twin(obs, act), plain(obs, act), strict=True):
        torch.testing.assert_close(fast, slow, rtol=1e-6, atol=1e-6)
    torch.testing.assert_close(twin.q1(obs, act), plain.q1(torch.cat([obs, act], 1)), rtol=1e-6, atol=1e-6)


def test_twin_q_members_are_initialised_like_separate_linears():
    torch.manual_seed(2)
    twin = TwinQ(OBS, ACT, 64, 2)
    first = twin.layers[0]
    bound = (6.0 / (first.in_features + first.out_features)) ** 0.5
    assert first.weight.abs().max() <= bound and first.weight.abs().max() > 0.9 * bound  # Xavier-uniform
    assert not torch.equal(first.weight[0], first.weight[1])  # independent heads
    assert torch.count_nonzero(first.bias) == 0


@pytest.mark.parametrize("weights", [None, [0.4, 2.1, 0.5]])
def test_updates_match_the_plain_reference(weights):
    agent = make_agent()
    if weights is not None:
        agent.set_causal_weights(np.array(weights))
    ref = ReferenceACE(agent)
    for i, batch in enumerate(batches(6)):
        torch.manual_seed(100 + i)
        fast = agent.update(batch)
        torch.manual_seed(100 + i)
        slow = ref.update(batch)
        assert set(fast) == set(slow)
        for k in slow:
            assert float(fast[k]) == pytest.approx(slow[k], rel=1e-5, abs=1e-6), (i, k)
        if i == 0:  # gradients of the same batch: critic (last backward: critic loss) and policy
            _assert_critic_close(agent.critic, ref.critic, grad=True)
            for p, q in zip(agent.policy.parameters(), ref.policy.parameters(), strict=True):
                torch.testing.assert_close(p.grad, q.grad, rtol=1e-5, atol=1e-7)
    for p, q in zip(agent.policy.parameters(), ref.policy.parameters(), strict=True):
        torch.testing.assert_close(p, q, rtol=1e-5, atol=1e-6)
    _assert_critic_close(agent.critic, ref.critic)
    _assert_critic_close(agent.critic_target, ref.critic_target)
    assert float(agent.log_alpha.detach()) == pytest.approx(float(ref.log_alpha.detach()), rel=1e-6)


def _assert_critic_close(twin, plain, grad=False):
    ens = [*twin.layers, twin.head]
    for k, head in enumerate((plain.q1, plain.q2)):
        linears = [m for m in head.modules() if isinstance(m, nn.Linear)]
        for lin, layer in zip(linears, ens, strict=True):
            a_w, a_b = (layer.weight.grad, layer.bias.grad) if grad else (layer.weight, layer.bias)
            b_w, b_b = (lin.weight.grad, lin.bias.grad) if grad else (lin.weight, lin.bias)
            torch.testing.assert_close(a_w[k].T, b_w, rtol=1e-5, atol=1e-6)
            torch.testing.assert_close(a_b[k, 0], b_b, rtol=1e-5, atol=1e-6)


def test_update_diagnostics_stay_on_the_device_and_average_like_floats():
    agent = make_agent()
    metrics = agent.update(next(batches(1)))
    assert all(torch.is_tensor(v) and v.dim() == 0 for v in metrics.values())
    values = [torch.tensor(0.1), 0.2, torch.tensor(0.7, dtype=torch.float32), 3.0]
    assert mean_of(values) == float(np.mean([float(torch.tensor(0.1)), 0.2, float(torch.tensor(0.7)), 3.0]))


def test_fused_soft_update_is_polyak_averaging():
    torch.manual_seed(3)
    online, target = TwinQ(OBS, ACT, 8, 2), TwinQ(OBS, ACT, 8, 2)
    expected = [0.9 * t + 0.1 * o for t, o in zip(target.parameters(), online.parameters(), strict=True)]
    soft_update_(target, online, 0.1)
    for p, e in zip(target.parameters(), expected, strict=True):
        torch.testing.assert_close(p.detach(), e.detach())
    with pytest.raises(ValueError, match="parameters"):
        soft_update_(target, nn.Linear(2, 2), 0.1)


def test_soft_reset_draws_each_ensemble_member_orthogonal():
    torch.manual_seed(4)
    twin = TwinQ(OBS, ACT, 16, 2)
    before = [p.detach().clone() for p in twin.parameters()]
    soft_reset_(twin, 1.0)
    assert all(torch.equal(p, b) for p, b in zip(twin.parameters(), before, strict=True))
    soft_reset_(twin, 0.0)  # a fresh network: orthogonal weights, zero biases, per member
    hidden = twin.layers[1].weight  # (2, 16, 16)
    for k in range(2):
        torch.testing.assert_close(hidden[k].T @ hidden[k], torch.eye(16), atol=1e-5, rtol=1e-5)
    assert not torch.equal(hidden[0], hidden[1])
    assert torch.count_nonzero(twin.layers[1].bias) == 0


NEEDS_CXX = pytest.mark.skipif(not (shutil.which("g++") or shutil.which("c++")),
                               reason="torch.compile on a CPU needs a C++ compiler (Debian: apt-get install g++)")
#: The CPU with the default mode; every mode on a GPU (reduce-overhead and max-autotune capture CUDA graphs).
COMPILED = [pytest.param("cpu", "default", marks=NEEDS_CXX),
            *(pytest.param("cuda", mode, marks=pytest.mark.cuda) for mode in COMPILE_MODES if mode != "off")]


@pytest.mark.parametrize("device,mode", COMPILED)
def test_compiled_networks_give_the_eager_updates(device, mode):
    """agent.compile compiles the networks in place (checkpoint keys unchanged), same numbers as eager."""
    eager, compiled = make_agent(device=device), make_agent(f"agent.compile={mode}", device=device)
    assert list(compiled.critic.state_dict()) == list(eager.critic.state_dict())
    for i, batch in enumerate(batches(3)):  # critic+actor, critic, critic+actor
        torch.manual_seed(i)
        a = eager.update(batch)
        torch.manual_seed(i)
        b = compiled.update(batch)
        for k in a:
            assert float(b[k]) == pytest.approx(float(a[k]), rel=1e-4, abs=1e-6), (i, k)
    if device == "cuda":  # acting (batch 1) after updating: another graph, the same actions (a CPU recompiles slowly)
        obs = np.linspace(-1, 1, OBS, dtype=np.float32)
        np.testing.assert_allclose(compiled.act(obs, deterministic=True), eager.act(obs, deterministic=True),
                                   rtol=1e-4, atol=1e-6)


def test_unknown_compile_mode_is_refused():
    with pytest.raises(ValueError, match="agent.compile='jit' is not one of"):
        make_agent("agent.compile=jit")
