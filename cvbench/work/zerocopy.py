"""The worker side of ``processes+zerocopy``: items, hand-out and records all in shared memory.

Nothing crosses a pipe per item. Before the timed region each worker maps the items block
(``cvbench.work.shm``, page tables filled) and the control block, makes the items' views,
prepares its work function, runs it twice (untimed: a warm worker, as the sequential model's
process is; ``_warm_up``), says
``ready`` on its pipe and blocks reading it. The parent's ``set`` (untimed) makes it say
``armed`` and poll the go word of the control block; the parent's ``go`` is one store of the
region's start into that word. A worker blocked in a pipe read took 100-190 µs to start its
first item after the parent's go message (a sleeping vCPU woken through the hypervisor), ~1 %
of a 20 ms 2-worker repetition, where the sequential model starts at once; polling, it starts
within microseconds. It polls with ``sched_yield`` (the parent, unpinned, may share its CPU
before the region) and for at most ``SPIN_S``; then every millisecond, so that a parent that
never says go (it failed, it was stopped) costs no CPU. From then on a worker claims the next
item index from a counter in
the control block (under one multiprocessing Lock: two loads and a store, ~1 µs against a
~1 ms item), runs it on a zero-copy view, writes the item's record (times, tid, detail,
digest) into the item's own slot of the control block and claims again. When the counter
passes the last item it says ``done``, and leaves when the parent closes its pipe (after the
parent has read the workers' CPU times). The parent sleeps in select() meanwhile.

Control block layout: HEADER_BYTES of header (int64 [0] = next item to claim, int64 [1] = the
region's start in perf_counter ns once the parent says go, 0 before), then one
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
import struct
import time
from typing import Any

import numpy as np

from cvbench.work import lifeline, shm
from cvbench.work.quiet_child import quiet_when_orphaned

HEADER_BYTES = 64  # one cache line; int64 [0]: the next item index to claim, [1]: go
GO_OFFSET = 8  # the go word: the region's t0 (perf_counter ns, > 0) once the parent says go
SPIN_S = 0.5  # how long an armed worker polls the go word before it polls every ms instead
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


def say_go(buf: Any, t0_ns: int) -> None:
    """The parent's side: one store starts every armed worker (no exported pointer is kept,
    so the block can still be closed)."""
    struct.pack_into("<q", buf, GO_OFFSET, t0_ns)


def _await_go(block: Any, conn: Any) -> int:
    """Poll the go word until the parent stores t0 in it; return t0. After SPIN_S, poll once a
    millisecond, blocked on the pipe meanwhile: a parent that closes it (gave up) ends us."""
    word = ctypes.c_int64.from_buffer(block, GO_OFFSET)
    now = time.perf_counter_ns
    spin_until = now() + int(SPIN_S * 1e9)
    yield_cpu = os.sched_yield
    while True:
        t0 = word.value
        if t0:
            return t0
        if now() < spin_until:
            yield_cpu()
        elif conn.poll(0.001):
            conn.recv()  # EOFError: the parent closed the pipe; nothing else is sent now


WARM_UP_CALLS = 2


def _warm_up(fn: Any, i: int, items: list[Any], conn: Any) -> None:
    """Untimed calls of the op, before ``ready``: a new process's first items ran ~2x slower
    (its heap and cv2's first calls page-faulting: 1.9 ms of a 39 ms repetition on
    threshold), which the sequential model, in a process that has run the op before, never
    pays. A pool in service is warm; so is this one. Two calls: after one, the region's first
    item still took 264 minor faults and ~970 us against ~590 (malloc maps the first big
    buffers and, once they are freed, serves the next ones from a heap that must grow first);
    after two it takes none. An injected fault stays on its item in the region; an op that
    fails here fails the repetition as it would there."""
    fn = fn.without_fault()
    index = i
    try:
        for k in range(WARM_UP_CALLS):
            index = (i + k) % len(items)
            fn(index, items[index])
    except Exception as exc:  # noqa: BLE001 - reported to the parent, which fails the run
        with contextlib.suppress(OSError):
            conn.send(("error", index, f"{type(exc).__name__}: {exc}"))
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
    # the items' views are made here, as the ceiling's copies make theirs (cvbench.work.corun):
    # made per item in the region they cost ~2 us each (12 us for the first)
    items = [shm.view(p) if isinstance(p, shm.ShmRef) else p for p in payloads]
    with lock:  # its shared page faulted in now: the region's first claim took ~9 us
        pass
    if payloads:
        _warm_up(fn, worker % len(payloads), items, conn)
    conn.send(("ready", os.getpid(), tid))
    try:
        conn.recv()  # "set"
        conn.send(("armed",))
        t0 = _await_go(block, conn)
    except (EOFError, OSError):  # the parent closed the pipe: no run (start-up failed elsewhere)
        os._exit(0)
    n = len(items)
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
        try:
            r = fn(i, items[i])
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
