"""One item after another in the main thread: the baseline every speedup is measured against."""

from __future__ import annotations

import time

from cvbench.measure.probes import Probes, main_tid
from cvbench.models.base import ItemRecord, Model, sleep_until
from cvbench.work.job import Job


class Sequential(Model):
    name = "sequential"
    summary = "a plain for-loop in the main thread; the baseline"
    runs_on = "the main thread, a for-loop"
    sweeps_workers = False

    def run(self, job: Job, workers: int, probes: Probes) -> list[ItemRecord]:
        fn = job.fn
        fn.prepare()
        probes.place_threads([main_tid()])
        done = []
        probes.begin(thread_heartbeat=True)
        t0 = probes.begun_ns
        if job.arrivals_ns is None:  # a batch: nothing to wait for
            for i, payload in enumerate(job.payloads):
                done.append((t0, time.perf_counter_ns(), fn(i, payload)))
        else:
            for i, payload in enumerate(job.payloads):
                arrival = t0 + job.arrival_ns(i)
                sleep_until(arrival)
                done.append((arrival, time.perf_counter_ns(), fn(i, payload)))
        probes.end()
        # the records are built after the region: inside it, one per item was ~3 us of a
        # 0.6 ms threshold item, and the sequential model is the harness overhead's yardstick
        return [ItemRecord.of(r, 0, arrival, submitted) for arrival, submitted, r in done]
