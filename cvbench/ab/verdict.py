"""Paired verdicts: did head (B) take longer than base (A) on this cell?

Each round gives one paired log-ratio ``d = log(wall_B / wall_A)``: both sides ran the cell
back to back, so whatever the machine did in that moment it did to both. The verdict comes
from a confidence interval of the centre of the ``d`` (the Hodges-Lehmann estimate, i.e. the
median of the Walsh averages) with the *exact* Wilcoxon signed-rank interval: distribution
free (round times are skewed: a preempted repetition is slow, never fast), exact for the small
n a CI job has, and its coverage does not depend on a bootstrap's luck at n = 6..20.

Sequential stopping, per cell, after every round from ``min_rounds`` on:
- CI wholly inside ``±threshold``  -> **same**   (stop: any change is below what matters)
- CI wholly above ``+threshold``   -> **slower** (stop)
- CI wholly below ``-threshold``   -> **faster** (stop)
- out of rounds or time            -> **inconclusive** (named, never silently "same")
Peeking after every round would inflate a plain test's error rate; here a "slower" stop needs
the whole interval beyond the practical threshold, not merely away from zero, which keeps the
A/A rate far below the nominal 0.5 % per look (tests/test_ab.py checks it on simulated noise).

The threshold is on the ratio: ``slower`` means B/A > 1 + threshold, ``faster`` means
B/A < 1 / (1 + threshold) (symmetric in log space).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

# Default practical threshold: 3 %. Why: the change the A/B job must catch is ~5 % more work
# (issue 19: caught in >= 9 of 10 jobs), so the threshold has to sit clearly below 5 % for a
# 5 % change's interval to clear it within a CI job's budget; and it has to sit above what two
# identical side processes differ by systematically (address-space layout, hash seeds, which
# side's pages are hot: an A/A job here shows medians within about ±1.5 %), or A/A jobs would
# be called "slower" once enough rounds shrink the interval. 3 % is between the two.
DEFAULT_THRESHOLD = 0.03
# 99 %, not 95 %: the interval is looked at after every round (sequential stopping), and a
# job judges ~10 cells, so a per-look 95 % interval let ~9 % of simulated A/A jobs with
# heavy-tailed noise (t3, scale 6 %: a busy shared machine) call some cell slower or faster;
# 99 % from 8 rounds on: ~1 %, while a 5 % change at a quiet machine's noise (scale 2 %) is
# still caught in ~9 of 10 jobs within 30 rounds (simulated; tests/test_ab.py).
DEFAULT_CONFIDENCE = 0.99
MIN_ROUNDS = 8  # the exact signed-rank 99 % interval needs n >= 8 (2/2^8 = 0.8 % < 1 %)

SAME, SLOWER, FASTER, INCONCLUSIVE = "same", "slower", "faster", "inconclusive"
OUTPUT_CHANGED, FAILED, MISSING = "output changed", "failed", "missing"


@functools.lru_cache(maxsize=256)
def _signed_rank_cdf(n: int) -> np.ndarray:
    """P(T+ <= t) for t = 0..n(n+1)/2 under H0 (exact, by counting subsets of ranks)."""
    top = n * (n + 1) // 2
    counts = np.zeros(top + 1, dtype=np.float64)
    counts[0] = 1.0
    for r in range(1, n + 1):
        counts[r:] = counts[r:] + counts[: top + 1 - r].copy()
    return np.cumsum(counts) / counts.sum()


def signed_rank_ci(
    d: Sequence[float], confidence: float = DEFAULT_CONFIDENCE
) -> tuple[float, float, float] | None:
    """(Hodges-Lehmann estimate, low, high): the exact Wilcoxon signed-rank interval of the
    centre of ``d`` (Hollander & Wolfe). None when n is too small for that confidence."""
    x = np.asarray(d, dtype=np.float64)
    n = x.size
    if n < 2:
        return None
    walsh = np.sort((x[:, None] + x[None, :])[np.triu_indices(n)] / 2)
    estimate = float(np.median(walsh))
    if n > 300:  # the normal approximation of the critical value, for very long jobs
        m = n * (n + 1) / 4
        s = math.sqrt(n * (n + 1) * (2 * n + 1) / 24)
        z = _z(confidence)
        k = max(0, int(math.floor(m - z * s - 0.5)))
    else:
        cdf = _signed_rank_cdf(n)
        alpha = (1 - confidence) / 2
        fits = np.nonzero(cdf <= alpha + 1e-12)[0]
        if fits.size == 0:
            return None
        k = int(fits[-1])  # P(T+ <= k) <= alpha: W_(k+1)..W_(M-k), 1-based
    lo, hi = float(walsh[k]), float(walsh[walsh.size - 1 - k])
    return estimate, lo, hi


def _z(confidence: float) -> float:
    from statistics import NormalDist

    return NormalDist().inv_cdf(1 - (1 - confidence) / 2)


@dataclass(frozen=True)
class Verdict:
    verdict: str  # same | slower | faster | inconclusive (| output changed | failed | missing)
    rounds: int
    ratio: float | None = None  # B/A, exp(Hodges-Lehmann estimate of the log-ratios)
    ci: tuple[float, float] | None = None  # B/A
    median_ratio: float | None = None  # exp(median of the log-ratios)
    note: str = ""

    @property
    def final(self) -> bool:
        return self.verdict in (SAME, SLOWER, FASTER)


def judge(
    log_ratios: Sequence[float],
    threshold: float = DEFAULT_THRESHOLD,
    confidence: float = DEFAULT_CONFIDENCE,
    min_rounds: int = MIN_ROUNDS,
) -> Verdict:
    """The verdict the paired log-ratios support so far (INCONCLUSIVE until they decide)."""
    d = [float(v) for v in log_ratios if v is not None and math.isfinite(v)]
    n = len(d)
    median = math.exp(float(np.median(d))) if d else None
    ci = signed_rank_ci(d, confidence) if n >= 2 else None
    if ci is None:
        return Verdict(INCONCLUSIVE, n, median, None, median, f"needs {min_rounds} rounds")
    est, lo, hi = ci
    bound = math.log1p(threshold)
    ratio, ci_ratio = math.exp(est), (math.exp(lo), math.exp(hi))
    verdict = INCONCLUSIVE
    if n >= min_rounds:
        if lo > bound:
            verdict = SLOWER
        elif hi < -bound:
            verdict = FASTER
        elif -bound < lo and hi < bound:
            verdict = SAME
    note = ""
    if verdict == INCONCLUSIVE:
        note = (
            f"needs {min_rounds} rounds"
            if n < min_rounds
            else f"the CI reaches across ±{threshold:.1%}: more rounds (--max-time) "
            "or a quieter machine"
        )
    return Verdict(verdict, n, ratio, ci_ratio, median, note)
