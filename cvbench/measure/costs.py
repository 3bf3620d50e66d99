"""What this machine charges for moving work between threads and processes: a short
calibration at the start of `cvbench run`, so the emulated kernel can predict every pool model
from the run's own per-item costs (issue: predictions that left out pickling missed `processes`
on threshold by -74 %).

- a process pool round trip, one item at a time, of a ~100 B and a ~1 MB payload through a
  1-worker forkserver pool: gives the fixed cost per item and the pickle + pipe cost per byte;
- ThreadPoolExecutor.submit and an event loop's run_in_executor, many in flight, total / N:
  the CPU each costs per item on the submitting thread, with the GIL held.

Everything is recorded in the run's JSON. A calibration that cannot run degrades to no
prediction, with the reason, never a crash.
"""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing
import os
import signal
import statistics
import time
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import asdict, dataclass
from typing import Any

from cvbench.measure.interrupts import Deferred, deferred
from cvbench.work.lifeline import worker_setup

SMALL_BYTES = 100
LARGE_BYTES = 1 << 20
PING_PONGS = 15
BULK_ITEMS = 2000


@dataclass(frozen=True)
class Calibration:
    small_bytes: int
    small_round_trip_s: float
    large_bytes: int
    large_round_trip_s: float
    submit_s: float  # ThreadPoolExecutor.submit + result, per item, many in flight
    offload_s: float  # asyncio run_in_executor (future + wake-up), per item, many in flight
    took_s: float

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _nothing() -> None:
    return None


TIMEOUT_S = 20.0  # a hung calibration worker must not hang the run: no prediction instead
POLL_S = 0.05  # how soon a stop noted during a round trip is raised


def result_within(future: Any, stop: Deferred) -> Any:
    """future.result(), at most TIMEOUT_S, raising a noted stop between polls."""
    deadline = time.monotonic() + TIMEOUT_S
    while True:
        stop.check()
        try:
            return future.result(timeout=min(POLL_S, max(0.0, deadline - time.monotonic())))
        except TimeoutError:
            if time.monotonic() >= deadline:
                raise


def _round_trip_s(pool: ProcessPoolExecutor, payload: bytes, times: int, stop: Deferred) -> float:
    samples = []
    for _ in range(times):
        t0 = time.perf_counter()
        result_within(pool.submit(len, payload), stop)
        samples.append(time.perf_counter() - t0)
    return statistics.median(samples)


def _submit_s(n: int) -> float:
    """Run with stops deferred: a ThreadPoolExecutor's locks must not be interrupted."""
    with ThreadPoolExecutor(1) as pool:
        pool.submit(_nothing).result()
        t0 = time.perf_counter()
        futures = [pool.submit(_nothing) for _ in range(n)]
        for f in futures:
            f.result()
        return (time.perf_counter() - t0) / n


def _offload_s(n: int) -> float:
    async def bulk() -> float:
        loop = asyncio.get_running_loop()
        with ThreadPoolExecutor(1) as pool:
            await loop.run_in_executor(pool, _nothing)
            t0 = time.perf_counter()
            await asyncio.gather(*(loop.run_in_executor(pool, _nothing) for _ in range(n)))
            return (time.perf_counter() - t0) / n

    return asyncio.run(bulk())


def calibrate() -> Calibration:
    """About half a second; raises OSError/RuntimeError where processes cannot be started.
    A stop signal meanwhile is raised between its steps (``interrupts.deferred``), never
    inside the pools' own locking."""
    with deferred() as stop:
        return _calibrate(stop)


@contextlib.contextmanager
def lone_worker_pool(stop: Deferred) -> Iterator[ProcessPoolExecutor]:
    """A started 1-worker forkserver pool; on any failure (a stop included) its worker is
    killed, so that nothing waits for it."""
    ctx = multiprocessing.get_context("forkserver")
    pool = ProcessPoolExecutor(1, mp_context=ctx, initializer=worker_setup)
    try:
        result_within(pool.submit(len, b""), stop)  # start-up is not a per-item cost
        yield pool
    except BaseException:
        for proc in list(getattr(pool, "_processes", {}).values()):
            with contextlib.suppress(Exception):
                os.kill(proc.pid, signal.SIGCONT)
                proc.kill()
        pool.shutdown(wait=False, cancel_futures=True)
        raise
    pool.shutdown(wait=True)
    stop.check()


def _calibrate(stop: Deferred) -> Calibration:
    t0 = time.perf_counter()
    with lone_worker_pool(stop) as pool:
        small = _round_trip_s(pool, bytes(SMALL_BYTES), PING_PONGS, stop)
        large = _round_trip_s(pool, bytes(LARGE_BYTES), PING_PONGS, stop)
    submit_s = _submit_s(BULK_ITEMS)
    stop.check()
    offload_s = _offload_s(BULK_ITEMS)
    return Calibration(
        small_bytes=SMALL_BYTES,
        small_round_trip_s=small,
        large_bytes=LARGE_BYTES,
        large_round_trip_s=large,
        submit_s=submit_s,
        offload_s=offload_s,
        took_s=time.perf_counter() - t0,
    )
