"""Unit tests of the policies on their own (no simulator): the numbers Linux uses."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cvbench.emulated_kernel.policies import (
    MIGRATE,
    POLICIES,
    PRIO_TO_WEIGHT,
    SLEEP,
    WAKEUP,
    Cfs,
    Eevdf,
    RoundRobin,
    RunQueue,
    SchedEntity,
    cpu_scale,
    make_policy,
    nice_to_weight,
)


def test_weight_table_is_linux():
    assert len(PRIO_TO_WEIGHT) == 40
    assert nice_to_weight(0) == 1024
    assert nice_to_weight(5) == 335
    assert nice_to_weight(-20) == 88761
    assert nice_to_weight(19) == 15
    with pytest.raises(ValueError):
        nice_to_weight(20)


@pytest.mark.parametrize(("n", "f"), [(1, 1), (2, 2), (3, 2), (4, 3), (8, 4), (1024, 4)])
def test_cpu_scale(n, f):
    assert cpu_scale(n) == f


def test_defaults_scale_with_cpus():
    assert Eevdf(2).base_slice_ns == 1_500_000
    c = Cfs(8)
    assert (c.latency_ns, c.min_gran_ns) == (24_000_000, 3_000_000)
    assert RoundRobin(1, slice_ns=5).new_rq(0).quantum == 5


def test_every_policy_makes_its_own_run_queue():
    for name in POLICIES:
        policy = make_policy(name, 2)
        assert type(policy.new_rq(1)) is policy.rq_class
        assert policy.new_rq(1).cpu == 1


def test_a_run_queue_missing_a_decision_fails_when_made():
    class NoPick(RunQueue):  # enqueue, dequeue, put_prev, queued ... but no pick_next
        def enqueue(self, se, now_ns, flags=WAKEUP):
            pass

        def dequeue(self, se, now_ns, flags=SLEEP):
            pass

        def put_prev(self, se, now_ns):
            pass

        def queued(self):
            return []

    with pytest.raises(TypeError, match="pick_next"):
        NoPick(make_policy("fifo"), 0)


def test_make_policy_rejects_bad_input():
    with pytest.raises(ValueError, match="unknown policy"):
        make_policy("lottery")
    with pytest.raises(ValueError):
        make_policy("rr", slice_ns=0)
    with pytest.raises(ValueError):
        make_policy("eevdf", hz=0)
    with pytest.raises(ValueError):
        SchedEntity(0, allowed=[])


def test_fifo_order_and_no_preemption():
    rq = make_policy("fifo").new_rq(0)
    a, b = SchedEntity(0), SchedEntity(1)
    rq.enqueue(a, 0)
    rq.enqueue(b, 0)
    assert rq.pick_next(0) is a
    rq.account(a, 10**12)
    assert rq.runtime_left(a) is None
    assert not rq.tick(a, 10**12)
    assert not rq.wakeup_preempt(a, b)


def test_rr_quantum_then_tail():
    rq = make_policy("rr", slice_ns=100).new_rq(0)
    a, b = SchedEntity(0), SchedEntity(1)
    rq.enqueue(a, 0)
    rq.enqueue(b, 0)
    assert rq.pick_next(0) is a
    assert rq.runtime_left(a) == 100
    rq.account(a, 100)
    assert rq.tick(a, 100)
    rq.put_prev(a, 100)
    assert rq.pick_next(100) is b
    assert rq.queued() == [a]


def test_cfs_vruntime_is_weighted():
    rq = make_policy("cfs").new_rq(0)
    a, b = SchedEntity(0, nice=0), SchedEntity(1, nice=5)
    rq.enqueue(a, 0)
    rq.enqueue(b, 0)
    assert rq.pick_next(0) is a
    rq.account(a, 335_000)
    rq.put_prev(a, 0)
    assert rq.pick_next(0) is b
    rq.account(b, 335_000)
    assert b.vruntime == 335_000 * 1024 // 335  # runs "faster" in virtual time
    rq.put_prev(b, 0)
    assert rq.pick_next(0) is a  # smallest vruntime first


def test_eevdf_migration_keeps_lag():
    pol = make_policy("eevdf")
    src, dst = pol.new_rq(0), pol.new_rq(1)
    a, b = SchedEntity(0), SchedEntity(1)
    src.enqueue(a, 0)
    src.enqueue(b, 0)
    t = src.pick_next(0)
    src.account(t, 3_000_000)
    src.put_prev(t, 0)
    moved = src.steal(1)  # the next to run: b, owed half of a's 3 ms
    assert moved is b
    assert moved.vlag == 1_500_000
    assert src.nr_queued == 1 and src.load == 1024
    dst.enqueue(moved, 0, MIGRATE)
    assert dst.pick_next(0) is moved


ops = st.lists(
    st.tuples(st.sampled_from(["add", "run", "sleep"]), st.integers(-20, 19),
              st.integers(1, 5_000_000)),
    min_size=1, max_size=60,
)  # fmt: skip


@settings(max_examples=150, deadline=None)
@given(ops)
def test_eevdf_picks_earliest_eligible_deadline(seq):
    """Invariant of pick_eevdf: the pick is eligible (lag >= 0) and no eligible task has an
    earlier deadline; V is the exact weighted average of every runnable vruntime."""
    rq = make_policy("eevdf", 4).new_rq(0)
    tid = 0
    for op, nice, ns in seq:
        if op == "add" or rq.nr_running == 0:
            rq.enqueue(SchedEntity(tid, nice), 0, WAKEUP)
            tid += 1
            continue
        queued = rq.queued()
        load, s = rq.load, rq.sum_wv
        assert load == sum(q.weight for q in queued)
        assert s == sum(q.weight * q.vruntime for q in queued)
        se = rq.pick_next(0)
        assert se.vruntime * load <= s
        for q in queued:
            if q.vruntime * load <= s:
                assert se.deadline <= q.deadline
        rq.account(se, ns)
        rq.tick(se, 0)
        if op == "sleep":
            rq.dequeue(se, 0, SLEEP)
        else:
            rq.put_prev(se, 0)
