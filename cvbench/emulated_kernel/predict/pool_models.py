"""Predict every pool model from measured per-item costs: the GIL and transfer, simulated.

Why: replaying only the sequential service times (``trace.predict_processes``) predicts a
process pool that pickles for free and says nothing about threads.  Here each model is built
from the threads it really runs -- a ThreadPoolExecutor's workers and submitting thread, a
ProcessPoolExecutor's parent and worker processes, an event loop feeding either -- as
``gil.Thread`` programs on the simulator's cores, so the GIL (one per interpreter), the
pickling on both sides of the pipe and the loop's per-item offload cost are paid where the
real model pays them, and the OS policy (eevdf by default) shares the cores among them.

Units: seconds and bytes in the public dataclasses (and ``costs.py``), integer nanoseconds inside.

What each model pays per item (``c`` = ``pickle_pipe_s_per_byte``, ``rt`` = ``round_trip_s``):

- inline (``sequential`` and the cooperative one-thread models): one thread runs every item
  back to back: ``io_s + gil_s + released_s`` plus ``switch_s`` (not for ``sequential``).
- ``threads``: ``workers`` threads of one interpreter share ONE GIL: ``gil_s`` (half before
  and half after the cv2 call) needs the GIL, ``released_s`` runs in parallel; the submitting
  thread pays ``submit_s`` per item holding the GIL (run_pool submits every item up front).
- ``X+threads`` (asyncio, uvloop, trio, curio, gevent): the same pool fed by an event loop
  thread that keeps one item in flight per worker task and pays ``offload_s`` per item (half
  at the submit, half at the completion) holding the GIL, instead of ``submit_s``.
- ``processes``: one GIL per worker (never contended); the parent (one serialized thread: its
  threads share its GIL) pays ``bytes_in*c + rt/4`` to send an item and ``bytes_out*c + rt/4``
  to receive its result; the worker pays ``bytes_in*c + rt/2`` to receive it and
  ``bytes_out*c`` to send the result back.  At most ``2*workers + 1`` items are out at once
  (ProcessPoolExecutor's call queue holds ``workers + 1``).  With the costs measured in the
  run, the parent's part of the hand-over (``parent_sync_s``) is a rendezvous: a worker that
  takes an item waits while the parent spends it (an 810 KB pickle crosses a 64 KB pipe only
  as fast as both ends copy it), so it does not overlap that worker's compute.
- ``processes+shm``: the same, but the input crosses as a reference of ``shm_ref_bytes``.
- ``X+processes`` (asyncio, trio, curio): processes fed by an event loop: ``workers`` items in
  flight and ``offload_s`` per item on the parent. With the costs measured in the run, the
  loop's hand-over (``parent_sync_s``) comes before each item and the rest of its CPU per
  item overlaps the workers, as for ``X+threads``.

The makespan is when the submitting/parent/loop thread has the last result.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from ..sim import ProgramSpec, SimResult, simulate
from . import dask_model
from .costs import ItemCost, MachineCosts
from .gil import EMPTY, Cpu, Get, Gil, Io, Put, Py, Queue, Thread, TryGet
from .gil import ThreadBody as Body
from .rows import prediction_row

INLINE_MODELS = ("sequential", "asyncio", "uvloop", "trio", "curio", "greenlet", "gevent", "kernel")
THREAD_MODELS = ("threads",)
OFFLOAD_THREAD_MODELS = (
    "asyncio+threads",
    "uvloop+threads",
    "trio+threads",
    "curio+threads",
    "gevent+threads",
)
# processes+zerocopy: predicted from its own measured per-item parent/worker costs (its parent
# hands out no items; without them, the calibration's processes+shm costs are an upper bound)
PROCESS_MODELS = ("processes", "processes+shm", "processes+zerocopy")
OFFLOAD_PROCESS_MODELS = ("asyncio+processes", "trio+processes", "curio+processes")
#: dask.distributed on a LocalCluster of one-thread worker processes (``dask_model``)
DASK_MODELS = ("dask",)
#: every model name predict_model() accepts
MODELS: tuple[str, ...] = (
    INLINE_MODELS
    + THREAD_MODELS
    + OFFLOAD_THREAD_MODELS
    + PROCESS_MODELS
    + OFFLOAD_PROCESS_MODELS
    + DASK_MODELS
)
#: models whose prediction needs the split of the service into gil_s and released_s
GIL_MODELS: tuple[str, ...] = THREAD_MODELS + OFFLOAD_THREAD_MODELS


@dataclass(frozen=True)
class ModelPrediction:
    """The simulator's prediction for one model, worker count and core count.

    ``bottleneck``: what the model waits on -- "GIL" (held >= 90 % of the run), "parent"
    (the process pool's parent busy >= 90 %: transfer), "cores" (>= 90 % utilization),
    "workers" (none of those: too few workers, or I/O), or "one thread" (inline models).
    """

    model: str
    workers: int
    cores: int
    items: int
    policy: str
    makespan_s: float
    throughput_per_s: float
    utilization: float
    gil_busy: float | None  # fraction of the run the (shared) GIL was held
    gil_wait_max_s: float | None  # longest single wait for the GIL
    gil_forced_switches: int | None  # drops requested by the switch interval
    parent_busy: float | None  # fraction of the run a process pool's parent was busy
    bottleneck: str
    notes: tuple[str, ...] = ()
    result: SimResult | None = field(default=None, repr=False, compare=False)

    def to_dict(self) -> dict[str, Any]:
        """A results row (``rows.prediction_row``: predicted=true) plus the policy, the core
        count and the model's diagnostics."""
        return prediction_row(
            self,
            cores=self.cores,
            policy=self.policy,
            utilization=self.utilization,
            gil_busy=self.gil_busy,
            gil_wait_max_s=self.gil_wait_max_s,
            gil_forced_switches=self.gil_forced_switches,
            parent_busy=self.parent_busy,
            bottleneck=self.bottleneck,
            notes=list(self.notes),
        )


# --------------------------------------------------------------------------- internals
def _ns(x: float) -> int:
    return round(x * 1e9)


@dataclass(frozen=True)
class _Item:
    """An item in integer ns, with the transfer costs it incurs."""

    io: int
    gil_pre: int
    released: int
    gil_post: int
    send_in: int  # bytes_in * per-byte cost (each side pays it)
    send_out: int  # bytes_out * per-byte cost (each side pays it)

    @property
    def service(self) -> int:
        return self.gil_pre + self.released + self.gil_post


def _items(items: Sequence[ItemCost], costs: MachineCosts, shm: bool) -> list[_Item]:
    out = []
    for it in items:
        gil = _ns(it.gil_s)
        b_in = costs.shm_ref_bytes if shm else it.bytes_in
        out.append(
            _Item(
                io=_ns(it.io_s),
                gil_pre=gil // 2,
                released=_ns(it.released_s),
                gil_post=gil - gil // 2,
                send_in=_ns(b_in * costs.pickle_pipe_s_per_byte),
                send_out=_ns(it.bytes_out * costs.pickle_pipe_s_per_byte),
            )
        )
    return out


def _inline(items: list[_Item], switch: int) -> Body:
    for it in items:
        if it.io:
            yield Io(it.io)
        yield Cpu(it.service + switch)


def _thread_worker(workq: Queue, doneq: Queue) -> Body:
    while True:
        it = yield Get(workq)
        if it is None:
            return
        if it.io:
            yield Io(it.io)
        yield Py(it.gil_pre)
        yield Cpu(it.released)
        yield Py(it.gil_post)
        yield Put(doneq, it)


def _submitter(items: list[_Item], workers: int, submit: int, workq: Queue, doneq: Queue) -> Body:
    """run_pool: submit every item, then sleep until all are done (``base.wait_all``: woken
    once) -- the results are taken after. Taking each as it came (GIL held, per item) made
    the 2-worker cells on threshold 6-10 % slow once the real main thread stopped doing it."""
    for it in items:
        yield Py(submit)
        yield Put(workq, it)
    for _ in items:
        yield Get(doneq)
    for _ in range(workers):
        yield Put(workq, None)


def _loop(
    items: list[_Item], workers: int, crit: int, rest: int, inq: Queue, outq: Queue, stop: Any
) -> Body:
    """An event loop with ``workers`` tasks, each awaiting one offloaded item at a time: per
    item, ``crit`` of the loop's work comes before the next hand-over (a worker waits for
    it), ``rest`` after. The rest overlaps the workers and competes for the cores, not for
    the GIL: it is spread thin (the heartbeat's wake-ups, records as chunks come back), and
    a lone worker measured no wait between items although the loop's CPU per item was 80 µs
    (charged GIL-held in one piece, it delayed each item by it: -7 % at 1 worker)."""
    n = len(items)
    nxt = min(workers, n)
    for it in items[:nxt]:
        yield Py(crit)
        yield Put(inq, it)
    for _ in range(n):
        yield Get(outq)
        if nxt < n:
            yield Py(crit)
            yield Put(inq, items[nxt])
            nxt += 1
        yield Cpu(rest)
    for _ in range(workers):
        yield Put(inq, stop)


def _parent(
    items: list[_Item],
    workers: int,
    limit: int,
    rt: int,
    extra: int,
    callq: Queue,
    inbox: Queue,
    sync: int = 0,
) -> Body:
    """A process pool's parent: send up to ``limit`` items ahead, serve a worker waiting for
    its hand-over first, then take results. ``inbox`` carries ("res", item) and ("sync",
    the waiting worker's queue); ``sync`` is the hand-over's part of ``rt`` (ns).

    A worker sends its result, then asks for its next hand-over: the sync right behind a
    result is served before the result is taken, as the pool's feeder and result threads
    do it in parallel (taken in arrival order, the lone worker also waited for the result's
    handling: -10...-15 % at 1 worker on threshold)."""
    n = len(items)
    rt_half, ex_half = (rt - sync) // 2, extra // 2
    sent = done = 0
    held: list[Any] = []  # results taken from the inbox while serving the sync behind them
    while done < n:
        msg = held.pop(0) if held else (yield TryGet(inbox))
        if msg is EMPTY:
            if sent < n and sent - done < limit:
                it = items[sent]
                sent += 1
                yield Py(ex_half + it.send_in + rt_half)
                yield Put(callq, it)
                continue
            msg = yield Get(inbox)
        kind, x = msg
        if kind == "res" and sync and not held:
            behind = yield TryGet(inbox)
            if behind is not EMPTY:
                held.append(msg)  # the result waits for the hand-over behind it
                msg = behind
                kind, x = msg
        if kind == "sync":  # a worker waits with nothing to do until this is over
            yield Py(sync)
            yield Put(x, True)
            continue
        yield Py(extra - ex_half + x.send_out + (rt - sync) - rt_half)
        done += 1
    for _ in range(workers):
        yield Put(callq, None)


def _proc_worker(callq: Queue, inbox: Queue, rt: int, sync: bool) -> Body:
    """A worker process: its own GIL, so receive, compute and send are plain CPU; with
    ``sync`` it first waits for the parent's part of the hand-over."""
    ack = Queue()
    while True:
        it = yield Get(callq)
        if it is None:
            return
        if sync:
            yield Put(inbox, ("sync", ack))
            yield Get(ack)
        recv = it.send_in + rt
        if it.io:
            yield Cpu(recv)
            yield Io(it.io)
            yield Cpu(it.service + it.send_out)
        else:
            yield Cpu(recv + it.service + it.send_out)
        yield Put(inbox, ("res", it))


def _dask(
    items: list[_Item], costs: MachineCosts, workers: int, batching: bool = True
) -> tuple[list[tuple[str, Thread]], Gil]:
    """dask's threads (``dask_model``) from the run's measured costs: the client's submit
    (``main_item_s``), the scheduler's share of the parent's CPU (``parent_item_s``: half
    writing the task, half taking its result), the worker's read (``worker_item_s``); the
    calibration's per-byte costs where dask was not measured."""
    rt = costs.round_trip_s
    if costs.parent_item_s is not None and costs.worker_item_s is not None:
        sched, recv = costs.parent_item_s, costs.worker_item_s
        main = costs.main_item_s or 0.0
        transfer_ns = 0  # in the measured CPU already
    else:
        sched, recv, main = rt / 2, rt / 2, costs.submit_s
        transfer_ns = sum(it.send_in for it in items) // max(1, len(items))
    return dask_model.build(
        [it.service for it in items],
        workers,
        io_ns=[it.io for it in items],
        main_ns=_ns(main),
        send_ns=_ns(sched / 2) + transfer_ns,
        done_ns=_ns(sched / 2),
        recv_ns=_ns(recv) + transfer_ns,
        slots=dask_model.slots_per_worker(),
        batching=batching,
    )


def _build(
    model: str, items: list[_Item], costs: MachineCosts, workers: int
) -> tuple[list[tuple[str, Thread]], Gil | None]:
    """The threads of ``model``: (name, program) with the coordinating thread first."""
    if model in DASK_MODELS:
        return _dask(items, costs, workers)
    if model in INLINE_MODELS:
        switch = 0 if model == "sequential" else _ns(costs.switch_s)
        return [("main", Thread(_inline(items, switch), None))], None
    if model in THREAD_MODELS or model in OFFLOAD_THREAD_MODELS:
        gil = Gil(_ns(costs.switch_interval_s))
        workq, doneq = Queue(), Queue()
        if costs.worker_item_s:  # measured: the worker's bookkeeping per item, GIL held
            extra = _ns(costs.worker_item_s)
            items = [dataclasses.replace(it, gil_post=it.gil_post + extra) for it in items]
        if model in THREAD_MODELS:
            # the main thread submits, then sleeps: what the parent spends beside the workers
            # in the region (parent_item_s) is the harness's -- the probe, whose cost is the
            # observer effect -- not the pool's
            head = _submitter(items, workers, _ns(costs.submit_s), workq, doneq)
        else:
            offload = costs.offload_s if costs.parent_item_s is None else costs.parent_item_s
            # measured at one worker: how long a lone worker waited between items; the rest
            # of the loop's CPU (the harness, the records, chunks handed back) overlapped it
            crit = offload if costs.parent_sync_s is None else min(offload, costs.parent_sync_s)
            head = _loop(items, workers, _ns(crit), _ns(offload - crit), workq, doneq, None)
        threads = [("main", Thread(head, gil))]
        threads += [
            (f"thread{k}", Thread(_thread_worker(workq, doneq), gil)) for k in range(workers)
        ]
        return threads, gil
    callq, inbox = Queue(), Queue()
    rt = _ns(costs.round_trip_s)
    rt_parent, rt_worker = rt // 2, rt - rt // 2
    offload, sync = _ns(costs.offload_s), 0
    if costs.parent_item_s is not None and costs.worker_item_s is not None:
        # measured in the run: what each side paid per item, in place of bytes x per-byte cost
        items = [dataclasses.replace(it, send_in=0, send_out=0) for it in items]
        rt_parent, rt_worker, offload = _ns(costs.parent_item_s), _ns(costs.worker_item_s), 0
        sync = min(rt_parent, _ns(costs.parent_sync_s or 0.0))
    if model in OFFLOAD_PROCESS_MODELS and costs.parent_item_s is not None and sync:
        # measured: the loop's hand-over (sync) is what a lone worker waited for; the rest of
        # its CPU per item (records, the probe, the result's handling) overlaps the workers
        head = _loop(items, workers, sync, rt_parent - sync, callq, inbox, None)
        threads = [("loop", Thread(head, None))]
        threads += [
            (f"proc{k}", Thread(_proc_worker(callq, inbox, rt_worker, False), None))
            for k in range(workers)
        ]
        return threads, None
    limit = 2 * workers + 1 if model in PROCESS_MODELS else workers
    parent = _parent(items, workers, limit, rt_parent, offload, callq, inbox, sync)
    threads = [("parent", Thread(parent, None))]
    threads += [
        (f"proc{k}", Thread(_proc_worker(callq, inbox, rt_worker, sync > 0), None))
        for k in range(workers)
    ]
    return threads, None


def _bottleneck(gil_busy: float | None, parent_busy: float | None, util: float) -> str:
    cands = [("GIL", gil_busy or 0.0), ("parent", parent_busy or 0.0), ("cores", util)]
    name, frac = max(cands, key=lambda x: x[1])
    return name if frac >= 0.9 else "workers"


BATCHING_GAIN = 1.1  # dask is "batching"-bound when sending at once would be this much faster


def _unbatched_gain(
    items: Sequence[ItemCost], costs: MachineCosts, workers: int, cores: int, policy: str,
    span: int, hz: int, ctx_switch_ns: int, slice_ns: int | None,
) -> float:  # fmt: skip
    """How much faster dask would be if its messages went when ready (the same simulation
    without BatchedSend's intervals): what the batching costs, by difference."""
    threads, _ = _dask(_items(items, costs, False), costs, workers, batching=False)
    specs = [ProgramSpec(th, name=name) for name, th in threads]
    res = simulate(
        [], cores, policy, programs=specs, hz=hz, ctx_switch_ns=ctx_switch_ns, slice_ns=slice_ns
    )
    fast = res.tasks[0].finish_ns
    return span / fast if fast else 1.0


def _plateau(items: Sequence[ItemCost], workers: int, makespan_s: float) -> tuple[str, str]:
    """When no resource is saturated, what bounds the makespan, in words: the longest item
    (no schedule finishes before it does), or too few items to keep the workers busy."""
    longest = max((it.service_s + it.io_s for it in items), default=0.0)
    if makespan_s > 0 and longest >= 0.5 * makespan_s:
        return "longest item", (
            f"the longest item ({longest:.3g} s) is {longest / makespan_s:.0%} of the makespan "
            f"({makespan_s:.3g} s): more workers or cores cannot finish sooner"
        )
    if len(items) < 2 * workers:
        return "too few items", (
            f"{len(items)} items for {workers} workers: most workers idle; more items (or "
            "smaller ones) would use them"
        )
    return "workers", ""


def predict_model(
    model: str,
    items: Sequence[ItemCost],
    costs: MachineCosts | None = None,
    workers: int = 1,
    cores: int = 1,
    policy: str = "eevdf",
    *,
    hz: int = 250,
    ctx_switch_ns: int = 0,
    slice_ns: int | None = None,
) -> ModelPrediction:
    """Predict ``model`` running ``items`` with ``workers`` workers on ``cores`` CPUs.

    ``model``: one of ``MODELS``; ``costs`` None = all zero (no transfer, no offload: a lower
    bound).  ``policy``, ``hz``, ``ctx_switch_ns``, ``slice_ns``: the OS scheduler, as in
    ``sim.simulate``.  Deterministic.  ValueError on an unknown model or bad numbers.
    """
    if model not in MODELS:
        raise ValueError(f"no prediction for model {model!r}; supported: {', '.join(MODELS)}")
    if workers <= 0 or cores <= 0:
        raise ValueError("workers and cores must be > 0")
    if not items:
        raise ValueError("no items to predict")
    for it in items:
        nums = (it.gil_s, it.released_s, it.io_s, it.bytes_in, it.bytes_out)
        if any(not math.isfinite(x) or x < 0 for x in nums):
            raise ValueError(f"item costs must be finite and >= 0: {it}")
    costs = costs or MachineCosts()
    inline = model in INLINE_MODELS
    w = 1 if inline else workers
    by_reference = model in ("processes+shm", "processes+zerocopy")  # arrays stay in shm
    threads, gil = _build(model, _items(items, costs, by_reference), costs, w)
    specs = [ProgramSpec(th, name=name) for name, th in threads]
    res = simulate(
        [], cores, policy, programs=specs, hz=hz, ctx_switch_ns=ctx_switch_ns, slice_ns=slice_ns
    )
    head = res.tasks[0]
    if head.finish_ns is None:  # cannot happen unless a model above is wrong
        raise RuntimeError(f"{model}: the simulation ended before the last result")
    span = head.finish_ns
    makespan = span / 1e9
    util = res.total_cpu_ns / (cores * span) if span else 0.0
    gil_busy = gil.held_ns / span if gil is not None and span else None
    parent_busy = (
        head.cpu_ns / span if span and model in PROCESS_MODELS + OFFLOAD_PROCESS_MODELS else None
    )
    if model in DASK_MODELS:  # its GIL is the parent's: client and scheduler share it
        gil_busy, parent_busy = None, gil_busy
    notes: list[str] = []
    if inline and workers != 1:
        notes.append(f"{model} runs every item on one thread: workers={workers} changes nothing")
    bottleneck = "one thread" if inline else _bottleneck(gil_busy, parent_busy, util)
    if bottleneck == "workers" and model in DASK_MODELS:
        gain = _unbatched_gain(items, costs, w, cores, policy, span, hz, ctx_switch_ns, slice_ns)
        if gain >= BATCHING_GAIN:
            bottleneck = "batching"
            notes.append(
                f"without dask's batched messages {gain:.2f}x faster: its scheduler writes to "
                f"each worker at most every {dask_model.SCHEDULER_TO_WORKER_NS / 1e6:g} ms and "
                f"keeps {dask_model.slots_per_worker()} task(s) on it"
            )
    if bottleneck == "workers":
        bottleneck, why = _plateau(items, w, makespan)
        notes += [why] if why else []
    return ModelPrediction(
        model=model,
        workers=workers,
        cores=cores,
        items=len(items),
        policy=policy,
        makespan_s=makespan,
        throughput_per_s=len(items) / makespan if makespan > 0 else math.inf,
        utilization=util,
        gil_busy=gil_busy,
        gil_wait_max_s=gil.wait_max_ns / 1e9 if gil is not None else None,
        gil_forced_switches=gil.forced if gil is not None else None,
        parent_busy=parent_busy,
        bottleneck=bottleneck,
        notes=tuple(notes),
        result=res,
    )


def predicted_model_row(
    model: str,
    items: list[ItemCost],
    costs: MachineCosts | None,
    workers: int,
    cores: int,
    base: dict[str, Any],
    seq_throughput: float,
) -> dict[str, Any]:
    """The simulator's row for ``model`` at ``workers`` on ``cores`` (eevdf) beside the measured
    rows (``base``: the run's columns), from the run's measured per-item costs and calibration;
    ValueError for a model it cannot predict."""
    pred = predict_model(model, items, costs, workers, cores, "eevdf")
    notes = [f"bottleneck {pred.bottleneck}", *pred.notes]
    if costs is None:
        notes.append("no calibration: transfer and offload free (lower bound)")
    return prediction_row(
        pred,
        **base,
        repetition=0,
        ok=True,
        speedup=pred.throughput_per_s / seq_throughput if seq_throughput else None,
        notes="; ".join(notes),
    )


__all__ = [
    "DASK_MODELS",
    "GIL_MODELS",
    "INLINE_MODELS",
    "MODELS",
    "OFFLOAD_PROCESS_MODELS",
    "OFFLOAD_THREAD_MODELS",
    "PROCESS_MODELS",
    "THREAD_MODELS",
    "ItemCost",
    "MachineCosts",
    "ModelPrediction",
    "predict_model",
    "predicted_model_row",
]
