"""Percentiles, summaries and the bootstrap checked against numpy on random data; the
Mann-Whitney U test against known values and brute-force permutations."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cvbench.measure.latency import percentiles_ms
from cvbench.stats import (
    bootstrap_ci,
    bootstrap_ratio_ci,
    instability,
    mann_whitney_u,
    summarize,
)

values = st.lists(st.floats(0, 1e6, allow_nan=False), min_size=1, max_size=200)
ns_values = st.lists(st.integers(0, 10**12), min_size=1, max_size=300)


@given(ns_values)
def test_percentiles_match_numpy(xs):
    got = percentiles_ms(xs)
    arr = np.asarray(xs, dtype=np.float64)
    for key, q in (("p50", 50), ("p90", 90), ("p99", 99), ("p999", 99.9)):
        assert np.isclose(got[key], np.percentile(arr, q) / 1e6)
    assert got["max"] == arr.max() / 1e6
    assert got["p50"] <= got["p90"] <= got["p99"] <= got["p999"] <= got["max"]


@given(values)
def test_summary_matches_numpy(xs):
    s = summarize(xs)
    arr = np.asarray(xs)
    assert np.isclose(s.median, np.median(arr))
    assert np.isclose(s.mad, np.median(np.abs(arr - np.median(arr))))
    assert np.isclose(s.iqr, np.subtract(*np.percentile(arr, [75, 25])))
    assert s.min <= s.q1 <= s.median <= s.q3 <= s.max


@settings(max_examples=50, deadline=None)
@given(st.lists(st.floats(1, 1e4, allow_nan=False), min_size=2, max_size=30), st.integers(0, 99))
def test_bootstrap_ci_brackets_the_median(xs, seed):
    lo, hi = bootstrap_ci(xs, seed=seed)
    assert min(xs) <= lo <= hi <= max(xs)
    assert bootstrap_ci(xs, seed=seed) == (lo, hi)  # reproducible


def test_bootstrap_ci_covers_true_median_most_of_the_time():
    """Coverage of a 95 % CI on normal samples of 15: well above chance, below certainty."""
    rng = np.random.default_rng(1)
    hits = 0
    for i in range(200):
        lo, hi = bootstrap_ci(rng.normal(100, 10, 15), resamples=500, seed=i)
        hits += lo <= 100 <= hi
    assert 0.85 <= hits / 200 <= 1.0


def test_instability_rules():
    assert instability(np.array([1.0, 1.01, 0.99, 1.0])) is None
    assert "std" in instability(np.array([1.0, 1.5, 0.7, 1.2]))
    assert instability(np.array([5.0])) is None
    many = np.array([1.0] * 400 + [2.6])  # one far outlier: std small, max far from the mean
    assert "min/max" in instability(many)


# --- Mann-Whitney U against known values -------------------------------------------------------


def test_mann_whitney_textbook_values():
    # complete separation: exact p is 2 / C(n1 + n2, n1)
    r = mann_whitney_u([1, 2, 3], [4, 5, 6])
    assert (r.u, r.method) == (0.0, "exact") and r.p == pytest.approx(0.1)
    assert mann_whitney_u([6, 7, 8, 9, 10], [1, 2, 3, 4, 5]).p == pytest.approx(2 / 252)
    assert mann_whitney_u([6, 7, 8, 9, 10], [1, 2, 3, 4, 5]).u == 25
    # scipy.stats.mannwhitneyu documentation example (males vs females)
    males, females = [19, 22, 16, 29, 24], [20, 11, 17, 12]
    assert mann_whitney_u(males, females).u == 17
    assert mann_whitney_u(males, females).p == pytest.approx(0.1111111111111111, rel=1e-12)
    normal = mann_whitney_u(males, females, method="normal")
    assert normal.p == pytest.approx(0.11134688653314041, rel=1e-9)
    # with ties: scipy method="asymptotic" (tie-corrected, continuity) gives 0.0047933487;
    # the exact conditional permutation p is 16/3960 (all C(15, 7) splits enumerated)
    x, y = [1, 2, 2, 3, 3, 3, 4], [3, 4, 4, 5, 5, 6, 7, 7]
    assert mann_whitney_u(x, y, "normal").p == pytest.approx(0.004793348746185457, rel=1e-9)
    assert mann_whitney_u(x, y).u == 3.5
    assert mann_whitney_u(x, y).p == pytest.approx(0.00404040404040404, rel=1e-12)
    # all values equal: no evidence at all
    assert mann_whitney_u([1, 1, 1], [1, 1]).p == 1.0
    assert mann_whitney_u([1, 1, 1], [1, 1], "normal").p == 1.0


def _brute_force_p(x: list[int], y: list[int]) -> float:
    allv = np.asarray(x + y, dtype=float)
    ranks = np.array([(allv < v).sum() + ((allv == v).sum() + 1) / 2 for v in allv])
    obs = ranks[: len(x)].sum()
    sums = np.array(
        [ranks[list(c)].sum() for c in itertools.combinations(range(allv.size), len(x))]
    )
    return min(1.0, 2 * min((sums <= obs + 1e-9).mean(), (sums >= obs - 1e-9).mean()))


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.integers(0, 6), min_size=1, max_size=6),
    st.lists(st.integers(0, 6), min_size=1, max_size=6),
)
def test_exact_p_equals_brute_force_permutation(x, y):
    r = mann_whitney_u(x, y, "exact")
    assert r.p == pytest.approx(_brute_force_p(x, y), abs=1e-12)
    assert r.u + mann_whitney_u(y, x).u == len(x) * len(y)
    assert mann_whitney_u(y, x, "exact").p == pytest.approx(r.p, abs=1e-12)
    assert 0 <= mann_whitney_u(x, y, "normal").p <= 1


def test_normal_and_exact_agree_for_larger_samples():
    rng = np.random.default_rng(5)
    x, y = rng.normal(0, 1, 25), rng.normal(0.6, 1, 30)
    assert mann_whitney_u(x, y, "exact").p == pytest.approx(
        mann_whitney_u(x, y, "normal").p, rel=0.05
    )
    assert mann_whitney_u(rng.normal(size=40), rng.normal(size=40)).method == "normal"


def test_bootstrap_ratio_ci_brackets_the_ratio():
    base, cur = [1.0, 1.01, 0.99], [1.25, 1.26, 1.24]
    lo, hi = bootstrap_ratio_ci(base, cur)
    assert 1.24 / 1.01 <= lo <= 1.25 <= hi <= 1.26 / 0.99
    assert bootstrap_ratio_ci(base, cur) == (lo, hi)  # seeded: same files, same verdict
