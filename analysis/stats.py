"""Aggregate statistics with honest uncertainty: IQM and (stratified) percentile bootstrap intervals.

Follows Agarwal et al. (2021, "Deep RL at the edge of the statistical precipice", the rliable
library): with a handful of seeds per task, report the interquartile mean across all (task, seed)
scores and a stratified bootstrap interval that resamples seeds *within* each task, so the task mix
of the benchmark stays fixed and only run-to-run variability is resampled.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import numpy as np

Statistic = Callable[[np.ndarray], np.ndarray]  # reduces the last axis


def iqm(x: np.ndarray, axis: int = -1) -> np.ndarray:
    """Interquartile mean: the mean of the middle 50% along ``axis``.

    Same convention as ``scipy.stats.trim_mean(x, 0.25)`` (what rliable uses): floor(n/4) values are
    cut from each end.
    """
    x = np.sort(np.asarray(x, dtype=np.float64), axis=axis)
    n = x.shape[axis]
    if n == 0:
        raise ValueError("iqm of an empty array")
    cut = int(0.25 * n)
    return np.take(x, np.arange(cut, n - cut), axis=axis).mean(axis=axis)


def mean(x: np.ndarray, axis: int = -1) -> np.ndarray:
    return np.asarray(x, dtype=np.float64).mean(axis=axis)


STATISTICS: dict[str, Statistic] = {"mean": mean, "iqm": iqm}


def _check_conf(conf: float) -> None:
    if not 0.0 < conf < 1.0:
        raise ValueError(f"confidence level must be in (0, 1), got {conf}")


def bootstrap_ci(values: Sequence[float], statistic: Statistic = mean, reps: int = 2000, conf: float = 0.95,
                 seed: int = 0) -> tuple[float, float, float]:
    """Point estimate and percentile bootstrap interval of ``statistic`` over independent runs (seeds).

    One value gives a zero-width interval: with one seed there is nothing to resample.
    """
    _check_conf(conf)
    x = np.asarray(values, dtype=np.float64)
    x = x[np.isfinite(x)]
    if x.size == 0:
        return (float("nan"),) * 3
    point = float(statistic(x))
    if x.size == 1:
        return point, point, point
    rng = np.random.default_rng(seed)
    samples = statistic(x[rng.integers(0, x.size, size=(reps, x.size))])
    lo, hi = np.quantile(samples, [(1 - conf) / 2, (1 + conf) / 2])
    return point, float(lo), float(hi)


def stratified_bootstrap_ci(scores: Mapping[str, Sequence[float]] | Sequence[Sequence[float]],
                            statistic: str | Statistic = "mean", reps: int = 2000, conf: float = 0.95,
                            seed: int = 0) -> tuple[float, float, float]:
    """An aggregate over tasks with a stratified percentile bootstrap over seeds.

    ``scores`` holds one sequence of per-seed scores per task (tasks may have different numbers of
    seeds). Each replicate resamples the seeds of every task with replacement and keeps every task.
    ``statistic``: ``"mean"`` is the mean over tasks of each task's mean, so every task weighs the
    same whatever its number of seeds; ``"iqm"`` (or any callable) is applied to the pooled
    (task, seed) scores, as rliable does, which assumes equal seed counts per task.
    """
    _check_conf(conf)
    groups = list(scores.values()) if isinstance(scores, Mapping) else list(scores)
    groups = [g[np.isfinite(g)] for g in (np.asarray(g, dtype=np.float64).ravel() for g in groups)]
    groups = [g for g in groups if g.size]
    if not groups:
        return (float("nan"),) * 3
    rng = np.random.default_rng(seed)
    resampled = [g[rng.integers(0, g.size, size=(reps, g.size))] for g in groups]
    if statistic == "mean":
        point = float(np.mean([g.mean() for g in groups]))
        samples = np.mean([r.mean(axis=1) for r in resampled], axis=0)
    else:
        fn = STATISTICS[statistic] if isinstance(statistic, str) else statistic
        point = float(fn(np.concatenate(groups)))
        samples = fn(np.concatenate(resampled, axis=1))
    lo, hi = np.quantile(samples, [(1 - conf) / 2, (1 + conf) / 2])
    return point, float(lo), float(hi)


def _pairwise_win_rate(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """P(X > Y) + P(X = Y) / 2 over all pairs, along the last axis: the Mann-Whitney U statistic / (n m)."""
    diff = x[..., :, None] - y[..., None, :]
    return (np.sign(diff) + 1.0).mean(axis=(-2, -1)) / 2.0


def probability_of_improvement(x: Mapping[str, Sequence[float]], y: Mapping[str, Sequence[float]],
                               reps: int = 2000, conf: float = 0.95, seed: int = 0) -> tuple[float, float, float]:
    """P(X > Y) (Agarwal et al. 2021, rliable): the probability that a random run of algorithm X beats a
    random run of Y on a task (ties count half), averaged over the tasks both have.

    ``x`` and ``y`` map each task to its per-seed scores. The interval is a stratified percentile
    bootstrap: each replicate resamples X's and Y's runs independently within every task.
    """
    _check_conf(conf)
    tasks = [t for t in x if t in y]
    pairs = []
    for t in tasks:
        a, b = (np.asarray(v, dtype=np.float64).ravel() for v in (x[t], y[t]))
        a, b = a[np.isfinite(a)], b[np.isfinite(b)]
        if a.size and b.size:
            pairs.append((a, b))
    if not pairs:
        return (float("nan"),) * 3
    point = float(np.mean([_pairwise_win_rate(a, b) for a, b in pairs]))
    rng = np.random.default_rng(seed)
    samples = np.mean([_pairwise_win_rate(a[rng.integers(0, a.size, size=(reps, a.size))],
                                          b[rng.integers(0, b.size, size=(reps, b.size))]) for a, b in pairs], axis=0)
    lo, hi = np.quantile(samples, [(1 - conf) / 2, (1 + conf) / 2])
    return point, float(lo), float(hi)
