"""Statistics over repetitions: median, MAD, IQR, bootstrap CI, and pyperf's instability rule."""

from __future__ import annotations

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


def bootstrap_ci(
    values: Sequence[float], confidence: float = 0.95, resamples: int = 2000, seed: int = 0
) -> tuple[float, float] | None:
    """Percentile bootstrap CI of the median; None with fewer than two values."""
    arr = np.asarray(values, dtype=np.float64)
    if arr.size < 2:
        return None
    rng = np.random.default_rng(seed)
    medians = np.median(rng.choice(arr, size=(resamples, arr.size), replace=True), axis=1)
    alpha = (1 - confidence) / 2
    lo, hi = np.percentile(medians, [100 * alpha, 100 * (1 - alpha)])
    return float(lo), float(hi)
