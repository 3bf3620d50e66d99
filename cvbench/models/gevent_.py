"""gevent: greenlets on gevent's hub, inline (one core) or offloading to gevent's threadpool.

Inline, N greenlets take items from a gevent Queue and `gevent.sleep(0)` between items, like
the other cooperative models; the heartbeat is a greenlet sleeping on the hub's timer, so it
lags by whatever item is running. gevent+threads hands each item to a gevent ThreadPool of
`workers` native threads (the class behind hub.threadpool, but owned by the run so its
threads end with it) and waits on the result cooperatively: the hub stays free.

Nothing is monkey-patched: cvbench's own threads, locks and sleeps stay the standard ones.
User-level switches are greenlet switches on the loop thread (greenlet.settrace), hub
switches included: that is what gevent's scheduling costs.

Found here: inline, the heartbeat waits about 50 items, not 1-3 as on asyncio/trio. Each
`sleep(0)` is a hub callback, and the hub runs ready callbacks in batches of 50 before it
checks its 5 ms switch interval and looks at due timers (gevent _ffi/loop.py,
CALLBACK_CHECK_COUNT): 13.5 ms of lag with 0.25 ms items on quick threshold.
"""

from __future__ import annotations

import threading
import time
from typing import Any

import greenlet

from cvbench.measure.probes import Probes, main_tid
from cvbench.models.base import ItemRecord, Model, barrier_prepare
from cvbench.models.greenlet_ import SwitchCounter
from cvbench.work.job import Job


class _Body:
    """The region's greenlets: a heartbeat, a feeder and N workers."""

    def __init__(self, job: Job, workers: int, probes: Probes, pool: Any) -> None:
        import gevent.queue

        self.job, self.workers, self.probes, self.pool = job, workers, probes, pool
        self.queue: Any = gevent.queue.Queue()
        self.records: list[ItemRecord] = []
        self.failures: list[BaseException] = []
        self.done = False

    def guarded(self, fn: Any, *args: object) -> None:
        """Keep a greenlet's failure for the caller (the hub would only print it)."""
        import gevent

        try:
            fn(*args)
        except gevent.GreenletExit:
            raise
        except BaseException as exc:  # noqa: BLE001 - re-raised by run()
            self.failures.append(exc)

    def heartbeat(self) -> None:
        import gevent

        hb = self.probes.heartbeat
        while not self.done:
            hb.arm()
            gevent.sleep(hb.period_s)
            hb.beat()

    def feeder(self) -> None:
        import gevent

        t0 = self.probes.begun_ns
        for i, payload in enumerate(self.job.payloads):
            arrival = t0 + self.job.arrival_ns(i)
            delay = arrival - time.perf_counter_ns()
            if delay > 0:
                gevent.sleep(delay / 1e9)
            self.queue.put((i, payload, arrival))
        for _ in range(self.workers):
            self.queue.put(None)

    def worker(self, w: int) -> None:
        import gevent

        fn, probes = self.job.fn, self.probes
        while not self.failures and (item := self.queue.get()) is not None:
            i, payload, arrival = item
            submitted = time.perf_counter_ns()
            if self.pool is None:
                self.records.append(ItemRecord.of(fn(i, payload), w, arrival, submitted))
                gevent.sleep(0)  # the cooperative yield between items
            else:
                r = self.pool.spawn(fn, i, payload).get()
                self.records.append(
                    ItemRecord.of(r, probes.worker_index(r.tid), arrival, submitted)
                )


def _start(job: Job, workers: int, probes: Probes, offload: bool) -> Any:
    """Start-up: a warmed ThreadPool (N distinct threads, placed) or the inline set-up."""
    if not offload:
        job.fn.prepare()
        probes.place_threads([main_tid()])
        return None
    import gevent
    from gevent.threadpool import ThreadPool

    # a failed item reaches the waiting greenlet as its exception (a failed row); the hub
    # would also print each one's traceback to stderr (dozens of lines per failed cell)
    gevent.get_hub().exception_stream = None
    pool = ThreadPool(workers)
    barrier = threading.Barrier(workers)
    warm = [pool.spawn(barrier_prepare, job.fn, barrier) for _ in range(workers)]
    probes.place_threads([r.get() for r in warm])
    return pool


def _run(job: Job, workers: int, probes: Probes, offload: bool) -> list[ItemRecord]:
    import gevent

    pool = _start(job, workers, probes, offload)
    body = _Body(job, workers, probes, pool)
    counter = SwitchCounter()
    previous = greenlet.settrace(counter)
    tasks: list[Any] = []
    beats: list[Any] = []
    try:
        probes.begin()
        counter.switches = 0
        if probes.heartbeat.enabled:
            beats.append(gevent.spawn(body.heartbeat))
        tasks = [gevent.spawn(body.guarded, body.feeder)]
        tasks += [gevent.spawn(body.guarded, body.worker, w) for w in range(workers)]
        gevent.joinall(tasks)
        body.done = True
        if body.failures:
            raise body.failures[0]
        probes.end()
        probes.user_switches = counter.switches
        gevent.joinall(beats)
        return body.records
    finally:
        body.done = True
        gevent.killall(tasks + beats)
        greenlet.settrace(previous)
        if pool is not None:
            pool.kill()


class Gevent(Model):
    name = "gevent"
    summary = "N greenlets on gevent's hub run items inline, gevent.sleep(0) between; one core"
    runs_on = "one OS thread, gevent hub"
    inline = True
    requires = ("gevent",)
    offload = False

    def run(self, job: Job, workers: int, probes: Probes) -> list[ItemRecord]:
        return _run(job, workers, probes, self.offload)


class GeventThreads(Gevent):
    name = "gevent+threads"
    summary = "greenlets waiting on gevent's ThreadPool (size = workers)"
    runs_on = "OS threads (gevent ThreadPool)"
    inline = False
    offload = True
