import gymnasium as gym
import numpy as np
import pytest
from omegaconf import OmegaConf

from ace.envs import UnknownTaskError, available_tasks, make_env


def env_cfg(task="reach", reward="dense", domain="metaworld", episode_length=200, goals="fixed"):
    return OmegaConf.create({"domain": domain, "task": task, "reward": reward, "episode_length": episode_length,
                             "goals": goals})


GOAL = slice(36, 39)  # Meta-World's observed goal position


def test_all_fifty_metaworld_tasks_are_listed():
    tasks = available_tasks("metaworld")
    assert len(tasks) == 50 and {"reach", "hammer", "pick-place-wall", "stick-push"} <= set(tasks)


@pytest.mark.parametrize("task", ["reach", "hammer", "pick-place-wall"])
def test_builds_float32_flat_observations_and_box_actions(task):
    env = make_env(env_cfg(task), seed=3)
    obs, _ = env.reset(seed=3)
    assert obs.dtype == np.float32 and obs.shape == env.observation_space.shape == (39,)
    assert env.action_space.shape == (4,)
    np.testing.assert_array_equal(env.action_space.low, -1)
    obs, reward, terminated, truncated, info = env.step(env.action_space.sample())
    assert obs.dtype == np.float32 and np.isfinite(reward) and "success" in info


def test_same_seed_same_first_observation_and_different_seed_differs():
    a = make_env(env_cfg(), seed=5).reset(seed=5)[0]
    b = make_env(env_cfg(), seed=5).reset(seed=5)[0]
    c = make_env(env_cfg(), seed=6).reset(seed=6)[0]
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


def test_episode_ends_by_truncation_not_termination():
    env = make_env(env_cfg(episode_length=7), seed=0)
    env.reset(seed=0)
    flags = [env.step(env.action_space.sample())[2:4] for _ in range(7)]
    assert flags[-1] == (False, True)
    assert not any(t for t, _ in flags) and not any(tr for _, tr in flags[:-1])


def test_sparse_reward_is_the_success_indicator():
    env = make_env(env_cfg("reach", "sparse", "metaworld_sparse"), seed=0)
    env.reset(seed=0)
    rewards, successes = [], []
    for _ in range(150):
        _, r, _, _, info = env.step(env.action_space.sample())
        rewards.append(r)
        successes.append(float(bool(info["success"])))
        assert info["dense_reward"] != r or r in (0.0, 1.0)
    assert set(rewards) <= {0.0, 1.0}
    assert rewards == successes


def test_sparse_reward_is_one_on_success():
    """Drive reach's gripper to its goal with a proportional controller; reward must become 1."""
    env = make_env(env_cfg("reach", "sparse", "metaworld_sparse", episode_length=200), seed=0)
    obs, _ = env.reset(seed=0)
    seen = []
    for _ in range(200):
        action = np.clip(np.r_[(obs[36:39] - obs[0:3]) * 10.0, 0.0], -1, 1)
        obs, r, _, trunc, info = env.step(action)
        seen.append((r, info["success"]))
        if trunc:
            break
    assert any(r == 1.0 for r, _ in seen)
    assert all(r == float(bool(s)) for r, s in seen)


def test_unknown_task_names_close_matches():
    with pytest.raises(UnknownTaskError, match="Did you mean: reach, reach-wall"):
        make_env(env_cfg("reachh"), seed=0)
    with pytest.raises(UnknownTaskError, match="valid domains"):
        make_env(env_cfg(domain="atari"), seed=0)


def test_reseeding_an_used_env_replays_its_goal_sequence():
    """Evaluation reseeds its env each time; the episodes must then start identically."""
    env = make_env(env_cfg(goals="random"), seed=9)
    first = [env.reset(seed=9)[0]] + [env.reset()[0] for _ in range(3)]
    for _ in range(20):
        env.step(env.action_space.sample())
    again = [env.reset(seed=9)[0]] + [env.reset()[0] for _ in range(3)]
    for a, b in zip(first, again, strict=True):
        np.testing.assert_array_equal(a, b)
    assert not np.array_equal(first[0][GOAL], first[1][GOAL])  # each reset draws a new goal


def _goals(env, resets: int, seed: int | None = None) -> list[np.ndarray]:
    out = [env.reset(seed=seed)[0][GOAL]]
    for _ in range(resets - 1):
        for _ in range(5):
            env.step(env.action_space.sample())
        out.append(env.reset()[0][GOAL])
    return out


@pytest.mark.parametrize(("task", "domain", "reward"), [("drawer-open", "metaworld", "dense"),
                                                        ("hand-insert", "metaworld_sparse", "sparse")])
def test_fixed_goals_one_goal_per_seed_shared_by_the_evaluation_env(task, domain, reward):
    cfg = env_cfg(task, reward, domain, goals="fixed")
    train = _goals(make_env(cfg, seed=4), 4, seed=4)
    for g in train[1:]:
        np.testing.assert_array_equal(g, train[0])
    # The runner's evaluation env: its own seed, the training seed's goal, over repeated evaluations.
    evaluation = make_env(cfg, seed=4 + 1_000_003, goal_seed=4)
    for g in _goals(evaluation, 3, seed=4 + 1_000_003) + _goals(evaluation, 2, seed=4 + 1_000_003):
        np.testing.assert_array_equal(g, train[0])
    other = {tuple(make_env(cfg, seed=s).reset(seed=s)[0][GOAL]) for s in (5, 6, 7)}
    assert tuple(train[0]) not in other and len(other) == 3  # another seed, another goal


def test_random_goals_change_at_every_reset():
    goals = _goals(make_env(env_cfg("drawer-open", goals="random"), seed=4), 4, seed=4)
    assert len({tuple(g) for g in goals}) == 4


def test_fixed_goals_episodes_start_identically():
    """Official protocol: every episode of a run starts from the same state (frozen goal and layout)."""
    env = make_env(env_cfg("hammer", goals="fixed"), seed=2)
    first = env.reset(seed=2)[0]
    for _ in range(3):
        for _ in range(10):
            env.step(env.action_space.sample())
        np.testing.assert_array_equal(env.reset()[0], first)


def test_unknown_goal_regime_and_too_long_episodes_are_refused():
    with pytest.raises(ValueError, match="env.goals='fixd' is not one of: fixed, random"):
        make_env(env_cfg(goals="fixd"), seed=0)
    with pytest.raises(ValueError, match="exceeds Meta-World's limit of 500"):
        make_env(env_cfg(episode_length=501), seed=0)


def test_missing_optional_dependency_names_the_install_command():
    from ace.envs.gymnasium_tasks import MissingDependencyError, require

    with pytest.raises(MissingDependencyError, match=r"needs the 'nopkg' package.*Install it with: make setup"):
        require("ace_no_such_module_xyz", "nopkg", "make setup")


class _Stub(gym.Env):
    """Emits a scripted success flag under a library's own key, with a -1/0 native reward."""

    observation_space = gym.spaces.Box(-1, 1, (2,), np.float32)
    action_space = gym.spaces.Box(-1, 1, (1,), np.float32)

    def __init__(self, key, flags):
        self.key, self.flags, self.t = key, flags, 0

    def reset(self, *, seed=None, options=None):
        self.t = 0
        return np.zeros(2, np.float32), {}

    def step(self, action):
        flag = self.flags[self.t]
        self.t += 1
        return np.zeros(2, np.float32), (0.0 if flag else -1.0), False, False, {self.key: flag}


@pytest.mark.parametrize("key", ["is_success", "score/success", "success"])
def test_success_reward_is_one_exactly_on_success_steps(key):
    from ace.envs.wrappers import SuccessInfo, SuccessReward

    flags = [False, True, np.float32(1.0), np.bool_(False), 0.0, True]
    env = SuccessReward(SuccessInfo(_Stub(key, flags), key))
    env.reset()
    out = [env.step(np.zeros(1)) for _ in flags]
    assert [r for _, r, *_ in out] == [0.0, 1.0, 1.0, 0.0, 0.0, 1.0]
    assert all(isinstance(info["success"], float) for *_, info in out)
    assert [info["dense_reward"] for *_, info in out] == [-1.0, 0.0, 0.0, -1.0, -1.0, 0.0]


def test_sparse_reward_needs_a_success_signal():
    from ace.envs.wrappers import SuccessReward

    env = SuccessReward(_Stub("other", [True]))
    env.reset()
    with pytest.raises(KeyError, match="needs info\\['success'\\]"):
        env.step(np.zeros(1))
