"""processes+shm: the process pool with zero-copy input through one shared-memory block.

The parent copies every array item into one `multiprocessing.shared_memory` block per
repetition; a worker receives a ShmRef (name, offset, shape, dtype) and views the bytes in
place (cvbench.work.shm). Results are digests, as for every model, so nothing large travels
in either direction.

Placement happens in start-up, outside the timed region, and is timed on its own
(probes.extra["placement_s"], also inside startup_s). Why outside: every other model is timed
from items that are already in its memory, and the question this model answers is what the
pool costs once the data is where zero-copy needs it -- where an application would have
decoded its images in the first place. The copy (a memcpy plus first-touch page faults of a
fresh block) is the price of not doing that; add placement_s to wall_s to see it.

The block is unlinked in a finally, after the pool has shut down (so no worker maps it any
more): also when a worker dies (BrokenProcessPool) or on KeyboardInterrupt. Only a SIGKILLed
parent leaves it to the resource tracker, which unlinks it then.
"""

from __future__ import annotations

import dataclasses
import time

from cvbench.measure.probes import Probes
from cvbench.models.base import ItemRecord, Model, run_pool
from cvbench.models.processes import start_process_pool
from cvbench.work import shm
from cvbench.work.job import Job


class ProcessesShm(Model):
    name = "processes+shm"
    summary = "ProcessPoolExecutor (forkserver); array items placed once in shared memory"
    runs_on = "worker processes, input in shared memory"

    def run(self, job: Job, workers: int, probes: Probes) -> list[ItemRecord]:
        t0 = time.perf_counter()
        with shm.shared_items(job.payloads) as refs:
            probes.extra["placement_s"] = time.perf_counter() - t0
            pool, pids = start_process_pool(job, workers)
            try:
                probes.place_processes(pids)
                shared = dataclasses.replace(job, payloads=refs)
                return run_pool(
                    shared, probes, lambda fn, i, ref: pool.submit(shm.run_shared, fn, i, ref)
                )
            finally:
                pool.shutdown(wait=True, cancel_futures=True)
