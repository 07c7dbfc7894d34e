"""agent.precision: bf16 products on cached copies of float32 master weights; fp32 untouched; clear refusals."""

import numpy as np
import pytest
import torch
from conftest import compose_cfg, random_batches

from ace.agents import ACEAgent, TD3Agent
from ace.agents.networks import GaussianPolicy, TwinQ
from ace.config import ConfigError, validate
from ace.precision import PRECISIONS, MatmulPrecision, matmul_precision, precision_problem

OBS, ACT, WIDTH = 7, 3, 32
BF16 = torch.bfloat16


def bf16_everywhere() -> MatmulPrecision:
    """bf16 at any width (the default keeps layers under BF16_MIN_WIDTH in fp32)."""
    return MatmulPrecision(BF16, min_width=1)


def make_agent(precision="bf16", algo="ace", lower_all=True):
    overrides = ["preset=smoke", f"agent.width={WIDTH}", "agent.depth=3", f"agent.precision={precision}"]
    cfg = compose_cfg(*overrides, *(["agent=td3"] if algo == "td3" else [])).agent
    torch.manual_seed(0)
    agent = (ACEAgent if algo == "ace" else TD3Agent)(OBS, ACT, -np.ones(ACT), np.ones(ACT), cfg, torch.device("cpu"))
    if lower_all:
        for net in (agent.policy, agent.critic, agent.critic_target, getattr(agent, "policy_target", None)):
            if net is not None:
                _set(net, bf16_everywhere())
    return agent


def _set(net, mp):
    for m in net.modules():
        if hasattr(m, "precision"):
            m.precision = mp


def batches(n, size=64, seed=0):
    return random_batches(n, OBS, ACT, size, seed)


def test_bf16_networks_compute_close_to_fp32_and_return_float32():
    torch.manual_seed(1)
    q32, q16 = TwinQ(OBS, ACT, WIDTH, 3), TwinQ(OBS, ACT, WIDTH, 3, bf16_everywhere())
    q16.load_state_dict(q32.state_dict())
    p32 = GaussianPolicy(OBS, ACT, WIDTH, 3, -torch.ones(ACT), torch.ones(ACT))
    p16 = GaussianPolicy(OBS, ACT, WIDTH, 3, -torch.ones(ACT), torch.ones(ACT), bf16_everywhere())
    p16.load_state_dict(p32.state_dict())
    obs, act = torch.randn(256, OBS), torch.rand(256, ACT) * 2 - 1
    a, b = q32(obs, act), q16(obs, act)
    assert b.dtype == torch.float32 and not torch.equal(a, b)  # really computed in bf16
    torch.testing.assert_close(b, a, rtol=0.03, atol=0.03)
    for x, y in zip(p32(obs), p16(obs), strict=True):
        assert y.dtype == torch.float32
        torch.testing.assert_close(y, x, rtol=0.03, atol=0.03)
    # The output layers stay float32: a bf16 Q head would round Q values of ~300 to steps of 2.
    assert q16.head.weight.dtype == torch.float32


@pytest.mark.parametrize("algo", ["ace", "td3"])
def test_bf16_update_keeps_float32_weights_grads_and_optimizer_state(algo):
    agent = make_agent("bf16", algo)
    ref = make_agent("fp32", algo, lower_all=False)
    for i, batch in enumerate(batches(4)):
        torch.manual_seed(i)
        m = agent.update(batch)
        torch.manual_seed(i)
        r = ref.update(batch)
        for k in ("critic_loss", "q"):
            assert m[k].dtype == torch.float32
            assert float(m[k]) == pytest.approx(float(r[k]), rel=0.05, abs=0.05), k
    nets = [agent.policy, agent.critic, agent.critic_target]
    assert all(p.dtype == torch.float32 for net in nets for p in net.parameters())
    assert all(p.grad is None or p.grad.dtype == torch.float32 for net in nets[:2] for p in net.parameters())
    for opt in (agent.policy_optim, agent.critic_optim):
        assert all(t.dtype == torch.float32 for st in opt.state.values() for k, t in st.items() if k != "step")
    if algo == "ace":
        assert agent.log_alpha.dtype == torch.float32 and agent.alpha.dtype == torch.float32
    # Same numbers as fp32 up to bf16 rounding, not the fp32 numbers themselves.
    diffs = [(p - q).abs().max() for p, q in zip(agent.critic.parameters(), ref.critic.parameters(), strict=True)]
    assert 0 < max(diffs) < 1e-2


def test_weights_are_cast_once_per_change_not_once_per_use():
    agent = make_agent("bf16")
    mps = {name: getattr(agent, name).precision for name in ("critic", "critic_target")}
    mps["policy"] = agent.policy.trunk.precision
    per_net = {"policy": 2 * 3, "critic": 2 * 3, "critic_target": 2 * 3}  # hidden weights and biases
    counts = []
    for batch in batches(8):
        before = {k: mp.casts for k, mp in mps.items()}
        agent.update(batch)
        counts.append({k: (mp.casts - before[k]) / per_net[k] for k, mp in mps.items()})
    # Updates 0, 2, 4, ... step the actor: the critic is cast before its step and again after it, and
    # that copy serves the next update's critic loss. The policy and the target change at the end of an
    # even update, so the odd update after it casts them once, and the even one reuses that copy.
    later = counts[2:]
    assert [c["critic"] for c in later] == [2, 0, 2, 0, 2, 0]
    assert [c["policy"] for c in later] == [0, 1, 0, 1, 0, 1]
    assert [c["critic_target"] for c in later] == [0, 1, 0, 1, 0, 1]


def test_a_cached_copy_follows_in_place_changes_and_grad_flags():
    mp = bf16_everywhere()
    w = torch.nn.Parameter(torch.randn(4, 4))
    a = mp.weight(w)
    assert mp.weight(w) is a and a.requires_grad
    with torch.no_grad():
        w.mul_(2.0)  # an optimizer step
    b = mp.weight(w)
    assert b is not a and torch.equal(b, (w.detach() * 1).to(BF16))
    w.requires_grad_(False)
    assert not mp.weight(w).requires_grad
    (mp.weight(torch.nn.Parameter(torch.ones(2))).float().sum()).backward()  # the copy carries grads back


def test_soft_reset_checkpoint_and_copies_under_bf16(tmp_path):
    agent = make_agent("bf16")
    for batch in batches(3):
        agent.update(batch)
    event = agent.reset(3)
    assert event["applied"] == 1.0
    path = tmp_path / "agent.pt"
    torch.save(agent.state_dict(), path)
    other = make_agent("bf16")
    other.load_state_dict(torch.load(path, weights_only=False))
    obs = torch.randn(5, OBS)
    torch.testing.assert_close(other.policy(obs), agent.policy(obs))  # loaded weights, fresh copies


def test_fp32_is_untouched_by_the_precision_machinery():
    agent = make_agent("fp32", lower_all=False)
    assert not agent.critic.precision.lowers(10**6) and agent.critic.precision.dtype is None
    agent.update(next(batches(1)))
    assert agent.critic.precision.casts == 0
    assert not any(getattr(o, "defaults", {}).get("fused") for o in (agent.policy_optim, agent.critic_optim))


def test_default_bf16_keeps_narrow_layers_in_float32():
    mp = matmul_precision("bf16")
    assert mp.lowers(1024) and mp.lowers(256) and not mp.lowers(128)


def test_unsupported_precisions_are_refused_in_one_line(monkeypatch):
    cpu = torch.device("cpu")
    assert "tf32 needs a CUDA GPU" in precision_problem("tf32", cpu)
    assert "not valid; choose one of: fp32, bf16, tf32" in precision_problem("fp16", cpu)
    monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: False)
    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: False)
    message = precision_problem("bf16", cpu)
    assert "neither AVX512-BF16 nor AMX-BF16" in message and "\n" not in message
    with pytest.raises(ConfigError, match="neither AVX512-BF16 nor AMX-BF16"):
        validate(compose_cfg("preset=smoke", "device=cpu", "agent.precision=bf16"))
    with pytest.raises(ConfigError, match="agent.precision='half' is not valid"):
        validate(compose_cfg("preset=smoke", "agent.precision=half"))
    assert set(PRECISIONS) == {"fp32", "bf16", "tf32"}
