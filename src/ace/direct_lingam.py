"""DirectLiNGAM (Shimizu et al., JMLR 2011) in torch, vectorised over variable pairs.

ACE refits DirectLiNGAM on 10^4 transitions every few thousand steps, and ``lingam.DirectLiNGAM``
spends that time in Python loops over ordered pairs: its causal-order search is O(p^3 n) with four
entropy evaluations per ordered pair and step. :func:`direct_lingam` returns what
``lingam.DirectLiNGAM().fit(X)`` (lingam 1.13, defaults: ``measure='pwling'``, no prior knowledge)
gives as ``causal_order_`` and ``adjacency_matrix_``, computed differently:

* the pwling measure's residual entropies are computed for lists of pairs in a few tensor ops (one
  entropy per ordered pair and step instead of four; the variances of the residuals come from the
  correlation matrix; ``sum log cosh u`` as ``sum |u| - n log 2 + log prod (1 + exp(-2|u|))``, with
  a ``log`` per group of samples instead of per element; ``exp2`` instead of ``exp``);
* a candidate's score ``M_i = sum_j min(0, d_ij)^2`` only grows as pairs are added, and one pair
  gives the term of both its variables (``d_ji = -d_ij``). The search completes the likeliest
  winner first, then gives the other candidates their pairs a few at a time, those predicted to
  weigh most first (from the previous step's ``d`` and the correlations), and drops a candidate as
  soon as its partial score exceeds the best complete one. The winner is the one the full search
  picks (first index on ties, as ``np.argmax``); on generated sparse DAGs with 44 to 68 variables
  about a fifth of the pairs are computed;
* the adaptive-lasso pruning runs on Gram matrices (one ``X^T X`` for all rows) with scikit-learn's
  own LARS solver (``lars_path_gram``), the BIC of ``LassoLarsIC`` and least squares from the normal
  equations, where that row's predictors are well conditioned; otherwise (typical of real replay
  windows) it runs lingam's own scikit-learn calls on the same arrays, so the result is the same.

Results agree with lingam to rounding (about 1e-12 relative on well-conditioned data), so an order
can only differ where two candidates' scores tie to that precision. Differences on degenerate input:

* constant columns make lingam divide by a zero standard deviation; every score is then NaN and
  ``np.argmax`` takes the first remaining variable. That is reproduced: while a constant column is
  left, the first remaining variable is taken, and once a constant column is taken whose NumPy
  variance is exactly 0 (always for zeros, and whenever ``np.mean`` of the column is exact) the rest
  of the order is the remaining variables in index order. Where NumPy's mean of the constant is
  inexact lingam regresses the others on a column of rounding errors, which shifts them by a
  constant; here they are left as they are and the search goes on as usual. A constant column gets
  coefficient 0 as a predictor and an all-zero row as a target, as in lingam.
* exactly collinear columns give lingam residuals of rounding noise; no attempt is made to match.
* float32 input is computed in ``dtype`` (float64 by default); lingam would compute in float32.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import numpy as np
import torch

__all__ = ["direct_lingam"]

# Constants of lingam's maximum-entropy approximation (DirectLiNGAM._entropy).
_K1 = 79.047
_K2 = 7.4129
_GAMMA = 0.37457
_H_GAUSS = (1.0 + math.log(2.0 * math.pi)) / 2.0
_LOG2 = math.log(2.0)

# Elements (pairs x samples) of one chunk of pair residuals, per CPU thread: fewer, larger tensor ops
# against cache misses. 2^18 measured best of 2^14..2^21 on a 2-core EPYC (1 MiB L2) at 10,000 samples.
_BLOCK_CPU = 1 << 18
_BLOCK_CUDA = 1 << 22
# Relative slack when dropping a candidate whose partial score exceeds the best complete score: the
# two sums are taken in different orders.
_PRUNE_SLACK = 1e-12
# False: compute every pair, as lingam does (for tests).
_PRUNE = True
# Predicted term of a pair not computed before: this times its squared correlation. Large enough
# that unknown pairs of correlated variables come before pairs already known to be small.
_UNKNOWN_WEIGHT = 1e-2
# Above this condition number of a row's standardised predictor Gram matrix the adaptive lasso runs
# through scikit-learn exactly as lingam calls it (see _adjacency).
_GRAM_MAX_COND = 1e4


def direct_lingam(
    X,
    rows: Iterable[int] | None = None,
    device: str | torch.device | None = None,
    dtype: torch.dtype = torch.float64,
) -> tuple[list[int], np.ndarray]:
    """Causal order and adjacency matrix of ``X`` as ``lingam.DirectLiNGAM().fit(X)`` estimates them.

    Args:
        X: data, shape (n_samples, n_features), a NumPy array or a torch tensor.
        rows: rows of the adjacency matrix to estimate (negative indices count from the end); the
            others are left 0. ``None`` estimates all of them. The causal order is always searched
            in full.
        device: where to compute; ``None`` is the tensor's device, or the CPU for other input.
        dtype: floating-point type of the computation.

    Returns:
        ``(causal_order, B)``: a list of column indices, and the (n_features, n_features) float64
        matrix with ``B[i, j]`` the coefficient of ``x_j`` in the equation of ``x_i``.
    """
    Xt = _as_tensor(X, device, dtype)
    n, p = Xt.shape
    targets = _check_rows(rows, p)
    constant = (Xt.amax(0) == Xt.amin(0)).tolist()
    order = _causal_order(Xt, constant)
    # lingam's scikit-learn steps see the caller's array in its own memory layout: column sums of a
    # Fortran-ordered array round differently from those of a C-ordered copy (~1e-13), which can flip a
    # lasso selection on an ill-conditioned row.
    host = None if isinstance(X, torch.Tensor) else np.asarray(X, dtype=np.float64)
    B = _adjacency(Xt, order, targets, constant, host)
    return order, B


def _as_tensor(X, device, dtype) -> torch.Tensor:
    if not (isinstance(dtype, torch.dtype) and dtype.is_floating_point):
        raise ValueError(f"dtype must be a torch floating-point dtype, got {dtype!r}")
    if isinstance(X, torch.Tensor):
        Xt = X.detach()
        device = Xt.device if device is None else torch.device(device)
    else:
        try:
            arr = np.asarray(X, dtype=np.float64)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"X must be a numeric array: {exc}") from exc
        Xt = torch.from_numpy(np.ascontiguousarray(arr))  # torch refuses negative strides (X[:, ::-1])
        device = torch.device("cpu") if device is None else torch.device(device)
    if Xt.ndim != 2:
        raise ValueError(f"X must be 2-D (n_samples, n_features), got shape {tuple(Xt.shape)}")
    if Xt.is_complex() or Xt.dtype == torch.bool:
        raise ValueError(f"X must be real-valued, got {Xt.dtype}")
    n, p = Xt.shape
    if n < 3:
        raise ValueError(f"DirectLiNGAM needs at least 3 samples, got {n}")
    if p < 1:
        raise ValueError("X has no columns")
    Xt = Xt.to(device=device, dtype=dtype)
    if not bool(torch.isfinite(Xt).all()):
        raise ValueError("X contains NaN or infinite values")
    return Xt


def _check_rows(rows, p: int) -> list[int]:
    if rows is None:
        return list(range(p))
    out = []
    for r in rows:
        r = int(r)
        if not -p <= r < p:
            raise ValueError(f"row index {r} out of range for {p} variables")
        out.append(r % p)
    return sorted(set(out))


# --------------------------------------------------------------------------- causal order


def _causal_order(X: torch.Tensor, constant: list[bool]) -> list[int]:
    """lingam's ``fit`` loop: take the most exogenous variable, regress it out of the others, repeat."""
    n, p = X.shape
    # (p, n): row i is variable i, residualised in place on the variables taken so far. Always a copy:
    # for Fortran-ordered input (e.g. ``data[:, mask]``) ``X.T.contiguous()`` would alias the caller's array.
    Xr = X.T.clone(memory_format=torch.contiguous_format)
    U = list(range(p))
    order: list[int] = []
    collapsed = False  # lingam's working copy has become all NaN
    block = _BLOCK_CUDA if X.device.type == "cuda" else _BLOCK_CPU * torch.get_num_threads()
    scratch = torch.empty(2, min(block, n * p * p), dtype=X.dtype, device=X.device)  # for _entropies
    guess = np.full((p, p), np.nan)  # d of the last step that computed each pair, to order the search
    while U:
        if len(U) == 1 or collapsed or any(constant[i] for i in U):
            m = U[0]  # lingam: every score NaN, np.argmax gives the first
        else:
            ix = np.ix_(U, U)
            local, d = _search(Xr[U], guess[ix], scratch)
            m = U[local]
            guess[ix] = np.where(np.isnan(d), guess[ix], d)
        rest = [i for i in U if i != m]
        if constant[m]:
            # lingam regresses on a constant: 0/0 if NumPy's variance of it is exactly 0, which
            # turns every remaining column into NaN; otherwise a shift by a constant (ignored).
            if float(np.var(X[:, m].cpu().numpy().astype(np.float64))) == 0.0:
                collapsed = True
        elif rest and not collapsed:
            varying = [i for i in rest if not constant[i]]
            if varying:
                _regress_out(Xr, varying, m)
        order.append(m)
        U = rest
    return order


def _regress_out(Xr: torch.Tensor, idx: list[int], m: int) -> None:
    """``x_i -= cov(x_i, x_m) / var(x_m) * x_m`` for i in idx (lingam's ``_residual``)."""
    n = Xr.shape[1]
    xm = Xr[m]
    xmc = xm - xm.mean()
    var = xmc.dot(xmc) / n
    ii = torch.tensor(idx, device=Xr.device)
    Xi = Xr.index_select(0, ii)
    cov = (Xi - Xi.mean(1, keepdim=True)) @ xmc / n
    Xr.index_copy_(0, ii, Xi - (cov / var)[:, None] * xm[None, :])


def _entropy(lc_sum: torch.Tensor, g_sum: torch.Tensor, n: int) -> torch.Tensor:
    """lingam's ``_entropy`` from ``sum log cosh u`` and ``sum u exp(-u^2/2)``."""
    return _H_GAUSS - _K1 * (lc_sum / n - _GAMMA) ** 2 - _K2 * (g_sum / n) ** 2


class _PairEntropies:
    """The pwling quantities of one search step, residual entropies computed only for the pairs asked for."""

    def __init__(self, Xu: torch.Tensor, scratch: torch.Tensor):
        k, n = Xu.shape
        dev, dt = Xu.device, Xu.dtype
        Z = Xu - Xu.mean(1, keepdim=True)
        Z /= torch.sqrt(torch.linalg.vecdot(Z, Z) / n)[:, None]  # lingam's xi_std
        C = Z @ Z.T / n  # covariances of the z's (their means are rounding errors, 1e-17)
        v = C.diagonal()
        # residual of z_i on z_j: r_ij = z_i - b_ij z_j, b_ij = cov_ij / var_j, var(r_ij) = C_ii - C_ij b_ij
        b = C / v[None, :]
        var_r = v[:, None] - C * b
        a = torch.rsqrt(var_r)  # u_ij = r_ij / std(r_ij) = a_ij z_i - c_ij z_j
        c = b * a
        eye = torch.eye(k, dtype=torch.bool, device=dev)
        self.a, self.c = a.masked_fill(eye, 1.0), c.masked_fill(eye, 0.0)
        self.Z, self.scratch, self.k = Z, scratch, k
        self.abs_corr = C.abs().cpu().numpy()
        diag = torch.arange(k, device=dev)
        one, zero = torch.ones(k, dtype=dt, device=dev), torch.zeros(k, dtype=dt, device=dev)
        self.Hz = _entropies(Z, diag, diag, one, zero, scratch).cpu().numpy().astype(np.float64)  # H(z_i)
        self.H = np.full((k, k), np.nan)  # H[i, j]: entropy of u_ij
        np.fill_diagonal(self.H, 0.0)  # d_ii = 0
        self.known = np.eye(k, dtype=bool)
        finite = np.isfinite(self.Hz).all() and bool(torch.isfinite(self.a).all() and torch.isfinite(self.c).all())
        self.degenerate = not finite

    def compute(self, lo: np.ndarray, hi: np.ndarray) -> None:
        """Both residual entropies of the pairs {lo[m], hi[m]}."""
        I, J = np.concatenate([lo, hi]), np.concatenate([hi, lo])
        It, Jt = torch.as_tensor(I, device=self.Z.device), torch.as_tensor(J, device=self.Z.device)
        self.H[I, J] = _entropies(self.Z, It, Jt, self.a[It, Jt], self.c[It, Jt], self.scratch).cpu().numpy()
        self.known[I, J] = True

    def compute_rest(self) -> None:
        lo, hi = np.nonzero(np.triu(~self.known, 1))
        if lo.size:
            self.compute(lo, hi)

    def terms(self) -> tuple[np.ndarray, np.ndarray]:
        """``d`` (NaN where unknown) and the score terms ``min(0, d_ij)^2`` (0 where unknown)."""
        # lingam: d_ij = (H(z_j) + H(u_ij)) - (H(z_i) + H(u_ji)); M_i = sum_j min(0, d_ij)^2
        with np.errstate(invalid="ignore", over="ignore"):  # degenerate data: inf - inf, as lingam's NaN
            d = (self.Hz[None, :] + self.H) - (self.Hz[:, None] + self.H.T)
            return d, np.where(self.known, np.minimum(d, 0.0) ** 2, 0.0)


def _search(Xu: torch.Tensor, guess: np.ndarray, scratch: torch.Tensor) -> tuple[int, np.ndarray]:
    """lingam's ``_search_causal_order`` (pwling) for the remaining variables ``Xu`` (k, n).

    A candidate's score ``M_i = sum_j min(0, d_ij)^2`` is a sum of non-negative terms, and one pair
    ``{i, j}`` (two residual entropies) gives the term of both, since ``d_ji = -d_ij``: at most one
    of them is charged. So pairs are computed in rounds (:func:`_race`) and candidates drop out as
    soon as their partial score exceeds the best complete one. Which pairs come first only changes
    the cost, never the winner: it is the one the full search picks (first index on ties, as
    ``np.argmax``). Up to rounding: with several CPU threads torch may sum one pair's samples in
    another order when it comes alone than in a batch (about 1e-15 relative), so scores tied to
    that precision could go either way, as they could against lingam.

    Args:
        Xu: the remaining variables, residualised on the ones taken (k, n).
        guess: ``d`` of earlier steps for the same variables (NaN where unknown), to order the pairs.
        scratch: working memory for :func:`_entropies`.

    Returns:
        The local index of the winner, and ``d`` (k, k) with NaN for the pairs not computed.
    """
    pairs = _PairEntropies(Xu, scratch)
    if _PRUNE and not pairs.degenerate:
        _race(pairs, guess)
    if not _PRUNE or pairs.degenerate:
        pairs.compute_rest()  # every pair; with NaN scores lingam's np.argmax takes the first NaN
    d, terms = pairs.terms()
    M = np.where(pairs.known.all(1), terms.sum(1), np.inf)
    nan = np.isnan(M)
    if nan.any():
        return int(np.flatnonzero(nan)[0]), d
    return int(np.flatnonzero(M == M.min())[0]), d


def _race(pairs: _PairEntropies, guess: np.ndarray) -> None:
    """Compute pairs until one candidate is complete with the lowest score and every other one is beaten.

    First every pair of the likeliest winner (lowest predicted score), which makes its score the best
    complete one; then, per round, each candidate still in the race gets its next pairs (1, 2, 4, ...
    of them), those whose term is predicted largest first: the previous steps' term where known, else
    a multiple of the squared correlation (uncorrelated variables have d near 0). Sets
    ``pairs.degenerate`` and stops if a score turns out NaN or infinite.
    """
    k = pairs.k
    known_before = np.isfinite(guess)
    predicted = np.where(known_before, np.minimum(guess, 0.0) ** 2, _UNKNOWN_WEIGHT * pairs.abs_corr**2)
    np.fill_diagonal(predicted, -np.inf)
    prefs = np.argsort(-predicted, axis=1, kind="stable")  # each candidate's pairs, likeliest first
    rows = np.arange(k)[:, None]
    if known_before.any():
        first = int(np.argmin(np.where(known_before, predicted, 0.0).clip(min=0.0).sum(1)))
    else:
        first = int(np.argmin(pairs.Hz))  # first step: the least Gaussian variable
    pairs.compute(np.full(k - 1, first), np.delete(np.arange(k), first))
    alive = np.ones(k, dtype=bool)
    take = np.ones(k, dtype=np.int64)  # pairs per candidate in the next round
    while True:
        _, terms = pairs.terms()
        if not np.isfinite(terms).all():
            pairs.degenerate = True
            return
        partial = terms.sum(1)
        complete = pairs.known.all(1)
        alive &= ~(partial > partial[complete].min() * (1.0 + _PRUNE_SLACK))
        todo = alive & ~complete
        if not todo.any():
            return
        unknown = ~pairs.known[rows, prefs]  # in order of preference
        pick = unknown & (np.cumsum(unknown, 1) <= take[:, None]) & todo[:, None]
        i, pos = np.nonzero(pick)
        j = prefs[i, pos]
        pair = np.unique(np.minimum(i, j) * k + np.maximum(i, j))
        pairs.compute(pair // k, pair % k)
        take[todo] *= 2


def _entropies(
    Z: torch.Tensor, I: torch.Tensor, J: torch.Tensor, A: torch.Tensor, B: torch.Tensor, scratch: torch.Tensor
) -> torch.Tensor:
    """lingam's entropy approximation of ``u_m = A[m] Z[I[m]] - B[m] Z[J[m]]`` for every m.

    Works on chunks of at most ``scratch.shape[1]`` elements (pairs times samples; ``scratch`` is
    reused memory of shape (2, block), allocated once per fit), on w = u * 2 / log 2 so that
    both exponentials are ``exp2`` of w without a rescaling pass (``exp2`` is about twice as fast as
    ``exp`` on the CPU and as accurate). ``log cosh u = |u| - log 2 + log(1 + exp(-2|u|))``, the last
    term summed as the log of products of 64 factors in (1, 2]: one log per 64 samples instead of
    one per element, and nothing overflows.
    """
    P = I.numel()
    n = Z.shape[1]
    kw = {"dtype": Z.dtype, "device": Z.device}
    # factors 1 + 2^-|w| in (1, 2] are multiplied in groups of G: at most 2^G, finite
    G = min(64, int(math.log2(torch.finfo(Z.dtype).max)) // 2)
    block = scratch.shape[1]
    nb = n if n <= block else block // G * G  # samples per chunk, a multiple of G but for the last
    pc = min(P, max(1, block // nb))  # pairs per chunk
    scale = 2.0 / _LOG2  # w = scale * u: exp(-2|u|) = 2^-|w|, exp(-u^2/2) = 2^(-w^2 log(2) / 8)
    Aw, Bw = (scale * A)[:, None], (scale * B)[:, None]
    lc = torch.empty(P, **kw)  # sum log cosh u
    g = torch.empty(P, **kw)  # sum u exp(-u^2 / 2)
    zero = torch.zeros((), **kw)
    w_buf, t_buf = scratch
    for p0 in range(0, P, pc):
        p1 = min(P, p0 + pc)
        Ic, Jc, Ac, Bc = I[p0:p1], J[p0:p1], Aw[p0:p1], Bw[p0:p1]
        sum_abs = torch.zeros(p1 - p0, **kw)  # sum |w|
        sum_log = torch.zeros_like(sum_abs)  # sum log(1 + 2^-|w|)
        sum_g = torch.zeros_like(sum_abs)  # sum w 2^(-w^2 log(2) / 8)
        for s0 in range(0, n, nb):
            s1 = min(n, s0 + nb)
            shape = (p1 - p0, s1 - s0)
            Zs = Z[:, s0:s1]
            w = torch.index_select(Zs, 0, Ic, out=w_buf[: math.prod(shape)].view(shape))
            t = torch.index_select(Zs, 0, Jc, out=t_buf[: w.numel()].view(shape))
            w.mul_(Ac).addcmul_(Bc, t, value=-1.0)
            torch.addcmul(zero, w, w, value=-_LOG2 / 8.0, out=t)
            sum_g += torch.exp2(t, out=t).mul_(w).sum(-1)
            w.abs_()
            sum_abs += w.sum(-1)
            torch.exp2(w.neg_(), out=t).add_(1.0)
            L = s1 - s0
            L0 = L - L % G
            if L0:
                sum_log += t[:, :L0].unflatten(-1, (L0 // G, G)).prod(-1).log_().sum(-1)
            if L0 < L:
                sum_log += t[:, L0:L].log().sum(-1)
        lc[p0:p1] = sum_abs / scale + sum_log - n * _LOG2
        g[p0:p1] = sum_g / scale
    return _entropy(lc, g, n)


# --------------------------------------------------------------------------- adjacency matrix


def _adjacency(X: torch.Tensor, order: list[int], targets: list[int], constant: list[bool],
               host: np.ndarray | None = None) -> np.ndarray:
    """lingam's ``_estimate_adjacency_matrix``: adaptive lasso (BIC) of each variable on its predecessors.

    Per target, ``predict_adaptive_lasso``: OLS on the standardised data gives weights ``|beta|``;
    ``LassoLarsIC(criterion='bic')`` on the weighted predictors selects; OLS on the raw data refits the
    selected ones. All of it from one Gram matrix: the data enter only through ``X^T X``. ``host``: the
    caller's float64 array, used as it is by the scikit-learn fallback (as lingam would use it).
    """
    n, p = X.shape
    B = np.zeros((p, p), dtype=np.float64)
    position = {v: i for i, v in enumerate(order)}
    targets = [t for t in targets if position[t] > 0]
    if not targets:
        return B
    from sklearn.linear_model import lars_path_gram

    X64 = X.to(torch.float64)
    Xc = X64 - X64.mean(0, keepdim=True)
    G = (Xc.T @ Xc).cpu().numpy()  # n * covariance of the raw data
    scale = np.sqrt(np.diag(G) / n)  # StandardScaler's scale (1 for constant columns)
    const = np.asarray(constant, dtype=bool)
    scale[const] = 1.0
    S = G / np.outer(scale, scale)  # Gram matrix of the centred standardised data
    S[const, :] = 0.0
    S[:, const] = 0.0
    eps = np.finfo(np.float64).eps
    X_np = X_std = None
    for target in targets:
        predictors = np.asarray(order[: position[target]])
        q = predictors.size
        if n <= q + 1:
            raise ValueError(
                f"the adaptive lasso of lingam (LassoLarsIC) needs more samples than predictors + 1; "
                f"got {n} samples and {q} predictors for variable {target}"
            )
        if const[target]:
            continue
        P = predictors[~const[predictors]]  # constant predictors: weight 0, never selected
        if P.size == 0:
            continue
        S_PP, s_Pt, s_tt = S[np.ix_(P, P)], S[P, target], S[target, target]
        if np.linalg.cond(S_PP) > _GRAM_MAX_COND:
            # Ill-conditioned (real replay windows: float32 noise-floor columns, goals constant within
            # an episode): the Gram shortcut's rounding can change the LARS path, so run lingam's own
            # scikit-learn steps on the same arrays.
            if X_np is None:
                X_np = host if host is not None else X64.cpu().numpy()
                X_std = _standardise(X_np)
            B[target, predictors] = _adaptive_lasso_sklearn(X_np, X_std, predictors, target)
            continue
        beta = _solve(S_PP, s_Pt)  # OLS on the standardised data
        w = np.abs(beta)
        gram = S_PP * np.outer(w, w)
        xy = s_Pt * w
        with np.errstate(divide="ignore", invalid="ignore"):
            _, _, path = lars_path_gram(xy, gram, n_samples=n, alpha_min=0.0, method="lasso", max_iter=500, eps=eps)
            # LassoLarsIC(criterion='bic') with its OLS noise variance
            rss = s_tt - 2.0 * (path.T @ xy) + np.einsum("ik,ij,jk->k", path, gram, path)
            sigma2 = (s_tt - s_Pt @ beta) / (n - q - 1)
            dof = (np.abs(path) > eps).sum(0)
            crit = n * np.log(2.0 * np.pi * sigma2) + rss / sigma2 + np.log(n) * dof
        coef = path[:, int(np.argmin(crit))]
        keep = np.abs(coef * w) > 0.0
        if keep.any():
            K = P[keep]
            beta_std = _solve(S[np.ix_(K, K)], S[K, target])
            B[target, K] = beta_std * scale[target] / scale[K]
    return B


def _standardise(X: np.ndarray) -> np.ndarray:
    """``StandardScaler().fit_transform(X)``, which lingam recomputes for every row; done once here."""
    from sklearn.preprocessing import StandardScaler

    return StandardScaler().fit_transform(X)


def _adaptive_lasso_sklearn(X: np.ndarray, X_std: np.ndarray, predictors: np.ndarray, target: int) -> np.ndarray:
    """lingam's ``predict_adaptive_lasso`` (gamma = 1) step by step, on a precomputed standardisation."""
    from sklearn.linear_model import LassoLarsIC, LinearRegression

    lr = LinearRegression().fit(X_std[:, predictors], X_std[:, target])
    weight = np.abs(lr.coef_)
    reg = LassoLarsIC(criterion="bic").fit(X_std[:, predictors] * weight, X_std[:, target])
    keep = np.abs(reg.coef_ * weight) > 0.0
    coef = np.zeros(len(predictors))
    if keep.any():
        coef[keep] = LinearRegression().fit(X[:, predictors[keep]], X[:, target]).coef_
    return coef


def _solve(A: np.ndarray, y: np.ndarray) -> np.ndarray:
    try:
        return np.linalg.solve(A, y)
    except np.linalg.LinAlgError:
        return np.linalg.lstsq(A, y, rcond=None)[0]
