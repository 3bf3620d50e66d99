"""The simulator's decoupled-cores fast path (emulated_kernel/sim/steady.py) changes no result.

The golden hashes in test_sim.py record segments or check invariants, which need the
global event order, so they never take this path: these tests compare the two paths directly.
"""

from __future__ import annotations

import math
import random
from array import array

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import cvbench.emulated_kernel.sim.data as sim_data
import cvbench.emulated_kernel.sim.engine as sim_mod
from cvbench.emulated_kernel.sim import PoolSpec, TaskSpec, simulate

MS = 1_000_000


def _same(a, b):
    da, db = a.to_dict(), b.to_dict()
    for d in (da, db):
        d.pop("wall_s")
        d.pop("events_per_s")
    assert da == db


@pytest.fixture
def fast_path_calls(monkeypatch):
    """Counts the times a run took the fast path (so a test cannot pass vacuously)."""
    calls = []
    real = sim_mod.run_cores_to_end

    def spy(checks, *args):
        calls.append(len(checks))
        return real(checks, *args)

    monkeypatch.setattr(sim_mod, "run_cores_to_end", spy)
    return calls


@pytest.mark.parametrize("pol", ["rr", "cfs", "eevdf"])
def test_endless_many_cores_fast_equals_slow(pol, fast_path_calls):
    specs = [TaskSpec([math.inf], nice=i % 7 - 3) for i in range(300)]
    kw = {"duration_ns": 300 * MS, "ctx_switch_ns": 2000}
    _same(simulate(specs, 32, pol, **kw), simulate(specs, 32, pol, fast_forward=False, **kw))
    assert fast_path_calls == [32]


@settings(max_examples=40, deadline=None)
@given(
    st.integers(1, 6),
    st.lists(
        st.tuples(
            st.sampled_from([math.inf, 3 * MS, 40 * MS, 900 * MS]),  # finite, or outlasting
            st.integers(-5, 10),  # nice
            st.integers(0, 50),  # arrival ms
            st.sampled_from([None, 0, 1]),  # affinity: every core, core 0, cores 0-1
        ),
        min_size=1,
        max_size=14,
    ),
    st.sampled_from(["rr", "cfs", "eevdf", "fifo"]),
    st.sampled_from([0, 3000]),
)
def test_random_runs_fast_equals_slow(cores, raw, pol, cs):
    masks = {None: None, 0: frozenset({0}), 1: frozenset({0, 1})}
    specs = [TaskSpec([b], nice=n, arrival_ns=a * MS, affinity=masks[m]) for b, n, a, m in raw]
    pools = [PoolSpec([(MS, 700 * MS)] * 3, 2)]
    kw = {"duration_ns": 400 * MS, "ctx_switch_ns": cs, "pools": pools}
    _same(simulate(specs, cores, pol, **kw), simulate(specs, cores, pol, fast_forward=False, **kw))


def test_finite_work_never_takes_the_fast_path(fast_path_calls):
    simulate([TaskSpec([10 * MS]) for _ in range(50)], 4, "eevdf")
    simulate([TaskSpec([2 * MS] * 20, ios=[MS] * 19) for _ in range(20)], 4, "eevdf",
             duration_ns=10_000 * MS)  # fmt: skip
    assert fast_path_calls == []


def test_chunked_percentiles_equal_sorted(monkeypatch):
    monkeypatch.setattr(sim_data, "_CHUNK", 100)
    rng = random.Random(7)
    for n in (101, 250, 1000, 1001):
        vals = [rng.choice([rng.randint(0, 10**12), rng.randint(0, 5), 7]) for _ in range(n)]
        assert sim_data.percentiles(array("q", vals)) == sim_data.percentiles(list(vals))
