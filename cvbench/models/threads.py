"""A ThreadPoolExecutor: preemptive OS threads that share one GIL.

OpenCV releases the GIL inside its calls, so threads can use every core for the cv2 part.
"""

from __future__ import annotations

import threading

from cvbench.measure.probes import Probes
from cvbench.models.base import ItemRecord, Model, barrier_prepare, run_pool
from cvbench.work.job import Job
from cvbench.work.threadpool import pool_of


class Threads(Model):
    batches = True
    name = "threads"
    summary = "concurrent.futures.ThreadPoolExecutor; preemptive, GIL released inside cv2"
    runs_on = "OS threads"

    def run(self, job: Job, workers: int, probes: Probes) -> list[ItemRecord]:
        with pool_of(workers, "cvbench-worker") as pool:
            barrier = threading.Barrier(workers)
            warm = [pool.submit(barrier_prepare, job.fn, barrier) for _ in range(workers)]
            probes.place_threads([f.result() for f in warm])
            return run_pool(job, probes, pool.submit)
