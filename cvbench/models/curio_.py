"""curio: inline (cooperative, one core) or offloading with run_in_thread / run_in_process.

curio's process workers are spawned (not forked) by curio itself and started lazily; start-up
launches all of them before timing. Task switches are counted with a curio Activation.

curio itself is imported on use, never here: upstream curio 1.6 (its last release, 2022) dies
at import on Python 3.12+ (`multiprocessing.connection.CHALLENGE` became `_CHALLENGE`), and a
framework that cannot load must make these models unavailable, not break `import cvbench`.
pyproject.toml installs the curio-compat fork (same `curio` package, 1.6.7) on 3.12+.
"""

from __future__ import annotations

import sys
import threading
from typing import Any

from cvbench.measure.probes import Probes, main_tid
from cvbench.models.base import ItemRecord, Model, barrier_prepare
from cvbench.models.cooperative import CooperativeBody, Runtime
from cvbench.work.item import prepare_and_identify
from cvbench.work.job import Job

# Mirrors pyproject.toml's environment markers (for `cvbench models`' dependency column).
_DIST = "curio" if sys.version_info < (3, 12) else "curio-compat"


def _switch_counter() -> Any:
    from curio.kernel import Activation

    class SwitchCounter(Activation):
        def __init__(self) -> None:
            self.switches = 0

        def running(self, task) -> None:
            self.switches += 1

    return SwitchCounter()


async def _start(job: Job, workers: int, probes: Probes, offload: str | None):
    """Start-up: N concurrent warm-up calls make curio launch N distinct workers."""
    import curio

    if offload == "threads":
        barrier = threading.Barrier(workers)
        warm = [
            await curio.spawn(curio.run_in_thread, barrier_prepare, job.fn, barrier)
            for _ in range(workers)
        ]
        probes.place_threads([await t.join() for t in warm])
        return curio.run_in_thread
    if offload == "processes":
        warm = [
            await curio.spawn(curio.run_in_process, prepare_and_identify, job.fn)
            for _ in range(workers)
        ]
        probes.place_processes(sorted({(await t.join())[0] for t in warm}))
        return curio.run_in_process
    job.fn.prepare()
    probes.place_threads([main_tid()])
    return None


async def _main(
    job: Job, workers: int, probes: Probes, offload: str | None, counter: Any
) -> list[ItemRecord]:
    import curio

    call = await _start(job, workers, probes, offload)
    queue = curio.Queue()
    body = CooperativeBody(
        job,
        workers,
        probes,
        Runtime(
            sleep=curio.sleep,
            put=queue.put,
            get=queue.get,
            offload=call,
        ),
    )
    probes.begin()
    counter.switches = 0
    hb_task = await curio.spawn(body.heartbeat) if probes.heartbeat.enabled else None
    tasks = [await curio.spawn(body.feeder)]
    tasks += [await curio.spawn(body.worker, w) for w in range(workers)]
    for t in tasks:
        await t.join()
    body.done = True
    probes.end()
    probes.user_switches = counter.switches
    if hb_task is not None:
        await hb_task.join()
    return body.records


class Curio(Model):
    name = "curio"
    summary = "N curio tasks run items inline, yielding between items; one core"
    runs_on = "one OS thread, curio kernel"
    requires = (_DIST,)
    imports = ("curio",)
    inline = True
    offload: str | None = None

    def run(self, job: Job, workers: int, probes: Probes) -> list[ItemRecord]:
        import curio
        import curio.workers

        counter = _switch_counter()
        saved = curio.workers.MAX_WORKER_PROCESSES
        curio.workers.MAX_WORKER_PROCESSES = workers  # read when the kernel makes its pool
        try:
            return curio.run(
                _main, job, workers, probes, self.offload, counter, activations=[counter]
            )
        finally:
            curio.workers.MAX_WORKER_PROCESSES = saved


class CurioThreads(Curio):
    batches = True
    name = "curio+threads"
    summary = "curio awaiting curio.run_in_thread"
    runs_on = "OS threads, fed by a curio kernel"
    inline = False
    offload = "threads"


class CurioProcesses(Curio):
    batches = True
    name = "curio+processes"
    summary = "curio awaiting curio.run_in_process (spawned workers)"
    runs_on = "spawned worker processes, fed by a curio kernel"
    inline = False
    offload = "processes"
