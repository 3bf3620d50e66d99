"""Statistics over repetitions: median, MAD, IQR, bootstrap CIs, pyperf's instability rule,
and the two-sample tests the regression gate uses (Mann-Whitney U, bootstrap ratio CI).

The tests and the bootstrap are scipy.stats', imported inside the functions: scipy.stats takes
~0.45 s to import, and most commands (and every worker process) never need it."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass(frozen=True)
class Summary:
    n: int
    median: float
    mad: float  # median absolute deviation (unscaled)
    q1: float
    q3: float
    mean: float
    std: float
    min: float
    max: float
    unstable: str | None  # why the values are too noisy to trust, or None

    @property
    def iqr(self) -> float:
        return self.q3 - self.q1


def instability(values: np.ndarray) -> str | None:
    """pyperf's warnings: std >= 10 % of the mean, or min/max >= 50 % away from the mean."""
    if values.size < 2:
        return None
    mean = float(values.mean())
    if mean == 0:
        return None
    std = float(values.std(ddof=1))
    if std >= 0.10 * abs(mean):
        return f"std is {std / abs(mean):.0%} of the mean"
    worst = max(abs(values.min() - mean), abs(values.max() - mean)) / abs(mean)
    if worst >= 0.5:
        return f"min/max is {worst:.0%} from the mean"
    return None


def summarize(values: Sequence[float]) -> Summary | None:
    arr = np.asarray([v for v in values if v is not None], dtype=np.float64)
    if arr.size == 0:
        return None
    med = float(np.median(arr))
    q1, q3 = (float(q) for q in np.percentile(arr, [25, 75]))
    return Summary(
        n=int(arr.size),
        median=med,
        mad=float(np.median(np.abs(arr - med))),
        q1=q1,
        q3=q3,
        mean=float(arr.mean()),
        std=float(arr.std(ddof=1)) if arr.size > 1 else 0.0,
        min=float(arr.min()),
        max=float(arr.max()),
        unstable=instability(arr),
    )


BOOTSTRAP_CELLS = 1_000_000  # resamples x sample size, per bootstrap


def _budget(resamples: int, n: int) -> int:
    return max(300, min(resamples, BOOTSTRAP_CELLS // max(n, 1)))


def relative_ci_halfwidth(values: Sequence[float], confidence: float = 0.95) -> float:
    """Half the width of the bootstrap CI of the median, relative to the median (inf if < 2)."""
    ci = bootstrap_ci(values, confidence)
    med = float(np.median(values)) if len(values) else 0.0
    if ci is None or med == 0:
        return math.inf
    return (ci[1] - ci[0]) / 2 / abs(med)


def _resampled(
    samples: tuple[np.ndarray, ...], statistic: Callable[..., Any], resamples: int, seed: int
) -> np.ndarray:
    """The statistic over ``resamples`` bootstrap resamples (each sample resampled alone),
    drawn by scipy.stats.bootstrap. The bounds are taken here, not from scipy's interval:
    its interpolated percentiles can step past the largest resampled value (measured:
    [1, 2101.124727357406] gave 2101.1247273574063) and turn into NaN (inf - inf) when some
    ratios are infinite (a base median of 0)."""
    from scipy import stats  # ~0.45 s to import: only when a CI is wanted

    with np.errstate(invalid="ignore"):
        res = stats.bootstrap(
            samples,
            statistic,
            n_resamples=resamples,
            method="percentile",
            vectorized=True,
            rng=np.random.default_rng(seed),
        )
    return np.asarray(res.bootstrap_distribution)


def bootstrap_ci(
    values: Sequence[float], confidence: float = 0.95, resamples: int = 2000, seed: int = 0
) -> tuple[float, float] | None:
    """Percentile bootstrap CI of the median; None with fewer than two values."""
    arr = np.asarray(values, dtype=np.float64)
    if arr.size < 2:
        return None
    medians = _resampled((arr,), np.median, _budget(resamples, arr.size), seed)
    alpha = (1 - confidence) / 2
    lo, hi = np.percentile(medians, [100 * alpha, 100 * (1 - alpha)])
    return float(lo), float(hi)


# --- Mann-Whitney U ---------------------------------------------------------------------------


@dataclass(frozen=True)
class MannWhitney:
    u: float  # U of the first sample: pairs (x, y) with x > y, ties counting one half
    p: float  # two-sided
    method: str  # "exact" (permutation distribution, ties kept) or "normal"


def _exact_p_with_ties(ranks: np.ndarray, n1: int) -> float:
    """Two-sided p from the exact permutation distribution of sample 1's (mid)rank sum.

    Hand-written because scipy has no fast exact test with ties (measured, scipy 1.17):
    ``mannwhitneyu(method="exact")`` uses the no-ties distribution (0.00373 where the exact
    conditional p is 0.00404 on the tied textbook case in tests), and ``PermutationMethod``
    enumerates every split (2.2 s at 10 + 10 values, 30 s at 12 + 12; here ~2 ms at 30 + 30).
    Ties are common in the gate's integer metrics (context switches) and 6-digit CSV values.

    Ranks are doubled so midranks become integers; a knapsack over "choose n1 of N" counts
    every subset by its rank sum (O(N * n1) vector steps).
    """
    doubled = np.rint(ranks * 2).astype(np.int64)
    top = int(doubled.sum())
    counts = np.zeros((n1 + 1, top + 1), dtype=np.float64)
    counts[0, 0] = 1.0
    for r in doubled:
        for k in range(n1, 0, -1):
            counts[k, r:] += counts[k - 1, : top + 1 - r]
    dist = counts[n1]
    total = dist.sum()
    obs = int(doubled[:n1].sum())
    lower = dist[: obs + 1].sum() / total
    upper = dist[obs:].sum() / total
    return float(min(1.0, 2 * min(lower, upper)))


def mann_whitney_u(x: Sequence[float], y: Sequence[float], method: str = "auto") -> MannWhitney:
    """Two-sided Mann-Whitney U test (scipy.stats.mannwhitneyu).

    ``auto`` is exact up to 60 values in total (the small-n case CI jobs have, where the
    normal approximation is poor), the normal approximation beyond. ``normal`` is scipy's
    ``asymptotic`` (tie-corrected, continuity-corrected); ``exact`` is scipy's where there
    are no ties and the exact conditional distribution (``_exact_p_with_ties``) where there are.
    """
    from scipy import stats  # ~0.45 s to import: only when a test is run

    a = np.asarray(x, dtype=np.float64)
    b = np.asarray(y, dtype=np.float64)
    if a.size == 0 or b.size == 0:
        raise ValueError("mann_whitney_u needs at least one value in each sample")
    if method == "auto":
        method = "exact" if a.size + b.size <= 60 else "normal"
    if method not in ("exact", "normal"):
        raise ValueError(f"method must be auto, exact or normal, not {method!r}")
    both = np.concatenate([a, b])
    if np.unique(both).size == 1:
        # every value tied: no evidence of a difference. scipy 1.17 says p = 1, 1.18 says nan
        # (a zero variance) -- pinned here so the gate does not depend on scipy's version
        return MannWhitney(u=a.size * b.size / 2, p=1.0, method=method)
    res = stats.mannwhitneyu(a, b, method="exact" if method == "exact" else "asymptotic")
    p = float(res.pvalue)
    if method == "exact" and np.unique(both).size < both.size:
        p = _exact_p_with_ties(stats.rankdata(both), a.size)
    return MannWhitney(u=float(res.statistic), p=p, method=method)


# --- bootstrap -------------------------------------------------------------------------------


def ratio(cur: np.ndarray | float, base: np.ndarray | float) -> np.ndarray:
    """current / base with 0/0 = 1 (no change) and x/0 = inf."""
    cur_a, base_a = np.asarray(cur, dtype=np.float64), np.asarray(base, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        out = cur_a / base_a
    return np.where((cur_a == 0) & (base_a == 0), 1.0, out)


def _median_ratio(base: np.ndarray, cur: np.ndarray, axis: int = -1) -> np.ndarray:
    return ratio(np.median(cur, axis=axis), np.median(base, axis=axis))


def bootstrap_ratio_ci(
    base: Sequence[float],
    current: Sequence[float],
    confidence: float = 0.95,
    resamples: int = 4000,
    seed: int = 0,
) -> tuple[float, float]:
    """Percentile bootstrap CI of median(current) / median(base), each side resampled alone.

    Seeded, so a CI job gives the same verdict for the same files. Large samples get fewer
    resamples (at least 300), so the work stays bounded (BOOTSTRAP_CELLS) for any file size.
    Order statistics, not interpolation: well defined even when some ratios are infinite.
    """
    b = np.asarray(base, dtype=np.float64)
    c = np.asarray(current, dtype=np.float64)
    resamples = _budget(resamples, max(b.size, c.size))
    ratios = np.sort(_resampled((b, c), _median_ratio, resamples, seed))
    tail = (1 - confidence) / 2
    lo = ratios[int(math.floor(tail * (resamples - 1)))]
    hi = ratios[int(math.ceil((1 - tail) * (resamples - 1)))]
    return float(lo), float(hi)
