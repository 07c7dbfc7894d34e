"""ace.direct_lingam against lingam.DirectLiNGAM (1.13, defaults) on generated LiNGAM data."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
from conftest import lingam_data

import ace.direct_lingam as dl
from ace.direct_lingam import direct_lingam

lingam = pytest.importorskip("lingam")

LAWS = ("uniform", "laplace", "exponential", "mixture")


def reference(X: np.ndarray) -> tuple[list[int], np.ndarray]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # lingam's NaN arithmetic on constant columns
        model = lingam.DirectLiNGAM().fit(X)
    return [int(i) for i in model.causal_order_], model.adjacency_matrix_


def assert_same_as_lingam(X: np.ndarray, **kwargs) -> tuple[list[int], np.ndarray]:
    order, B = direct_lingam(X, **kwargs)
    ref_order, ref_B = reference(X)
    assert order == ref_order
    assert B.shape == ref_B.shape and B.dtype == np.float64
    np.testing.assert_allclose(B, ref_B, rtol=1e-6, atol=1e-8)
    return order, B


CASES = [
    (n, p, law, density)
    for n in (200, 1000, 3000)
    for p in (3, 6, 12, 20)
    for law, density in zip(LAWS, (0.4, 0.0 if p > 3 else 0.4, 0.8, 0.2), strict=True)
]


@pytest.mark.parametrize(("n", "p", "law", "density"), CASES)
def test_matches_lingam(n, p, law, density):
    X = lingam_data(n, p, seed=1000 * p + n + LAWS.index(law), law=law, density=density)
    assert_same_as_lingam(X)


@pytest.mark.parametrize("seed", range(4))
def test_matches_lingam_more_seeds(seed):
    X = lingam_data(2000, 9, seed=seed, law=LAWS[seed], density=0.5)
    assert_same_as_lingam(X)


def test_recovers_a_strong_chain():
    rng = np.random.default_rng(0)
    e = rng.uniform(-1.0, 1.0, (5000, 3))
    x0 = e[:, 0]
    x1 = 2.0 * x0 + e[:, 1]
    x2 = -1.5 * x1 + e[:, 2]
    X = np.column_stack([x0, x1, x2])
    order, B = direct_lingam(X)
    assert order == [0, 1, 2]
    np.testing.assert_allclose([B[1, 0], B[2, 1]], [2.0, -1.5], atol=0.05)
    assert B[2, 0] == 0.0 and B[0].tolist() == [0.0, 0.0, 0.0]
    # the order does not depend on how the columns are numbered
    order, _ = direct_lingam(X[:, [2, 0, 1]])
    assert order == [1, 2, 0]


def test_rows_only_estimates_those_rows():
    X = lingam_data(1500, 10, seed=7, law="laplace")
    order, B = direct_lingam(X)
    for rows in ([9], [-1], np.array([9, 9]), [3, 9]):
        order_r, B_r = direct_lingam(X, rows=rows)
        assert order_r == order
        wanted = sorted({int(r) % 10 for r in rows})
        np.testing.assert_array_equal(B_r[wanted], B[wanted])
        others = [i for i in range(10) if i not in wanted]
        assert not B_r[others].any()
    assert not direct_lingam(X, rows=[])[1].any()
    with pytest.raises(ValueError, match="row index 10 out of range"):
        direct_lingam(X, rows=[10])


@pytest.mark.parametrize(
    ("value", "position"),
    [(0.0, None), (0.0, 0), (0.5, 3), (3.7, 2), (1.0 / 3.0, 1)],
)
def test_constant_columns_as_lingam(value, position):
    """lingam's NaN scores while a constant column is left take the first remaining variable."""
    X = lingam_data(500, 5, seed=1, law="uniform")
    if position is None:  # zero-padded observation slots
        X = np.hstack([X, np.full((500, 3), value)])
    else:
        X = np.insert(X, position, value, axis=1)
    order, B = assert_same_as_lingam(X)
    constant = [j for j in range(X.shape[1]) if np.ptp(X[:, j]) == 0]
    assert not B[constant].any() and not B[:, constant].any()


def test_exact_ties_take_the_first_candidate(monkeypatch):
    """Equal scores (here: every entropy the same) go to the lowest index, as np.argmax does."""
    X = lingam_data(300, 6, seed=3, law="exponential")

    def flat(Z, I, J, A, B, scratch):
        return torch.zeros(I.numel(), dtype=Z.dtype)

    monkeypatch.setattr(dl, "_entropies", flat)
    monkeypatch.setattr(lingam.DirectLiNGAM, "_entropy", lambda self, u: 0.0)
    order, _ = direct_lingam(X)
    assert order == reference(X)[0] == list(range(6))


def _count_pairs(monkeypatch) -> list[int]:
    """Residual entropies computed per call (the entropies of the variables themselves not counted)."""
    counts = []
    real = dl._entropies

    def counting(Z, I, J, A, B, scratch):
        if bool((B != 0).any()):
            counts.append(I.numel())
        return real(Z, I, J, A, B, scratch)

    monkeypatch.setattr(dl, "_entropies", counting)
    return counts


def test_pruned_search_equals_full_search(monkeypatch):
    """Dropping candidates early gives the winner of the full evaluation, with far fewer pairs."""
    X = lingam_data(4000, 16, seed=11, law="mixture", density=0.3)
    counts = _count_pairs(monkeypatch)
    order, B = direct_lingam(X)
    pruned = sum(counts)
    counts.clear()
    monkeypatch.setattr(dl, "_PRUNE", False)  # every pair, as lingam
    order_full, B_full = direct_lingam(X)
    assert sum(counts) == sum(k * (k - 1) for k in range(2, 17))
    assert order_full == order
    np.testing.assert_array_equal(B_full, B)
    assert pruned < 0.6 * sum(counts)


@pytest.mark.parametrize("seed", range(4))
def test_pair_order_changes_the_cost_not_the_winner(monkeypatch, seed):
    """Whatever the guess that orders the pairs (here random), the search picks the full search's winner."""
    rng = np.random.default_rng(seed)
    X = lingam_data(2000, 12, seed=seed, law=LAWS[seed], density=0.3)
    Xu = torch.from_numpy(X.T.copy())
    scratch = torch.empty(2, 1 << 16, dtype=torch.float64)
    monkeypatch.setattr(dl, "_PRUNE", False)
    winner, d_full = dl._search(Xu, np.full((12, 12), np.nan), scratch)
    monkeypatch.setattr(dl, "_PRUNE", True)
    for weight in (0.0, 1e-2, 1e6):
        monkeypatch.setattr(dl, "_UNKNOWN_WEIGHT", weight)
        guess = np.where(rng.random((12, 12)) < 0.5, rng.normal(0.0, 1e-3, (12, 12)), np.nan)
        w, d = dl._search(Xu, guess, scratch)
        assert w == winner
        known = ~np.isnan(d)
        assert known[winner].all()
        np.testing.assert_array_equal(d[known], d_full[known])


@pytest.mark.parametrize(
    ("Hz", "H", "guess", "winner"),
    [
        # M = (0, 0, 0): a tie between 0 and the first candidate completed (1); np.argmax takes 0
        ([1.0, 0.0, 1.0], {(0, 1): 1.0}, {}, 0),
        # M = (0.9999, 1, 4, 4): the first candidate completed is 1; candidate 0, still incomplete after
        # its pair with 2 (ordered first by the guess), has a partial score 1e-4 below 1 and must stay in
        ([1.0, 0.0, 1.0, 1.0], {(0, 1): 2.0, (2, 0): 0.9999**0.5, (2, 1): -1.0, (3, 1): -1.0},
         {(0, 2): -1.0, (0, 3): 0.0}, 0),
    ],
)
def test_race_keeps_ties_and_near_ties(monkeypatch, Hz, H, guess, winner):
    """Entropies set by hand: a candidate scoring equal to, or just below, the best complete one stays in."""
    k = len(Hz)
    Hz_t = torch.tensor(Hz, dtype=torch.float64)
    H_t = torch.zeros(k, k, dtype=torch.float64)
    for (i, j), value in H.items():
        H_t[i, j] = value
    guess_np = np.full((k, k), np.nan)
    for (i, j), value in guess.items():
        guess_np[i, j] = value

    def fake(Z, I, J, A, B, scratch):
        return Hz_t[I].clone() if torch.equal(I, J) else H_t[I, J]

    monkeypatch.setattr(dl, "_entropies", fake)
    Xu = torch.from_numpy(np.random.default_rng(0).normal(size=(k, 200)))
    scratch = torch.empty(2, 1 << 12, dtype=torch.float64)
    w, d = dl._search(Xu, guess_np, scratch)
    assert w == winner
    assert not np.isnan(d[winner]).any()
    monkeypatch.setattr(dl, "_PRUNE", False)
    assert dl._search(Xu, guess_np, scratch)[0] == winner


def test_tensor_input_and_float32():
    X = lingam_data(1000, 6, seed=5, law="laplace")
    order, B = direct_lingam(X)
    order_t, B_t = direct_lingam(torch.from_numpy(X))
    assert order_t == order
    np.testing.assert_array_equal(B_t, B)
    # the order searched in float32 (entropies to ~1e-6) still separates these scores; the adjacency
    # is always fitted in float64, so it matches the float64 fit of the same float32 values exactly
    X32 = X.astype(np.float32)
    order_32, B_32 = direct_lingam(X32.tolist(), dtype=torch.float32)
    order_64, B_64 = direct_lingam(X32.astype(np.float64))
    assert order_32 == order_64
    np.testing.assert_array_equal(B_32, B_64)


def test_single_variable_and_collinear_columns():
    X = lingam_data(100, 3, seed=0, law="uniform")
    assert direct_lingam(X[:, :1]) == ([0], pytest.approx(np.zeros((1, 1))))
    order, B = direct_lingam(np.column_stack([X, 2.0 * X[:, 0]]))  # no crash on an exact copy
    assert sorted(order) == [0, 1, 2, 3] and B.shape == (4, 4)


@pytest.mark.parametrize(
    ("X", "message"),
    [
        (np.arange(10.0), "must be 2-D"),
        (np.ones((2, 3)), "at least 3 samples"),
        (np.zeros((5, 0)), "no columns"),
        (np.array([[0.0, 1.0], [np.nan, 2.0], [1.0, 3.0]]), "NaN or infinite"),
        (np.array([[0.0, 1.0], [np.inf, 2.0], [1.0, 3.0]]), "NaN or infinite"),
        ([["a", "b"]] * 4, "numeric"),
    ],
)
def test_rejects_bad_input(X, message):
    with pytest.raises(ValueError, match=message):
        direct_lingam(X)


def test_fortran_ordered_input_is_left_untouched():
    """``data[:, mask]`` is Fortran-ordered; the order search must not residualise the caller's array."""
    X = np.asfortranarray(lingam_data(500, 6, 11, "uniform"))
    before = X.copy()
    order, B = direct_lingam(X)
    np.testing.assert_array_equal(X, before)
    model = lingam.DirectLiNGAM().fit(before)
    assert order == list(model.causal_order_)
    np.testing.assert_allclose(B, model.adjacency_matrix_, rtol=1e-6, atol=1e-8)


def metaworld_window(task: str, n: int = 2000, seed: int = 1) -> np.ndarray:
    """The first causal window of a run (uniform random actions) on a real task."""
    from conftest import compose_cfg

    from ace.causal import random_action_window
    from ace.envs import make_env

    # Goals drawn per episode (MT1): goal columns vary, the harder case for the equality check.
    env = make_env(compose_cfg(f"env={task}", "env.goals=random").env, seed)
    try:
        return random_action_window(env, n, seed)
    finally:
        env.close()


@pytest.mark.parametrize("task", ["metaworld/reach", "metaworld/hammer"])
def test_matches_lingam_on_real_replay_windows(task):
    """Real windows are ill-conditioned (float32 noise-floor columns, goals fixed per episode)."""
    X = metaworld_window(task)
    assert np.linalg.cond(X - X.mean(0)) > 1e5
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = lingam.DirectLiNGAM().fit(X)
    order, B = direct_lingam(X)
    assert order == list(model.causal_order_)
    np.testing.assert_allclose(B, model.adjacency_matrix_, rtol=1e-6, atol=1e-8)
    _, reward_row = direct_lingam(X, rows=[-1])
    np.testing.assert_allclose(reward_row[-1], model.adjacency_matrix_[-1], rtol=1e-6, atol=1e-8)
