"""A ProcessPoolExecutor: one interpreter and one GIL per worker; items are pickled to them."""

from __future__ import annotations

import multiprocessing
from concurrent.futures import ProcessPoolExecutor

from cvbench.measure.probes import Probes
from cvbench.models.base import ItemRecord, Model, run_pool
from cvbench.work.item import identify, init_pool_worker
from cvbench.work.job import Job

# forkserver, not fork: a parent that has run OpenCV holds its thread pool's locks, and a
# forked child that touches cv2 can deadlock on them (seen here). The server is a clean
# interpreter with cv2 preloaded, so workers still start in milliseconds -- as long as what
# they unpickle lives in light modules (cvbench.work.item, .shm), not in this package of
# frameworks. The forkserver is one per parent: trio-parallel's forkserver workers share it.
CONTEXT = multiprocessing.get_context("forkserver")
CONTEXT.set_forkserver_preload(["cvbench.work.item", "cvbench.work.shm"])


def start_process_pool(job: Job, workers: int) -> tuple[ProcessPoolExecutor, list[int]]:
    """A warmed-up pool and its worker pids (they are the forkserver's children, not ours)."""
    barrier, pid_queue = CONTEXT.Barrier(workers), CONTEXT.Queue()
    pool = ProcessPoolExecutor(
        workers,
        mp_context=CONTEXT,
        initializer=init_pool_worker,
        initargs=(job.fn, barrier, pid_queue),
    )
    warm = [pool.submit(identify) for _ in range(workers)]
    for f in warm:
        f.result()
    pids = sorted(pid_queue.get(timeout=120) for _ in range(workers))
    return pool, pids


class Processes(Model):
    batches = True
    name = "processes"
    summary = "concurrent.futures.ProcessPoolExecutor (forkserver); items pickled to workers"
    runs_on = "worker processes"

    def run(self, job: Job, workers: int, probes: Probes) -> list[ItemRecord]:
        pool, pids = start_process_pool(job, workers)
        try:
            probes.place_processes(pids)
            return run_pool(job, probes, pool.submit)
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
