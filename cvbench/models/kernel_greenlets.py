"""kernel: N worker greenlets preempted by a SIGALRM timer under an emulated Linux policy.

The live counterpart of ``cvbench simulate``: the same policy objects (eevdf by default) decide
who runs, and a timer interrupt takes the CPU back at slice end, so no worker ever yields on
its own.  Everything shares one OS thread: one core.  The point it makes with numbers: a cv2
call cannot be preempted from user space (the handler waits for the call to return), so the
heartbeat lag stays at least as long as the longest cv2 call, whatever the policy.
"""

from __future__ import annotations

import itertools
import threading
import time
from typing import Any

from cvbench.emulated_kernel.live.greenlets import LiveKernel
from cvbench.emulated_kernel.policies import DEFAULT_HZ
from cvbench.measure.probes import Probes, main_tid
from cvbench.models.base import ItemRecord, Model
from cvbench.work.job import Job


class EmulatedKernel(Model):
    name = "kernel"
    summary = "N greenlets preempted by a SIGALRM timer under an emulated Linux policy; one core"
    runs_on = "one OS thread, greenlets preempted by SIGALRM"
    requires = ("greenlet",)
    inline = True
    policy = "eevdf"

    def __init__(
        self, policy: str | None = None, *, slice_ns: int | None = None, hz: int = DEFAULT_HZ
    ) -> None:
        if policy is not None:
            self.policy = policy
        self.slice_ns = slice_ns
        self.hz = hz
        #: counters of the last run (LiveStats.to_dict()): dispatches, preemptions, ...
        self.last_stats: dict[str, Any] = {}

    def run(self, job: Job, workers: int, probes: Probes) -> list[ItemRecord]:
        if threading.current_thread() is not threading.main_thread():
            raise RuntimeError("the kernel model must run in the main thread (SIGALRM)")
        kernel = LiveKernel(self.policy, slice_ns=self.slice_ns, hz=self.hz)  # validates policy
        fn = job.fn
        fn.prepare()
        probes.place_threads([main_tid()])
        records: list[ItemRecord] = []
        # next() on these is one C call, hence atomic under preemption (workers race like threads)
        claims = itertools.count()
        finished = itertools.count(1)
        done: list[bool] = [] if job.items else [True]  # non-empty: the heartbeat stops
        hb = probes.heartbeat

        def heartbeat() -> None:
            while not done:
                hb.arm()
                kernel.sleep(hb.period_s)
                hb.beat()  # even after the region: a starved tick (fifo) was due inside it

        def worker(w: int, t0: int) -> None:
            while (i := next(claims)) < job.items:
                arrival = t0 + job.arrival_ns(i)
                kernel.sleep_until(arrival)  # stream: a claimed item is waited for, not polled
                submitted = time.perf_counter_ns()
                with kernel.work():
                    result = fn(i, job.payloads[i])
                records.append(ItemRecord.of(result, w, arrival, submitted))
                if next(finished) == job.items:
                    done.append(True)
                    end_region()

        def end_region() -> None:
            """The last item is done: the region (and its counters) end; the rest winds down."""
            self.last_stats = kernel.stats.to_dict()
            probes.user_switches = kernel.stats.dispatches
            probes.extra.update(
                preemptions=kernel.stats.preemptions,
                deferred_signals=kernel.stats.deferred_signals,
            )
            probes.end()

        probes.begin()
        t0 = probes.begun_ns
        if hb.enabled:
            kernel.spawn(heartbeat, name="heartbeat")
        for w in range(workers):
            kernel.spawn(worker, w, t0, name=f"worker{w}")
        self.last_stats = {}
        kernel.run()
        if job.items == 0:
            end_region()
        return records
