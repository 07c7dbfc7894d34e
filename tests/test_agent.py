import numpy as np
import pytest
import torch
import torch.nn.functional as F
from conftest import compose_cfg

from ace.agents import ACEAgent

OBS, ACT = 6, 3


def make_agent(**agent_overrides) -> ACEAgent:
    cfg = compose_cfg("preset=smoke", *[f"agent.{k}={v}" for k, v in agent_overrides.items()]).agent
    torch.manual_seed(0)
    return ACEAgent(OBS, ACT, -np.ones(ACT), np.ones(ACT), cfg, torch.device("cpu"))


def make_batch(n=16, seed=0):
    g = torch.Generator().manual_seed(seed)
    return {
        "obs": torch.randn(n, OBS, generator=g), "action": torch.rand(n, ACT, generator=g) * 2 - 1,
        "reward": torch.randn(n, 1, generator=g), "next_obs": torch.randn(n, OBS, generator=g),
        "mask": torch.ones(n, 1),
    }


def test_per_dimension_log_prob_matches_tanh_gaussian():
    agent = make_agent()
    obs = torch.randn(32, OBS)
    torch.manual_seed(3)
    action, logp = agent.policy.sample(obs)
    assert logp.shape == (32, ACT)
    with torch.no_grad():
        mean, log_std = agent.policy(obs)
        torch.manual_seed(3)
        u = mean + torch.randn_like(mean) * log_std.exp()   # the same pre-tanh sample
        normal = torch.distributions.Normal(mean, log_std.exp())
        expected = normal.log_prob(u) - torch.log(1 - torch.tanh(u) ** 2 + 1e-6)
    torch.testing.assert_close(action, torch.tanh(u))
    torch.testing.assert_close(logp.detach(), expected, atol=1e-5, rtol=1e-5)


def test_causal_log_prob_is_the_weighted_sum():
    agent = make_agent()
    logp = torch.randn(5, ACT)
    agent.set_causal_weights(np.array([0.5, 2.0, 0.5]))
    torch.testing.assert_close(agent.causal_log_prob(logp), (logp * torch.tensor([0.5, 2.0, 0.5])).sum(1, keepdim=True))


def sac_reference_losses(agent, batch, seed):
    """Plain SAC, written out: unweighted log-probs summed over action dimensions."""
    torch.manual_seed(seed)
    with torch.no_grad():
        a2, logp2 = agent.policy.sample(batch["next_obs"])
        q1t, q2t = agent.critic_target(batch["next_obs"], a2)
        soft_v = torch.min(q1t, q2t) - agent.alpha * logp2.sum(1, keepdim=True)
        y = batch["reward"] + batch["mask"] * agent.cfg.gamma * soft_v
    q1, q2 = agent.critic(batch["obs"], batch["action"])
    critic = F.mse_loss(q1, y) + F.mse_loss(q2, y)
    a, logp = agent.policy.sample(batch["obs"])
    logp = logp.sum(1, keepdim=True)
    actor = (agent.alpha * logp - torch.min(*agent.critic(batch["obs"], a))).mean()
    alpha = -(agent.log_alpha * (logp + agent.target_entropy).detach()).mean()
    return critic, actor, alpha


def ace_losses(agent, batch, seed):
    torch.manual_seed(seed)
    critic, _ = agent.critic_loss(batch)
    actor, causal_logp, _ = agent.actor_loss(batch["obs"])
    return critic, actor, agent.alpha_loss(causal_logp)


def test_unit_weights_give_exactly_sac_losses():
    agent = make_agent()
    batch = make_batch()
    assert torch.equal(agent.causal_weights, torch.ones(ACT))
    for got, want in zip(ace_losses(agent, batch, 7), sac_reference_losses(agent, batch, 7), strict=True):
        assert torch.equal(got, want), (got, want)


def test_non_uniform_weights_change_the_losses():
    agent = make_agent()
    batch = make_batch()
    sac = sac_reference_losses(agent, batch, 7)
    agent.set_causal_weights(np.array([2.5, 0.25, 0.25]))
    ace = ace_losses(agent, batch, 7)
    assert not torch.equal(ace[0], sac[0]) and not torch.equal(ace[1], sac[1])


def test_actor_temperature_and_target_update_on_every_second_update_from_the_first():
    agent = make_agent()
    batch = {k: v.numpy() for k, v in make_batch().items()}
    assert float(agent.alpha) == pytest.approx(0.2)  # configured alpha until the first temperature step
    m0 = agent.update(batch)  # update 0: critic, actor, temperature and target (official 0-based count)
    assert {"actor_loss", "alpha_loss", "entropy", "causal_entropy"} <= m0.keys()
    assert float(agent.alpha) == pytest.approx(1.0, abs=1e-2)  # log_alpha starts at 0, as the official code
    policy1 = [p.detach().clone() for p in agent.policy.parameters()]
    target1 = [p.detach().clone() for p in agent.critic_target.parameters()]
    critic1 = [p.detach().clone() for p in agent.critic.parameters()]
    m1 = agent.update(batch)  # update 1: critic only
    assert "actor_loss" not in m1
    assert all(torch.equal(p, q) for p, q in zip(agent.policy.parameters(), policy1, strict=True))
    assert all(torch.equal(p, q) for p, q in zip(agent.critic_target.parameters(), target1, strict=True))
    assert not all(torch.equal(p, q) for p, q in zip(agent.critic.parameters(), critic1, strict=True))
    agent.update(batch)  # update 2: actor and target again
    assert not all(torch.equal(p, q) for p, q in zip(agent.policy.parameters(), policy1, strict=True))
    assert not all(torch.equal(p, q) for p, q in zip(agent.critic_target.parameters(), target1, strict=True))


def test_reset_fires_on_schedule_and_clears_optimizers():
    agent = make_agent(**{"reset.interval": 4, "reset.min_updates": 0})
    batch = {k: v.numpy() for k, v in make_batch().items()}
    for _ in range(4):  # updates 0..3: update 0 is not past min_updates, 1..3 are off-schedule
        agent.update(batch)
    assert agent.last_reset is None and len(agent.policy_optim.state) > 0
    target = [p.detach().clone() for p in agent.critic_target.parameters()]
    agent.update(batch)  # update 4
    event = agent.last_reset
    assert event is not None and event["update"] == 4 and event["applied"] == 1.0
    assert 0.2 <= event["factor"] <= 0.9
    assert event["factor"] == pytest.approx(min(max(0.2, 1 - event["dormancy"]), 0.9))
    assert len(agent.policy_optim.state) == 0 and len(agent.critic_optim.state) == 0
    assert len(agent.alpha_optim.state) > 0  # the temperature is left alone
    assert not all(torch.equal(p, q) for p, q in zip(agent.critic_target.parameters(), target, strict=True))


def test_reset_can_leave_the_target_critic_alone():
    agent = make_agent(**{"reset.interval": 2, "reset.min_updates": 0, "reset.include_target": "false",
                          "tau": 0.0})
    batch = {k: v.numpy() for k, v in make_batch().items()}
    target = [p.detach().clone() for p in agent.critic_target.parameters()]
    for _ in range(3):
        agent.update(batch)
    assert agent.last_reset is not None and agent.last_reset["applied"] == 1.0
    assert all(torch.equal(p, q) for p, q in zip(agent.critic_target.parameters(), target, strict=True))


def test_paper_rule_skips_reset_when_nothing_is_dormant():
    agent = make_agent(**{"reset.rule": "paper", "reset.tau": 0.0})  # tau 0: only zero-gradient rows
    batch = {k: v.numpy() for k, v in make_batch().items()}
    agent.update(batch)
    agent.update(batch)
    policy = [p.detach().clone() for p in agent.policy.parameters()]
    agent.cfg.reset.tau = -1.0  # nothing can be dormant
    event = agent.reset()
    assert event["dormancy"] == 0.0 and event["factor"] == 1.0 and event["applied"] == 0.0
    assert all(torch.equal(p, q) for p, q in zip(agent.policy.parameters(), policy, strict=True))


def test_state_dict_roundtrip():
    agent = make_agent()
    batch = {k: v.numpy() for k, v in make_batch().items()}
    agent.update(batch)
    agent.update(batch)
    agent.set_causal_weights(np.array([1.2, 0.9, 0.9]))
    other = make_agent()
    other.load_state_dict(agent.state_dict())
    obs = np.zeros(OBS, dtype=np.float32)
    np.testing.assert_array_equal(other.act(obs, deterministic=True), agent.act(obs, deterministic=True))
    assert torch.equal(other.causal_weights, agent.causal_weights) and other.updates == 2
    assert float(other.alpha) == float(agent.alpha)


def test_bad_causal_weight_shape():
    with pytest.raises(ValueError, match="shape"):
        make_agent().set_causal_weights(np.ones(2))


def test_acting_draws_the_sampled_action_without_its_log_prob():
    """policy.action (acting) consumes the same noise as policy.sample and returns its action bit for bit."""
    from ace.agents.networks import GaussianPolicy

    torch.manual_seed(0)
    policy = GaussianPolicy(5, 3, 16, 2, -2 * torch.ones(3), torch.ones(3))
    obs = torch.randn(4, 5)
    torch.manual_seed(1)
    sampled, _ = policy.sample(obs)
    after_sample = torch.rand(1)
    torch.manual_seed(1)
    acted = policy.action(obs)
    assert torch.equal(acted, sampled) and torch.equal(torch.rand(1), after_sample)
