"""The one small interface every concurrency model implements.

A model gets a Job (items, work function, arrival times), a worker count and the Probes. It
starts its workers (start-up, untimed), tells the probes who the workers are, runs the items
inside probes.begin()/end() with a heartbeat in its own scheduling domain, and returns one
ItemRecord per item. Adding a model is one new file plus one line in models/__init__.py.
"""

from __future__ import annotations

import concurrent.futures
import importlib
import importlib.metadata
import importlib.util
import sys
import threading
import time
from abc import ABC, abstractmethod
from typing import TYPE_CHECKING, Any, NamedTuple

from cvbench.measure.probes import Probes
from cvbench.work.item import ChunkFn, ItemResult, chunks
from cvbench.work.job import Job

if TYPE_CHECKING:
    from cvbench.config import RunConfig


class ItemRecord(NamedTuple):
    """One processed item; all times are time.perf_counter_ns() (CLOCK_MONOTONIC).

    A NamedTuple: the cooperative models build one per item inside the timed region, where a
    frozen dataclass's ~0.9 us was part of what the harness-overhead figure measured."""

    index: int
    worker: int
    arrival_ns: int  # when the item became available (batch: the start of the region)
    submitted_ns: int  # when the model handed it to a worker
    started_ns: int
    finished_ns: int
    digest: str
    detail: int
    io_ns: int = 0
    released_ns: int = 0  # GIL released (cv2 calls, hashing): the cost model's released_s

    @classmethod
    def of(cls, r: ItemResult, worker: int, arrival_ns: int, submitted_ns: int) -> ItemRecord:
        return cls(
            r.index,
            worker,
            arrival_ns,
            submitted_ns,
            r.started_ns,
            r.finished_ns,
            r.digest,
            r.detail,
            r.io_ns,
            r.released_ns,
        )


class Model(ABC):
    """A way of running the same items concurrently (or not)."""

    name: str = ""
    summary: str = ""
    #: inline cooperative models run everything on one OS thread: one core at most
    inline: bool = False
    #: sequential has no workers to sweep: it runs once, at workers=1
    sweeps_workers: bool = True
    #: hands items to its pool in chunks when the job asks (--chunksize), as Pool.map does
    batches: bool = False
    #: what runs the items, for `cvbench models` ("OS threads", "worker processes", ...)
    runs_on: str = ""
    #: distributions it needs beyond cvbench's core (import name = dist name with "_" for "-");
    #: () means the standard library. A missing one makes the model unavailable, not broken.
    requires: tuple[str, ...] = ()
    #: the modules it imports, when their names differ from `requires` (curio-compat: curio)
    imports: tuple[str, ...] = ()
    #: runs on workers it does not start (dask on an existing cluster): one cell, and its
    #: rows' ``workers`` is the pool's own size, not a swept count
    external: bool = False

    def configure(self, cfg: RunConfig) -> None:  # noqa: B027 - optional hook, no-op default
        """Take what the model needs from the run's configuration (default: nothing)."""

    def close(self) -> None:  # noqa: B027 - optional hook, no-op default
        """Release what the model keeps between repetitions (the runner calls it once, at the
        end of the run; default: nothing is kept)."""

    @classmethod
    def cores(cls) -> str:
        """The cores it can use: one for inline models and the baseline, else one per worker."""
        return "1" if cls.inline or not cls.sweeps_workers else "N workers"

    @classmethod
    def dependency(cls) -> str:
        """'package version' of what it needs, or 'stdlib'."""
        if not cls.requires:
            return "stdlib"
        return ", ".join(f"{d} {_version(d) or '(not installed)'}" for d in cls.requires)

    @classmethod
    def unavailable(cls) -> str | None:
        """None if the model can run here, else a one-line reason (the row says it instead of
        failing). Only an import tells whether an installed package loads on this Python
        (curio 1.6 does not on 3.12+), so each one is imported: once per process, the dearest
        being distributed (~0.4 s). Model modules import their framework on use, never at
        import, so `import cvbench.models` and `--help` work whatever fails here."""
        modules = cls.imports or tuple(d.replace("-", "_") for d in cls.requires)
        for dist, module in zip(cls.requires, modules, strict=True):
            if importlib.util.find_spec(module) is None:
                return f"{dist} is not installed (pip install {dist})"
            if reason := import_failure(module):
                return reason
        return None

    @abstractmethod
    def run(self, job: Job, workers: int, probes: Probes) -> list[ItemRecord]:
        """Process every item of job once; raise if the model itself failed."""


def import_failure(module: str) -> str | None:
    """None if `module` imports here, else why not, in one line (not cached: a retry is cheap
    and a test may change what is importable)."""
    try:
        importlib.import_module(module)
    except Exception as exc:  # noqa: BLE001 - whatever stops the import is the reason
        version = f"{sys.version_info.major}.{sys.version_info.minor}"
        first = (str(exc).splitlines() or [""])[0]
        return f"{module} does not load on Python {version}: {type(exc).__name__}: {first}"
    return None


def _version(dist: str) -> str | None:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return None


def sleep_until(deadline_ns: int) -> None:
    """Blocking wait for an arrival time (stream workloads)."""
    delay = deadline_ns - time.perf_counter_ns()
    if delay > 0:
        time.sleep(delay / 1e9)


def barrier_prepare(fn, barrier: threading.Barrier) -> int:
    """Run in each pool thread during start-up: the barrier makes every thread a distinct one."""
    tid = fn.prepare()
    barrier.wait(timeout=30)
    return tid


def run_pool(job: Job, probes: Probes, submit) -> list[ItemRecord]:
    """The timed region of a pool model: submit at arrival, wait for all, map tids to workers.

    Shared by the thread and process pools, whose only difference is the pool itself.
    """
    pending = []
    probes.begin(thread_heartbeat=True)
    t0 = probes.begun_ns
    if job.chunksize > 1 and job.arrivals_ns is None:  # a batch, shipped as Pool.map does
        for chunk in chunks(job.payloads, job.chunksize, job.tail_workers):
            pending.append((t0, time.perf_counter_ns(), submit(ChunkFn(job.fn), -1, chunk)))
    else:
        for i, payload in enumerate(job.payloads):
            arrival = t0 + job.arrival_ns(i)
            sleep_until(arrival)
            pending.append((arrival, time.perf_counter_ns(), submit(job.fn, i, payload)))
    wait_all([f for _, _, f in pending], probes)
    results = [(a, s, r) for a, s, f in pending for r in as_results(wait_result(f, probes))]
    probes.end()
    return [ItemRecord.of(r, probes.worker_index(r.tid), a, s) for a, s, r in results]


def wait_all(futures: list[Any], probes: Probes) -> None:
    """Sleep until every future is done, woken once: waiting for each in turn woke the main
    thread at every chunk, and under --pin spread (a worker on every CPU) each wake-up
    preempted a worker, often one holding the GIL the main thread then waited for (threads
    at 2 workers on threshold: 25-47 involuntary switches and 1-7 ms of run-queue wait per
    20 ms repetition). The results are taken after (``wait_result``: done by then). A failed
    item ends the wait, so its error comes as soon as before. dask's futures are not
    concurrent.futures': they are waited for one by one.

    Not concurrent.futures.wait(): it holds every future's lock while it installs its
    waiter, and a Ctrl-C (KeyboardInterrupt in this thread) landing there left a lock held
    and the pool's shutdown waiting for it forever. A callback per future counts down
    instead; the main thread only waits on an Event."""
    if not futures or not all(isinstance(f, concurrent.futures.Future) for f in futures):
        return
    from cvbench.measure.watchdog import RepetitionTimeout, deadline_passed

    left = [len(futures)]
    lock = threading.Lock()
    over = threading.Event()

    def one_done(f: concurrent.futures.Future) -> None:  # in the thread that finished it
        with lock:
            left[0] -= 1
            if not left[0] or (not f.cancelled() and f.exception() is not None):
                over.set()

    for f in futures:
        f.add_done_callback(one_done)
    while not over.wait(0.25):
        if deadline_passed(probes):
            raise RepetitionTimeout("deadline passed")


def wait_result(future, probes: Probes) -> Any:
    """future.result(), but given up when the repetition's watchdog has expired: the way out
    where no signal can interrupt the wait (cvbench.run() called from a thread)."""
    from cvbench.measure.watchdog import RepetitionTimeout, deadline_passed

    while True:
        try:
            return future.result(timeout=0.25)
        except TimeoutError:
            if deadline_passed(probes):
                raise RepetitionTimeout("deadline passed") from None


def as_results(result: Any) -> list[ItemResult]:
    return result if isinstance(result, list) else [result]
