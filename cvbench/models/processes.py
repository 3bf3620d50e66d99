"""A ProcessPoolExecutor (fork): one interpreter and one GIL per worker; items are pickled."""

from __future__ import annotations

import multiprocessing
from concurrent.futures import ProcessPoolExecutor

import psutil

from cvbench.job import Job
from cvbench.measure.probes import Probes
from cvbench.models.base import ItemRecord, Model, prepare_and_identify, run_pool
from cvbench.work import prepare_worker

# fork, stated rather than inherited: the default changes in Python 3.14, and fork keeps
# start-up cheap; the workers only run cv2 code, never the parent's threads.
CONTEXT = multiprocessing.get_context("fork")


def start_process_pool(job: Job, workers: int) -> tuple[ProcessPoolExecutor, list[int]]:
    """A warmed-up pool and its worker pids, in start order."""
    before = {p.pid for p in psutil.Process().children()}
    pool = ProcessPoolExecutor(
        workers, mp_context=CONTEXT, initializer=prepare_worker, initargs=(job.fn,)
    )
    warm = [pool.submit(prepare_and_identify, job.fn) for _ in range(workers)]
    for f in warm:
        f.result()
    pids = sorted(p.pid for p in psutil.Process().children() if p.pid not in before)
    return pool, pids


class Processes(Model):
    name = "processes"
    summary = "concurrent.futures.ProcessPoolExecutor (fork); arrays are pickled to workers"

    def run(self, job: Job, workers: int, probes: Probes) -> list[ItemRecord]:
        pool, pids = start_process_pool(job, workers)
        try:
            probes.place_processes(pids)
            return run_pool(job, probes, pool.submit)
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
