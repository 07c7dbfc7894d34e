import numpy as np
import pytest

from ace.causal import action_reward_weights, reward_action_coefficients, softmax_weights


def lingam_data(n=3000, seed=0):
    """Linear non-Gaussian SEM: s -> a -> r with known direct effects a0: +1.5, a1: 0, a2: -1.0."""
    rng = np.random.default_rng(seed)
    s = rng.uniform(-1, 1, (n, 3))
    a = np.empty((n, 3))
    a[:, 0] = 0.5 * s[:, 0] + rng.uniform(-1, 1, n)
    a[:, 1] = rng.uniform(-1, 1, n)
    a[:, 2] = -0.3 * s[:, 1] + rng.uniform(-1, 1, n)
    r = 1.5 * a[:, 0] - 1.0 * a[:, 2] + 0.8 * s[:, 2] + 0.2 * rng.uniform(-1, 1, n)
    return s, a, r


def test_recovers_known_action_effects():
    s, a, r = lingam_data()
    b = reward_action_coefficients(s, a, r)
    np.testing.assert_allclose(b, [1.5, 0.0, -1.0], atol=0.05)


def test_weights_are_softmax_of_coefficients_times_dims():
    s, a, r = lingam_data()
    w = action_reward_weights(s, a, r)
    assert w.shape == (3,)
    assert w.sum() == pytest.approx(3.0)
    b = reward_action_coefficients(s, a, r)
    np.testing.assert_allclose(w, np.exp(b) / np.exp(b).sum() * 3)
    # The action that drives the reward gets the largest weight; a negative effect the smallest.
    assert w.argmax() == 0 and w.argmin() == 2


def test_uniform_when_actions_are_irrelevant():
    rng = np.random.default_rng(1)
    s = rng.uniform(-1, 1, (2000, 4))
    a = rng.uniform(-1, 1, (2000, 2))
    r = 2.0 * s[:, 0] - s[:, 3] + 0.1 * rng.uniform(-1, 1, 2000)
    np.testing.assert_allclose(action_reward_weights(s, a, r), [1.0, 1.0], atol=0.02)


def test_constant_columns_are_left_out_and_do_not_break_the_fit():
    s, a, r = lingam_data()
    padded = np.hstack([s, np.zeros((len(s), 5))])  # zero-padded observation slots, as in Meta-World
    np.testing.assert_allclose(reward_action_coefficients(padded, a, r), [1.5, 0.0, -1.0], atol=0.05)


def test_constant_reward_gives_uniform_weights():
    s, a, _ = lingam_data(n=500)
    np.testing.assert_array_equal(action_reward_weights(s, a, np.zeros(500)), np.ones(3))


def test_softmax_weights_is_stable_for_large_coefficients():
    w = softmax_weights(np.array([1000.0, 0.0]))
    np.testing.assert_allclose(w, [2.0, 0.0], atol=1e-12)


def test_mismatched_rows_are_rejected():
    with pytest.raises(ValueError, match="same number of rows"):
        reward_action_coefficients(np.zeros((10, 2)), np.zeros((9, 2)), np.zeros(10))


@pytest.mark.parametrize("drop", [True, False])
def test_fast_backend_gives_the_lingam_weights(drop):
    s, a, r = lingam_data(n=1500, seed=4)
    s = np.hstack([s, np.zeros((len(s), 2))])  # zero-padded slots: dropped, or lingam's collapse reproduced
    fast = reward_action_coefficients(s, a, r, drop_constant_columns=drop, backend="fast")
    ref = reward_action_coefficients(s, a, r, drop_constant_columns=drop, backend="lingam")
    np.testing.assert_allclose(fast, ref, rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(action_reward_weights(s, a, r, drop, backend="fast"),
                               action_reward_weights(s, a, r, drop, backend="lingam"), rtol=1e-9)


def test_unknown_backend_names_the_choices():
    s, a, r = lingam_data(n=100)
    with pytest.raises(ValueError, match=r"agent.causal.backend='causallearn' is not one of \('fast', 'lingam'\)"):
        reward_action_coefficients(s, a, r, backend="causallearn")


def test_non_finite_coefficients_reach_the_weights_only_on_the_official_path(monkeypatch):
    """drop_constant_columns=false is the official fit: a NaN coefficient is passed on (softmax -> NaN),
    as the official code does; the default path maps it to 0."""
    import ace.causal as causal

    rng = np.random.default_rng(0)
    s, a = rng.uniform(size=(50, 3)), rng.uniform(-1, 1, size=(50, 2))
    r = a @ [1.0, -1.0]

    def nan_fit(data, backend, device):
        B = np.zeros((data.shape[1], data.shape[1]))
        B[-1, -3] = np.nan  # the first action's coefficient
        return B

    monkeypatch.setattr(causal, "_fit_adjacency", nan_fit)
    official = causal.action_reward_weights(s, a, r, drop_constant_columns=False)
    assert np.isnan(official).all()
    np.testing.assert_array_equal(causal.reward_action_coefficients(s, a, r, drop_constant_columns=True), [0.0, 0.0])
