"""Percentiles, summaries and the bootstrap checked against numpy on random data."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from cvbench.measure.latency import percentiles_ms
from cvbench.stats import bootstrap_ci, instability, summarize

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
