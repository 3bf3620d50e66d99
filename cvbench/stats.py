"""Statistics over repetitions: median, MAD, IQR, bootstrap CIs, pyperf's instability rule,
and the two-sample tests the regression gate uses (Mann-Whitney U, bootstrap ratio CI)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

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


def bootstrap_ci(
    values: Sequence[float], confidence: float = 0.95, resamples: int = 2000, seed: int = 0
) -> tuple[float, float] | None:
    """Percentile bootstrap CI of the median; None with fewer than two values."""
    arr = np.asarray(values, dtype=np.float64)
    if arr.size < 2:
        return None
    resamples = _budget(resamples, arr.size)
    rng = np.random.default_rng(seed)
    medians = np.median(rng.choice(arr, size=(resamples, arr.size), replace=True), axis=1)
    alpha = (1 - confidence) / 2
    lo, hi = np.percentile(medians, [100 * alpha, 100 * (1 - alpha)])
    return float(lo), float(hi)


# --- Mann-Whitney U ---------------------------------------------------------------------------


@dataclass(frozen=True)
class MannWhitney:
    u: float  # U of the first sample: pairs (x, y) with x > y, ties counting one half
    p: float  # two-sided
    method: str  # "exact" (permutation distribution, ties kept) or "normal"


def _midranks(values: np.ndarray) -> np.ndarray:
    order = np.argsort(values, kind="mergesort")
    ranks = np.empty(values.size, dtype=np.float64)
    sorted_vals = values[order]
    i = 0
    while i < values.size:
        j = i
        while j + 1 < values.size and sorted_vals[j + 1] == sorted_vals[i]:
            j += 1
        ranks[order[i : j + 1]] = (i + j) / 2 + 1
        i = j + 1
    return ranks


def _exact_p(ranks: np.ndarray, n1: int, observed_sum: float) -> float:
    """Two-sided p from the exact permutation distribution of sample 1's rank sum.

    Ranks are doubled so midranks become integers; a knapsack over "choose n1 of N" counts
    every subset by its rank sum (O(N * n1) vector steps), which handles ties exactly.
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
    obs = round(observed_sum * 2)
    lower = dist[: obs + 1].sum() / total
    upper = dist[obs:].sum() / total
    return float(min(1.0, 2 * min(lower, upper)))


def _normal_p(ranks: np.ndarray, n1: int, n2: int, u: float) -> float:
    """Normal approximation with tie correction and a 0.5 continuity correction."""
    n = n1 + n2
    _, tie_counts = np.unique(ranks, return_counts=True)
    tie_term = float(((tie_counts**3) - tie_counts).sum())
    var = n1 * n2 / 12 * ((n + 1) - tie_term / (n * (n - 1)))
    if var <= 0:
        return 1.0  # every value equal: no evidence of any difference
    z = (abs(u - n1 * n2 / 2) - 0.5) / math.sqrt(var)
    return float(min(1.0, math.erfc(max(z, 0.0) / math.sqrt(2))))


def mann_whitney_u(x: Sequence[float], y: Sequence[float], method: str = "auto") -> MannWhitney:
    """Two-sided Mann-Whitney U test (scipy is not a dependency, so it lives here).

    ``auto`` is exact up to 60 values in total (the small-n case CI jobs have, where the
    normal approximation is poor), the normal approximation beyond.
    """
    a = np.asarray(x, dtype=np.float64)
    b = np.asarray(y, dtype=np.float64)
    n1, n2 = a.size, b.size
    if n1 == 0 or n2 == 0:
        raise ValueError("mann_whitney_u needs at least one value in each sample")
    ranks = _midranks(np.concatenate([a, b]))
    rank_sum = float(ranks[:n1].sum())
    u = rank_sum - n1 * (n1 + 1) / 2
    if method == "auto":
        method = "exact" if n1 + n2 <= 60 else "normal"
    if method == "exact":
        p = _exact_p(ranks, n1, rank_sum)
    elif method == "normal":
        p = _normal_p(ranks, n1, n2, u)
    else:
        raise ValueError(f"method must be auto, exact or normal, not {method!r}")
    return MannWhitney(u=u, p=p, method=method)


# --- bootstrap -------------------------------------------------------------------------------


def ratio(cur: np.ndarray | float, base: np.ndarray | float) -> np.ndarray:
    """current / base with 0/0 = 1 (no change) and x/0 = inf."""
    cur_a, base_a = np.asarray(cur, dtype=np.float64), np.asarray(base, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        out = cur_a / base_a
    return np.where((cur_a == 0) & (base_a == 0), 1.0, out)


def bootstrap_ratio_ci(
    base: Sequence[float],
    current: Sequence[float],
    confidence: float = 0.95,
    resamples: int = 4000,
    seed: int = 0,
) -> tuple[float, float]:
    """Percentile bootstrap CI of median(current) / median(base), each side resampled alone.

    Seeded, so a CI job gives the same verdict for the same files. Large samples get fewer
    resamples (at least 500), so the work stays bounded (BOOTSTRAP_CELLS) for any file size.
    """
    rng = np.random.default_rng(seed)
    b = np.asarray(base, dtype=np.float64)
    c = np.asarray(current, dtype=np.float64)
    resamples = _budget(resamples, max(b.size, c.size))
    mb = np.median(rng.choice(b, size=(resamples, b.size)), axis=1)
    mc = np.median(rng.choice(c, size=(resamples, c.size)), axis=1)
    ratios = np.sort(ratio(mc, mb))
    tail = (1 - confidence) / 2
    # Order statistics, not interpolation: well defined even when some ratios are infinite.
    lo = ratios[int(math.floor(tail * (resamples - 1)))]
    hi = ratios[int(math.ceil((1 - tail) * (resamples - 1)))]
    return float(lo), float(hi)
