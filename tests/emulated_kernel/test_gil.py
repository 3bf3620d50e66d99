"""The GIL and transfer model (emulated_kernel/predict/gil.py, pool_models.py): checks that can
fail.

Every number here is a deterministic simulation; the whole file runs in a few seconds.
"""

from __future__ import annotations

import itertools

import pytest

from cvbench.emulated_kernel.predict.costs import ItemCost, MachineCosts
from cvbench.emulated_kernel.predict.gil import Gil, Io, Py, Thread
from cvbench.emulated_kernel.predict.pool_models import GIL_MODELS, MODELS, predict_model
from cvbench.emulated_kernel.predict.trace import TraceError, parse_trace, predict_processes
from cvbench.emulated_kernel.sim import ProgramSpec, simulate

MS = 1_000_000


def _seq(items):
    return sum(it.io_s + it.service_s for it in items)


# ---------------------------------------------------------------------- threads vs processes
@pytest.mark.parametrize("n", [1, 2, 4, 8])
def test_gil_free_threads_scale_n_times_and_equal_processes_without_transfer(n):
    items = [ItemCost(gil_s=0.0, released_s=0.010)] * 32
    thr = predict_model("threads", items, None, n, n)
    proc = predict_model("processes", items, None, n, n)
    assert thr.makespan_s == proc.makespan_s
    assert _seq(items) / thr.makespan_s == pytest.approx(n, rel=1e-6)
    assert thr.gil_busy == 0.0


@pytest.mark.parametrize("cores", [1, 2, 8, 64])
def test_pure_python_threads_never_beat_one_thread(cores):
    items = [ItemCost(gil_s=0.003)] * 40
    p = predict_model("threads", items, None, cores, cores)
    assert p.makespan_s >= _seq(items) - 1e-12
    assert p.gil_busy == pytest.approx(1.0, abs=1e-3)
    if cores > 1:
        assert p.bottleneck == "GIL"


def test_threads_stop_at_the_released_fraction():
    # 20 % of every item holds the GIL: no thread count gets past 1 / 0.2 = 5x
    items = [ItemCost(gil_s=0.002, released_s=0.008)] * 200
    speedups = [
        _seq(items) / predict_model("threads", items, None, c, c).makespan_s
        for c in (1, 2, 4, 8, 64)
    ]
    assert speedups[0] == pytest.approx(1.0)
    assert speedups[2] > 3.5  # 4 threads: still mostly parallel
    assert all(s <= 5.0 + 1e-9 for s in speedups)
    assert speedups[-1] == pytest.approx(5.0, rel=0.01)


# --------------------------------------------------------------------------- the GIL itself
def _two_threads(interval_ns, cores):
    """A holds the GIL in pure Python for 100 ms; B wakes at 1 ms and wants it for 0.5 ms."""
    gil = Gil(interval_ns)

    def a():
        yield Py(100 * MS)

    def b():
        yield Io(1 * MS)
        yield Py(MS // 2)

    ta, tb = Thread(a(), gil), Thread(b(), gil)
    res = simulate([], cores, "eevdf", programs=[ProgramSpec(ta, name="a"), ProgramSpec(tb)])
    return gil, res


@pytest.mark.parametrize("cores", [1, 2])
@pytest.mark.parametrize("interval_ms", [5, 1])
def test_switch_interval_bounds_the_wait_for_a_pure_python_holder(cores, interval_ms):
    gil, res = _two_threads(interval_ms * MS, cores)
    assert gil.forced == 1  # one drop request, then B's 0.5 ms and A gets it back
    assert gil.wait_max_ns <= interval_ms * MS  # B waited one interval, not A's 100 ms
    assert res.tasks[1].finish_ns == (1 + interval_ms) * MS + MS // 2
    assert res.tasks[0].finish_ns == 100 * MS + MS // 2  # A lost B's 0.5 ms, not more


def test_released_gil_is_handed_to_the_waiter_at_once():
    gil = Gil()
    from cvbench.emulated_kernel.predict.gil import Cpu

    def a():
        yield Py(2 * MS)
        yield Cpu(10 * MS)  # enters cv2: releases

    def b():
        yield Io(1 * MS)
        yield Py(3 * MS)

    res = simulate([], 2, "eevdf", programs=[ProgramSpec(Thread(a(), gil)),
                                             ProgramSpec(Thread(b(), gil))])  # fmt: skip
    assert gil.forced == 0 and gil.handoffs == 1
    assert gil.wait_max_ns == 1 * MS  # waited from 1 ms to A's release at 2 ms
    assert res.tasks[1].finish_ns == 5 * MS


# ------------------------------------------------------------------------------ transfer
def test_transfer_makes_processes_slower_than_sequential():
    # 1 ms of work, 1 MB each way at 2 ns/byte per side: 2 ms to send, 2 ms to receive
    items = [ItemCost(gil_s=0.0002, released_s=0.0008, bytes_in=1_000_000)] * 50
    costs = MachineCosts(pickle_pipe_s_per_byte=2e-9, round_trip_s=100e-6)
    for w, c in ((1, 2), (2, 2), (4, 4)):
        p = predict_model("processes", items, costs, w, c)
        assert p.makespan_s > _seq(items)
    assert p.bottleneck == "parent"  # 4 workers: the parent's 2 ms of pickling per item
    # the same items through shared memory: only the round trip is left
    shm = predict_model("processes+shm", items, costs, 2, 2)
    assert shm.makespan_s < _seq(items)
    # and threads do not pickle at all
    assert predict_model("threads", items, costs, 2, 2).makespan_s < _seq(items)


def test_from_round_trips():
    c = MachineCosts.from_round_trips(100, 102e-6, 1_000_100, 2.102e-3, offload_s=5e-5)
    assert c.pickle_pipe_s_per_byte == pytest.approx(1e-9)
    assert c.round_trip_s == pytest.approx(100e-6 + 2e-6 - 200e-9)
    assert c.offload_s == 5e-5
    with pytest.raises(ValueError):
        MachineCosts.from_round_trips(10, 1.0, 10, 2.0)


def test_processes_without_costs_equal_the_pool_replay():
    """The process model with free transfer is exactly trace.predict_processes (the old path)."""
    services = [0.004, 0.011, 0.002, 0.007, 0.009, 0.001, 0.013, 0.006] * 4
    ios = [0.0, 0.003, 0.0, 0.0, 0.005, 0.0, 0.001, 0.0] * 4
    raw = [{"service_s": s, "io_s": i} for s, i in zip(services, ios, strict=True)]
    doc = {"schema": 1, "workload": "w", "workers": 1, "items": raw}
    tr = parse_trace(doc)
    items = tr.item_costs("processes")
    for pol in ("eevdf", "cfs", "fifo"):
        for w, c in ((1, 1), (2, 2), (3, 2), (4, 8)):
            new = predict_model("processes", items, None, w, c, pol)
            old = predict_processes(tr, w, c, pol)
            assert new.makespan_s == old.makespan_s, (pol, w, c)


# ----------------------------------------------------------------- offload, inline, shape
def test_offload_cost_is_paid_on_the_loop():
    items = [ItemCost(gil_s=0.0, released_s=0.001)] * 100
    costs = MachineCosts(offload_s=0.0005)
    thr = predict_model("threads", items, costs, 8, 8)
    off = predict_model("asyncio+threads", items, costs, 8, 8)
    # the loop holds the GIL 0.5 ms per item: 100 items need >= 50 ms whatever the workers
    assert off.makespan_s >= 100 * 0.0005 - 1e-12
    assert off.makespan_s > thr.makespan_s
    proc = predict_model("asyncio+processes", items, costs, 8, 8)
    assert proc.makespan_s >= 100 * 0.0005 - 1e-12


def test_inline_models_sum_everything():
    items = [ItemCost(gil_s=0.001, released_s=0.002, io_s=0.0005)] * 10
    costs = MachineCosts(switch_s=0.0001)
    assert predict_model("sequential", items, costs, 4, 4).makespan_s == pytest.approx(0.035)
    p = predict_model("asyncio", items, costs, 4, 4)
    assert p.makespan_s == pytest.approx(0.036)
    assert p.bottleneck == "one thread" and p.notes


@pytest.mark.parametrize("model", ["threads", "processes", "asyncio+threads", "processes+shm"])
def test_more_cores_never_hurt(model):
    items = [ItemCost(gil_s=0.0004 * (i % 3), released_s=0.002 + 0.001 * (i % 5),
                      io_s=0.0005 * (i % 2), bytes_in=50_000, bytes_out=100)
             for i in range(60)]  # fmt: skip
    costs = MachineCosts(pickle_pipe_s_per_byte=1e-9, round_trip_s=50e-6, offload_s=20e-6)
    spans = [predict_model(model, items, costs, 8, c).makespan_s for c in (1, 2, 4, 8, 16)]
    assert all(b <= a + 1e-12 for a, b in itertools.pairwise(spans)), spans
    # and more workers on as many cores: throughput never falls
    thr = [predict_model(model, items, costs, c, c).throughput_per_s for c in (1, 2, 4, 8)]
    assert all(b >= a - 1e-9 for a, b in itertools.pairwise(thr)), thr


def test_every_model_runs_and_is_deterministic():
    items = [ItemCost(0.0003, 0.0012, 0.0001, 20_000, 64)] * 12
    costs = MachineCosts(1e-9, 80e-6, 30e-6, 10e-6, 5e-6, 128)
    for m in MODELS:
        a = predict_model(m, items, costs, 3, 2)
        b = predict_model(m, items, costs, 3, 2)
        assert a.to_dict() == b.to_dict()
        assert a.makespan_s > 0 and a.to_dict()["predicted"] is True


def test_bad_input():
    items = [ItemCost(0.001)]
    with pytest.raises(ValueError, match="supported"):
        predict_model("kernel-proc", items)
    with pytest.raises(ValueError):
        predict_model("threads", items, workers=0)
    with pytest.raises(ValueError):
        predict_model("threads", [])
    with pytest.raises(ValueError):
        predict_model("threads", [ItemCost(-1.0)])


# --------------------------------------------------------------------------------- traces
def test_trace_without_gil_split_refuses_thread_models_only():
    tr = parse_trace({"schema": 1, "workload": "w", "workers": 1,
                      "items": [{"service_s": 0.01}] * 3})  # fmt: skip
    for m in GIL_MODELS:
        with pytest.raises(TraceError, match="gil_s"):
            tr.item_costs(m)
    assert tr.item_costs("processes")[0].service_s == 0.01
    assert any("bytes" in n for n in tr.notes("processes"))


def test_trace_split_and_costs():
    item = {"service_s": 0.01, "released_s": 0.008, "bytes_in": 10}
    tr = parse_trace({"schema": 1, "workload": "w", "workers": 1, "items": [item] * 2,
                      "costs": {"pickle_pipe_s_per_byte": 1e-9, "offload_s": 4e-5}})  # fmt: skip
    it = tr.item_costs("threads")[0]
    assert it.gil_s == pytest.approx(0.002) and it.released_s == 0.008 and it.bytes_in == 10
    assert tr.costs == MachineCosts(pickle_pipe_s_per_byte=1e-9, offload_s=4e-5)
    assert tr.notes("processes") == []
    for bad in ({"costs": {"typo_s": 1}}, {"costs": []},
                {"items": [{"service_s": 0.01, "gil_s": 0.001}, {"service_s": 0.01}]}):  # fmt: skip
        with pytest.raises(TraceError):
            parse_trace({"schema": 1, "workload": "w", "workers": 1,
                         "items": [{"service_s": 0.01}], **bad})  # fmt: skip


@pytest.mark.parametrize("model", ["threads", "asyncio+threads", "processes", "curio+processes"])
@pytest.mark.parametrize("pol", ["eevdf", "cfs", "rr"])
def test_simulator_invariants_hold_and_every_thread_exits(model, pol):
    """Work conservation and affinity after every event (check=True), with the GIL at play."""
    from cvbench.emulated_kernel.predict import pool_models as pm

    items = [ItemCost(0.0004 * (i % 4), 0.001 + 0.0005 * (i % 3), 0.0005 * (i % 2), 20_000, 16)
             for i in range(24)]  # fmt: skip
    costs = MachineCosts(1e-9, 1e-4, 5e-5, 2e-5, 1e-5, 100, 1e-3)
    threads, _ = pm._build(model, pm._items(items, costs, False), costs, 3)
    res = simulate([], 2, pol, programs=[ProgramSpec(th, name=n) for n, th in threads],
                   check=True, ctx_switch_ns=2000)  # fmt: skip
    assert res.finished == len(res.tasks)
