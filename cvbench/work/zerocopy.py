"""The worker side of ``processes+zerocopy``: items, hand-out and records all in shared memory.

Nothing crosses a pipe per item. Before the timed region each worker maps the items block
(``cvbench.work.shm``, page tables filled) and the control block, prepares its work function,
runs it once on an item (untimed: a warm worker, as the sequential model's process is), says
``ready`` on its pipe and blocks reading it. The parent's ``go`` (one small message per
worker) starts the region; from then on a worker claims the next item index from a counter in
the control block (under one multiprocessing Lock: two loads and a store, ~1 µs against a
~1 ms item), runs it on a zero-copy view, writes the item's record (times, tid, detail,
digest) into the item's own slot of the control block and claims again. When the counter
passes the last item it says ``done``, and leaves when the parent closes its pipe (after the
parent has read the workers' CPU times). The parent sleeps in select() meanwhile.

Control block layout: HEADER_BYTES of header (int64 [0] = next item to claim), then one
RECORD per item. A slot is written by exactly one worker (the one that claimed the index) and
read by the parent only after every worker has said ``done`` (a pipe write and read: the
ordering the records need).

Light on purpose (numpy, the work function, shm, lifeline): the forkserver preloads it, and a
worker must not import the models package and its frameworks.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import time
from typing import Any

import numpy as np

from cvbench.work import lifeline, shm
from cvbench.work.quiet_child import quiet_when_orphaned

HEADER_BYTES = 64  # one cache line; int64 [0]: the next item index to claim
DIGEST_BYTES = 32  # item digests are 24 hex characters (blake2b, 12 bytes)
RECORD = np.dtype(
    [
        ("worker", "<i8"),
        ("tid", "<i8"),
        ("claimed", "<i8"),
        ("started", "<i8"),
        ("finished", "<i8"),
        ("detail", "<i8"),
        ("io", "<i8"),
        ("released", "<i8"),
        ("digest", f"S{DIGEST_BYTES}"),
    ]
)


def control_bytes(items: int) -> int:
    return HEADER_BYTES + items * RECORD.itemsize


def records_view(buf: Any, items: int) -> np.ndarray:
    """The per-item records inside a control block (shared: no copy)."""
    return np.ndarray((items,), RECORD, buffer=buf, offset=HEADER_BYTES)


def _warm_up(fn: Any, i: int, payloads: tuple[Any, ...], conn: Any) -> None:
    """One untimed call of the op on an item, before ``ready``: a new process's first items
    ran ~2x slower (its heap and cv2's first calls page-faulting: 1.9 ms of a 39 ms
    repetition on threshold), which the sequential model, in a process that has run the op
    before, never pays. A pool in service is warm; so is this one. An injected fault stays on
    its item in the region; an op that fails here fails the repetition as it would there."""
    fn = fn.without_fault()
    payload = payloads[i]
    try:
        fn(i, shm.view(payload) if isinstance(payload, shm.ShmRef) else payload)
    except Exception as exc:  # noqa: BLE001 - reported to the parent, which fails the run
        with contextlib.suppress(OSError):
            conn.send(("error", i, f"{type(exc).__name__}: {exc}"))
        os._exit(1)


@quiet_when_orphaned
def serve(
    fn: Any,
    worker: int,
    conn: Any,
    lock: Any,
    control: str,
    payloads: tuple[Any, ...],  # ShmRefs, or what is not an array (paths), as placed
    arrivals_ns: tuple[int, ...] | None,
) -> None:
    """Worker body: set up, say ready, wait for go, claim and run items until none is left."""
    lifeline.worker_setup()  # ignore SIGINT, die with the run (pidfd watcher, PDEATHSIG)
    tid = fn.prepare()
    for name in dict.fromkeys(p.name for p in payloads if isinstance(p, shm.ShmRef)):
        shm.premap(name)
    block = shm.map_block(control, writable=True, populate=True)
    counter = ctypes.c_int64.from_buffer(block, 0)
    records = records_view(block, len(payloads))
    if payloads:
        _warm_up(fn, worker % len(payloads), payloads, conn)
    conn.send(("ready", os.getpid(), tid))
    try:
        msg = conn.recv()
    except EOFError:  # the parent closed the pipe: no run (start-up failed elsewhere)
        os._exit(0)
    t0 = msg[1]
    n = len(payloads)
    done = 0
    now = time.perf_counter_ns
    while True:
        with lock:
            i = counter.value
            counter.value = i + 1
        if i >= n:
            break
        claimed = now()
        if arrivals_ns is not None:  # a stream: the item exists from its arrival on
            delay = t0 + arrivals_ns[i] - claimed
            if delay > 0:
                time.sleep(delay / 1e9)
        payload = payloads[i]
        if isinstance(payload, shm.ShmRef):
            payload = shm.view(payload)
        try:
            r = fn(i, payload)
            digest = r.digest.encode("ascii")
            if len(digest) > DIGEST_BYTES:
                raise ValueError(f"item digest longer than {DIGEST_BYTES} bytes: {r.digest!r}")
        except Exception as exc:  # noqa: BLE001 - reported to the parent, which fails the run
            with contextlib.suppress(OSError):  # the parent already gave up (another error)
                conn.send(("error", i, f"{type(exc).__name__}: {exc}"))
            os._exit(1)
        records[i] = (
            worker, r.tid, claimed, r.started_ns, r.finished_ns, r.detail, r.io_ns,
            r.released_ns, digest,
        )  # fmt: skip
        done += 1
    try:
        conn.send(("done", done))
    except OSError:  # the parent already gave up (another worker's error): nothing to say
        os._exit(1)
    # Stay until the parent closes the pipe: it reads every worker's CPU time after the
    # region, and an exited worker's would be lost.
    with contextlib.suppress(EOFError, OSError):
        conn.recv()
