"""dask.distributed on a LocalCluster, as simulator threads: what paces it is batching.

Why a template of its own: the process-pool template (a parent that hands each item to a
worker as soon as one is free) predicted dask's threshold cells 25-35 % too fast. dask's
messages do not go when they are ready: ``distributed.batched.BatchedSend`` writes at most one
batch per interval on each stream -- scheduler to a worker every 5 ms (``scheduler.py``:
``BatchedSend(interval="5ms")``), a worker to the scheduler every 2 ms (``worker.py``), the
scheduler to the client every 2 ms, the client to the scheduler every 10 ms (``client.py``) --
and the scheduler gives each worker only ``ceil(worker-saturation x nthreads)`` tasks at a time
(dask's ``distributed.scheduler.worker-saturation``, 1.1: two for a one-thread worker). With
items of 0.6 ms, a worker finishes its two tasks long before the next batch can reach it.

The threads (integer ns; the costs are this run's, measured in the model's 1-worker cell):

- the client's main thread submits every item (``main_ns`` each, GIL held) and waits for the
  results; the client's stream to the scheduler is still inside its 10 ms window when a
  repetition starts (the previous one's releases went out on it: the first item of a measured
  repetition started 10-12 ms into it);
- the scheduler (``done_ns`` per finished task, the parent's GIL) keeps ``slots`` tasks on
  each worker, and a sender per worker writes its batch (``send_ns`` per task); the worker
  reads while it is written (a TCP stream), so the write and the worker's read overlap;
- a worker process (its own GIL): its event loop reads each task (``recv_ns``: the 810 KB
  unpickled), starts the next ready task when one finishes (the executor does not start one
  by itself), and reports finished tasks on its 2 ms stream; its executor thread runs the
  item (GIL released).

The parent's threads share one GIL (the client, scheduler and nannies run in one process, as
``LocalCluster(processes=True)`` does); each worker process has its own.  Stdlib only (dask's
config is read if dask is there).
"""

from __future__ import annotations

import math
from collections.abc import Generator, Sequence
from typing import Any

from .gil import EMPTY, Cpu, Get, Gil, Io, Put, Py, Queue, Thread, TryGet

Body = Generator[Any, Any, None]

MS = 1_000_000
#: BatchedSend intervals in distributed (2026.x), per stream (ns); pinned here because dask
#: hard-codes them in the calls (no config key): scheduler.py, worker.py and client.py
SCHEDULER_TO_WORKER_NS = 5 * MS
WORKER_TO_SCHEDULER_NS = 2 * MS
SCHEDULER_TO_CLIENT_NS = 2 * MS
CLIENT_TO_SCHEDULER_NS = 10 * MS
#: distributed.scheduler.worker-saturation's default (read from dask.config where dask runs)
WORKER_SATURATION = 1.1


def worker_saturation() -> float:
    """dask's setting where dask is installed (a user's config may change it), else its
    default."""
    try:
        import dask.config

        return float(dask.config.get("distributed.scheduler.worker-saturation"))
    except (ImportError, KeyError, TypeError, ValueError):
        return WORKER_SATURATION


def slots_per_worker(saturation: float | None = None, nthreads: int = 1) -> int:
    """How many tasks the scheduler keeps on a worker (``_task_slots_available``)."""
    sat = worker_saturation() if saturation is None else saturation
    if not math.isfinite(sat):
        return 1 << 20  # inf: no queuing on the scheduler
    return max(math.ceil(sat * nthreads), 1)


def _batched(src: Queue, dst: Queue, interval: int, cost: int = 0, warm: int = 0) -> Body:
    """One BatchedSend: the first message goes at once, then at most one batch (everything
    buffered) per ``interval``, whose deadline is set before the write.  ``cost`` per
    message, paid while the other side already reads.  None ends it (passed on)."""
    if warm:
        yield Io(warm)
    while True:
        batch = [(yield Get(src))]
        while (more := (yield TryGet(src))) is not EMPTY:
            batch.append(more)
        for msg in batch:
            yield Put(dst, msg)
        spent = cost * sum(msg is not None for msg in batch)
        if spent:
            yield Py(spent)
        if None in batch:
            return
        if interval > spent:
            yield Io(interval - spent)


def _client_main(n: int, main_ns: int, submits: Queue, results: Queue) -> Body:
    for i in range(n):
        yield Py(main_ns)
        yield Put(submits, ("task", i))
    for _ in range(n):
        yield Get(results)


def _client_loop(inbox: Queue, results: Queue) -> Body:
    while (msg := (yield Get(inbox))) is not None:
        yield Put(results, msg)


def _scheduler(
    n: int, slots: int, done_ns: int, inbox: Queue, to_workers: list[Queue], to_client: Queue
) -> Body:
    queued: list[int] = []
    free = [slots] * len(to_workers)
    done = 0
    while done < n:
        msg = yield Get(inbox)
        if msg[0] == "task":
            queued.append(msg[1])
        else:
            _, w, i = msg
            yield Py(done_ns)
            done += 1
            free[w] += 1
            yield Put(to_client, i)
        for w, q in enumerate(to_workers):
            while free[w] and queued:
                free[w] -= 1
                yield Put(q, ("task", queued.pop(0)))
    for q in to_workers:
        yield Put(q, None)
    yield Put(to_client, None)


def _worker_loop(w: int, recv_ns: int, inbox: Queue, executor: Queue, reports: Queue) -> Body:
    """A worker's event loop: reads tasks, hands the executor one at a time, reports."""
    ready: list[int] = []
    busy = ended = False
    while True:
        msg = yield Get(inbox)
        if msg is None:
            ended = True
        elif msg[0] == "task":
            yield Py(recv_ns)
            ready.append(msg[1])
        else:
            busy = False
            yield Put(reports, ("done", w, msg[1]))
        if not busy and ready:
            busy = True
            yield Put(executor, ready.pop(0))
        if ended and not busy and not ready:
            yield Put(executor, None)
            yield Put(reports, None)
            return


def _worker_executor(
    service_ns: Sequence[int], io_ns: Sequence[int], executor: Queue, inbox: Queue
) -> Body:
    """The worker's task thread: the item, the GIL released (cv2), the file read first."""
    while (i := (yield Get(executor))) is not None:
        if io_ns[i]:
            yield Io(io_ns[i])
        yield Cpu(service_ns[i])
        yield Put(inbox, ("done", i))


def build(
    service_ns: Sequence[int],
    workers: int,
    *,
    io_ns: Sequence[int] | None = None,
    main_ns: int,
    send_ns: int,
    done_ns: int,
    recv_ns: int,
    slots: int,
    batching: bool = True,
) -> tuple[list[tuple[str, Thread]], Gil]:
    """The threads of a dask run of ``len(service_ns)`` items on ``workers`` one-thread
    workers, the client's main thread first; and the parent process's GIL.  ``batching``
    False: every message goes when it is ready (what the batching costs, by difference)."""
    on = int(batching)
    n = len(service_ns)
    io = list(io_ns) if io_ns is not None else [0] * n
    parent = Gil()
    submits, sched_in, to_client, client_in, results = (Queue() for _ in range(5))
    to_worker = [Queue() for _ in range(workers)]
    worker_in = [Queue() for _ in range(workers)]
    c2s, s2c = CLIENT_TO_SCHEDULER_NS * on, SCHEDULER_TO_CLIENT_NS * on
    s2w, w2s = SCHEDULER_TO_WORKER_NS * on, WORKER_TO_SCHEDULER_NS * on
    bodies: list[tuple[str, Body, Gil]] = [
        ("client", _client_main(n, main_ns, submits, results), parent),
        ("scheduler", _scheduler(n, slots, done_ns, sched_in, to_worker, to_client), parent),
        ("client->scheduler", _batched(submits, sched_in, c2s, 0, warm=c2s), parent),
        ("scheduler->client", _batched(to_client, client_in, s2c), parent),
        ("client loop", _client_loop(client_in, results), parent),
    ]
    for w in range(workers):
        own = Gil()  # a worker process
        executor, reports = Queue(), Queue()
        bodies += [
            (
                f"scheduler->worker{w}",
                _batched(to_worker[w], worker_in[w], s2w, send_ns),
                parent,
            ),
            (f"worker{w} loop", _worker_loop(w, recv_ns, worker_in[w], executor, reports), own),
            (f"worker{w} executor", _worker_executor(service_ns, io, executor, worker_in[w]), own),
            (f"worker{w}->scheduler", _batched(reports, sched_in, w2s), own),
        ]
    return [(name, Thread(body, gil)) for name, body, gil in bodies], parent
