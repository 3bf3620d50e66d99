"""greenlet: N greenlets on a tiny round-robin hub; each switches back after every item.

Greenlets are pure user-space coroutines with no event loop of their own, so the hub here is
the smallest scheduler that can do the job (a ready queue plus timers). Switches are counted
with greenlet.settrace.
"""

from __future__ import annotations

import heapq
import itertools
import time
from collections import deque
from collections.abc import Callable

import greenlet

from cvbench.measure.probes import Probes, main_tid
from cvbench.models.base import ItemRecord, Model
from cvbench.work.job import Job


class Hub:
    """Ready queue + timer heap, run by the greenlet that calls run()."""

    def __init__(self) -> None:
        self.ready: deque[greenlet.greenlet] = deque()
        self.timers: list[tuple[int, int, greenlet.greenlet]] = []
        self._seq = itertools.count()
        self.loop = greenlet.getcurrent()

    def spawn(self, fn: Callable[..., None], *args: object) -> greenlet.greenlet:
        g = greenlet.greenlet(lambda: fn(*args), parent=self.loop)
        self.ready.append(g)
        return g

    def yield_now(self) -> None:
        self.ready.append(greenlet.getcurrent())
        self.loop.switch()

    def sleep(self, seconds: float) -> None:
        due = time.perf_counter_ns() + int(seconds * 1e9)
        heapq.heappush(self.timers, (due, next(self._seq), greenlet.getcurrent()))
        self.loop.switch()

    def park(self) -> None:
        """Suspend until someone calls wake() with this greenlet."""
        self.loop.switch()

    def wake(self, g: greenlet.greenlet) -> None:
        self.ready.append(g)

    def run(self) -> None:
        """Due timers go to the front: a greenlet that yields lets a late sleeper run first."""
        while self.ready or self.timers:
            now = time.perf_counter_ns()
            due = []
            while self.timers and self.timers[0][0] <= now:
                due.append(heapq.heappop(self.timers)[2])
            self.ready.extendleft(reversed(due))
            if self.ready:
                self.ready.popleft().switch()
            elif self.timers:
                time.sleep(max(0, self.timers[0][0] - now) / 1e9)


class SwitchCounter:
    """greenlet.settrace callback counting switches (and throws) on the calling thread."""

    def __init__(self) -> None:
        self.switches = 0

    def __call__(self, event: str, args: object) -> None:
        if event in ("switch", "throw"):
            self.switches += 1


class Greenlet(Model):
    name = "greenlet"
    summary = "N greenlets on a round-robin hub, switching back after every item; one core"
    runs_on = "one OS thread, greenlets on a small hub"
    requires = ("greenlet",)
    inline = True

    def run(self, job: Job, workers: int, probes: Probes) -> list[ItemRecord]:
        job.fn.prepare()
        probes.place_threads([main_tid()])
        hub = Hub()
        items: deque[tuple[int, object, int]] = deque()
        waiting: deque[greenlet.greenlet] = deque()
        records: list[ItemRecord] = []
        state = {"fed": False, "done": False}
        hb = probes.heartbeat

        def heartbeat() -> None:
            while not state["done"]:
                hb.arm()
                hub.sleep(hb.period_s)
                hb.beat()

        def feeder(t0: int) -> None:
            for i, payload in enumerate(job.payloads):
                arrival = t0 + job.arrival_ns(i)
                delay = arrival - time.perf_counter_ns()
                if delay > 0:
                    hub.sleep(delay / 1e9)
                items.append((i, payload, arrival))
                if waiting:
                    hub.wake(waiting.popleft())
            state["fed"] = True
            while waiting:
                hub.wake(waiting.popleft())

        def worker(w: int) -> None:
            while True:
                if not items:
                    if state["fed"]:
                        break
                    waiting.append(greenlet.getcurrent())
                    hub.park()
                    continue
                i, payload, arrival = items.popleft()
                submitted = time.perf_counter_ns()
                records.append(ItemRecord.of(job.fn(i, payload), w, arrival, submitted))
                hub.yield_now()  # the cooperative yield between items
            if len(records) == job.items and not state["done"]:
                state["done"] = True
                probes.user_switches = counter.switches
                probes.end()  # the last item is done: the region ends, the heartbeat winds down

        counter = SwitchCounter()
        previous = greenlet.settrace(counter)
        try:
            probes.begin()
            counter.switches = 0
            if hb.enabled:
                hub.spawn(heartbeat)
            hub.spawn(feeder, probes.begun_ns)
            for w in range(workers):
                hub.spawn(worker, w)
            hub.run()
        finally:
            greenlet.settrace(previous)
        return records
