"""curio: inline (cooperative, one core) or offloading with run_in_thread / run_in_process.

curio's process workers are spawned (not forked) by curio itself and started lazily; start-up
launches all of them before timing. Task switches are counted with a curio Activation.
"""

from __future__ import annotations

import threading
import time

import curio
import curio.workers
from curio.kernel import Activation

from cvbench.job import Job
from cvbench.measure.probes import Probes, main_tid
from cvbench.models.base import ItemRecord, Model, barrier_prepare, prepare_and_identify


class _SwitchCounter(Activation):
    def __init__(self) -> None:
        self.switches = 0

    def running(self, task) -> None:  # noqa: ANN001
        self.switches += 1


async def _main(
    job: Job, workers: int, probes: Probes, offload: str | None, counter: _SwitchCounter
) -> list[ItemRecord]:
    if offload == "threads":
        barrier = threading.Barrier(workers)
        warm = [
            await curio.spawn(curio.run_in_thread, barrier_prepare, job.fn, barrier)
            for _ in range(workers)
        ]
        probes.place_threads([await t.join() for t in warm])
        call = curio.run_in_thread
    elif offload == "processes":
        warm = [
            await curio.spawn(curio.run_in_process, prepare_and_identify, job.fn)
            for _ in range(workers)
        ]
        probes.place_processes(sorted({(await t.join())[0] for t in warm}))
        call = curio.run_in_process
    else:
        job.fn.prepare()
        probes.place_threads([main_tid()])
        call = None

    queue = curio.Queue()
    records: list[ItemRecord] = []
    done = curio.Event()
    hb = probes.heartbeat

    async def heartbeat() -> None:
        while not done.is_set():
            hb.arm()
            await curio.sleep(hb.period_s)
            hb.beat()

    async def feeder(t0: int) -> None:
        for i, payload in enumerate(job.payloads):
            arrival = t0 + job.arrival_ns(i)
            delay = arrival - time.perf_counter_ns()
            if delay > 0:
                await curio.sleep(delay / 1e9)
            await queue.put((i, payload, arrival))
        for _ in range(workers):
            await queue.put(None)

    async def worker(w: int) -> None:
        while (item := await queue.get()) is not None:
            i, payload, arrival = item
            submitted = time.perf_counter_ns()
            if call is None:
                r = job.fn(i, payload)
                records.append(ItemRecord.of(r, w, arrival, submitted))
                await curio.sleep(0)  # the cooperative yield between items
            else:
                r = await call(job.fn, i, payload)
                # a process worker's items report its main thread, whose tid is its pid
                records.append(ItemRecord.of(r, probes.worker_index(r.tid), arrival, submitted))

    probes.begin()
    counter.switches = 0
    hb_task = await curio.spawn(heartbeat) if hb.enabled else None
    tasks = [await curio.spawn(feeder, probes.begun_ns)]
    tasks += [await curio.spawn(worker, w) for w in range(workers)]
    for t in tasks:
        await t.join()
    await done.set()
    probes.end()
    probes.user_switches = counter.switches
    if hb_task is not None:
        await hb_task.join()
    return records


class Curio(Model):
    name = "curio"
    summary = "N curio tasks run items inline, yielding between items; one core"
    inline = True
    offload: str | None = None

    def run(self, job: Job, workers: int, probes: Probes) -> list[ItemRecord]:
        counter = _SwitchCounter()
        saved = curio.workers.MAX_WORKER_PROCESSES
        curio.workers.MAX_WORKER_PROCESSES = workers  # read when the kernel makes its pool
        try:
            return curio.run(
                _main, job, workers, probes, self.offload, counter, activations=[counter]
            )
        finally:
            curio.workers.MAX_WORKER_PROCESSES = saved


class CurioThreads(Curio):
    name = "curio+threads"
    summary = "curio awaiting curio.run_in_thread"
    inline = False
    offload = "threads"


class CurioProcesses(Curio):
    name = "curio+processes"
    summary = "curio awaiting curio.run_in_process (spawned workers)"
    inline = False
    offload = "processes"
