import numpy as np
import pytest
import torch
import torch.nn.functional as F
from conftest import compose_cfg

from ace.agents import TD3Agent, make_agent
from ace.config import ConfigError, validate

OBS, ACT = 5, 2


def make_td3(*overrides):
    cfg = compose_cfg("agent=td3", "preset=smoke", *overrides)
    torch.manual_seed(0)
    return make_agent(cfg.agent, OBS, ACT, -np.ones(ACT), np.ones(ACT), torch.device("cpu"))


def batch(n=32):
    g = torch.Generator().manual_seed(1)
    return {"obs": torch.randn(n, OBS, generator=g), "action": torch.rand(n, ACT, generator=g) * 2 - 1,
            "reward": torch.randn(n, 1, generator=g), "next_obs": torch.randn(n, OBS, generator=g),
            "mask": (torch.arange(n) % 3 != 0).float().unsqueeze(1)}  # some true terminations


def test_config_selects_td3_with_ace_sizes():
    cfg = compose_cfg("agent=td3")
    assert cfg.agent.algo == "td3" and cfg.agent.name == "td3"
    assert cfg.agent.width == 1024 and cfg.agent.batch_size == 512  # shared with ACE
    validate(cfg)
    assert isinstance(make_td3(), TD3Agent)


def test_clipped_double_q_target_with_smoothing():
    agent = make_td3()
    b = batch()
    torch.manual_seed(5)
    loss, _ = agent.critic_loss(b)
    torch.manual_seed(5)
    with torch.no_grad():
        a2 = agent.policy_target(b["next_obs"])
        noise = (torch.randn_like(a2) * 0.2).clamp(-0.5, 0.5)
        a2 = (a2 + noise).clamp(-1, 1)
        y = b["reward"] + b["mask"] * 0.99 * torch.min(*agent.critic_target(b["next_obs"], a2))
    q1, q2 = agent.critic(b["obs"], b["action"])
    torch.testing.assert_close(loss, F.mse_loss(q1, y) + F.mse_loss(q2, y))


def test_delayed_actor_and_targets():
    agent = make_td3()
    b = {k: v.numpy() for k, v in batch().items()}
    assert "actor_loss" in agent.update(b)            # update 0
    frozen = {k: [p.detach().clone() for p in getattr(agent, k).parameters()]
              for k in ("policy", "policy_target", "critic_target")}
    assert "actor_loss" not in agent.update(b)        # update 1: critic only
    for k, before in frozen.items():
        assert all(torch.equal(p, q) for p, q in zip(getattr(agent, k).parameters(), before, strict=True)), k
    agent.update(b)                                   # update 2: actor and both targets move
    for k, before in frozen.items():
        assert not all(torch.equal(p, q) for p, q in zip(getattr(agent, k).parameters(), before, strict=True)), k


def test_target_noise_is_clipped():
    agent = make_td3("agent.td3.policy_noise=10.0", "agent.td3.noise_clip=0.05")
    b = batch(256)
    with torch.no_grad():
        base = agent.policy_target(b["next_obs"])
    torch.manual_seed(0)
    seen = []
    original = agent.critic_target.forward
    agent.critic_target.forward = lambda obs, act: (seen.append(act.clone()), original(obs, act))[1]
    agent.critic_loss(b)
    assert (seen[0] - base).abs().max() <= 0.05 + 1e-6   # noise of std 10 clipped to 0.05


def test_exploration_noise_and_bounds():
    agent = make_td3()
    obs = np.zeros(OBS, dtype=np.float32)
    det = agent.act(obs, deterministic=True)
    noisy = np.stack([agent.act(obs) for _ in range(200)])
    assert np.all(np.abs(noisy) <= 1.0)
    assert 0.05 < np.std(noisy - det, axis=0).mean() < 0.15  # exploration_noise 0.1


def test_td3_with_causal_entropy_is_refused():
    with pytest.raises(ConfigError, match="agent=td3 has no entropy term"):
        validate(compose_cfg("agent=td3", "agent.causal.enabled=true"))


def test_state_roundtrip():
    agent = make_td3()
    agent.update({k: v.numpy() for k, v in batch().items()})
    other = make_td3("seed=2")
    other.load_state_dict(agent.state_dict())
    obs = np.ones(OBS, dtype=np.float32)
    np.testing.assert_array_equal(other.act(obs, True), agent.act(obs, True))
    assert other.updates == 1
