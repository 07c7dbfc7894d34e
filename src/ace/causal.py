"""Action->reward causal weights: the part of ACE that decides which action dimensions matter.

ACE fits DirectLiNGAM on the last N_c transitions' ``[state, action, reward]`` and reads the reward
row of the adjacency matrix: ``B[r, a_i]`` is the direct causal effect of action dimension i on the
reward given the state. The official code turns the signed coefficients into weights with
``softmax(b) * |A|`` so that the weights sum to |A| and all-ones recovers SAC exactly.
"""

from __future__ import annotations

import functools
import warnings

import numpy as np

#: Columns whose standard deviation is below this carry no information for a linear SEM.
CONSTANT_STD = 1e-12
#: ``fast``: our vectorised DirectLiNGAM (ace.direct_lingam), same results as ``lingam``, the package.
BACKENDS = ("fast", "lingam")


def softmax_weights(coefficients: np.ndarray) -> np.ndarray:
    """``softmax(b) * len(b)``: positive weights summing to the number of action dimensions."""
    b = np.asarray(coefficients, dtype=np.float64)
    z = np.exp(b - b.max())
    return z / z.sum() * b.size


def reward_action_coefficients(
    states: np.ndarray,
    actions: np.ndarray,
    rewards: np.ndarray,
    drop_constant_columns: bool = True,
    backend: str = "fast",
    device: str | None = None,
) -> np.ndarray:
    """Signed DirectLiNGAM coefficients of each action dimension in the reward's equation.

    Constant columns (zero-padded Meta-World observation slots, an action never varied, a sparse
    reward that never fired) make the pwling measure divide by a zero standard deviation, which
    silently collapses the causal order to the column order in the official code. A constant column
    cannot cause anything in a linear SEM, so by default it is left out of the fit and its
    coefficient is 0, as is any non-finite coefficient. ``drop_constant_columns=False`` keeps the
    official behaviour: every column is fitted and the coefficients are returned as the fit gives them.

    ``backend="fast"`` runs our vectorised DirectLiNGAM (on ``device``, default CPU) and estimates
    only the reward row; ``"lingam"`` calls the lingam package as the official code does.
    """
    if backend not in BACKENDS:
        raise ValueError(f"agent.causal.backend={backend!r} is not one of {BACKENDS}")
    states = _as_2d(states, "states")
    actions = _as_2d(actions, "actions")
    rewards = np.asarray(rewards, dtype=np.float64).reshape(-1, 1)
    n = states.shape[0]
    if actions.shape[0] != n or rewards.shape[0] != n:
        raise ValueError(
            f"states, actions and rewards need the same number of rows, got "
            f"{states.shape[0]}, {actions.shape[0]} and {rewards.shape[0]}"
        )
    n_state, n_action = states.shape[1], actions.shape[1]
    data = np.hstack([states, actions, rewards])
    if n < 3:
        raise ValueError(f"DirectLiNGAM needs at least 3 samples, got {n}")

    keep = np.ones(data.shape[1], dtype=bool)
    if drop_constant_columns:
        keep = data.std(axis=0) > CONSTANT_STD
        if not keep[-1] or not keep[n_state : n_state + n_action].any():
            # A constant reward has no causes; no varying action can be one.
            return np.zeros(n_action)

    # np.errstate is per thread (context variable); warnings.catch_warnings is not, so it is not used
    # here, where fits run beside training (see _quiet_sklearn).
    with np.errstate(divide="ignore", invalid="ignore"):
        fitted = _fit_adjacency(data[:, keep], backend, device)
    adjacency = np.zeros((data.shape[1], data.shape[1]))
    adjacency[np.ix_(keep, keep)] = fitted
    coefficients = adjacency[-1, n_state : n_state + n_action]
    if not drop_constant_columns:
        return coefficients  # as the official code: a non-finite coefficient reaches the weights
    return np.nan_to_num(coefficients, nan=0.0, posinf=0.0, neginf=0.0)


@functools.cache
def _quiet_sklearn() -> None:
    """LassoLarsIC warns about degenerate regressors on windows with near-collinear columns; the fit
    handles them, so that one warning class of scikit-learn's LARS is silenced (a static filter, installed
    once: the filter list is process-wide and fits run beside training)."""
    from sklearn.exceptions import ConvergenceWarning

    warnings.filterwarnings("ignore", category=ConvergenceWarning, module=r"sklearn\.linear_model")


def _fit_adjacency(data: np.ndarray, backend: str, device: str | None) -> np.ndarray:
    _quiet_sklearn()
    if backend == "lingam":
        import lingam

        model = lingam.DirectLiNGAM()
        model.fit(data)
        return model.adjacency_matrix_
    from ace.direct_lingam import direct_lingam

    _, adjacency = direct_lingam(data, rows=[data.shape[1] - 1], device=device)  # only the reward row
    return adjacency


def action_reward_weights(
    states: np.ndarray,
    actions: np.ndarray,
    rewards: np.ndarray,
    drop_constant_columns: bool = True,
    backend: str = "fast",
    device: str | None = None,
) -> np.ndarray:
    """ACE's causal weights, shape ``(|A|,)``, positive and summing to ``|A|``."""
    return softmax_weights(reward_action_coefficients(states, actions, rewards, drop_constant_columns, backend,
                                                      device))


def _as_2d(x: np.ndarray, name: str) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    if x.ndim == 1:
        x = x[:, None]
    if x.ndim != 2:
        raise ValueError(f"{name} must be 2-D (samples x dims), got shape {x.shape}")
    return x


def random_action_window(env, n: int, seed: int) -> np.ndarray:
    """``[s, a, r]`` rows of ``n`` uniform-random steps of ``env``: a run's first causal window.

    (``train.start_steps`` actions are uniform, so the first fit sees exactly such data.) Rows are
    stored as float32, as in ACE's window, and constant columns are dropped as the fit drops them.
    Used to test and benchmark DirectLiNGAM on real, ill-conditioned windows.
    """
    obs, _ = env.reset(seed=seed)
    rng = np.random.default_rng(seed)
    rows = []
    for _ in range(n):
        action = rng.uniform(-1, 1, env.action_space.shape).astype(np.float32)
        next_obs, reward, terminated, truncated, _ = env.step(action)
        rows.append(np.r_[obs, action, reward])
        obs = next_obs if not (terminated or truncated) else env.reset()[0]
    x = np.asarray(rows, dtype=np.float32).astype(np.float64)
    return x[:, x.std(axis=0) > CONSTANT_STD]
