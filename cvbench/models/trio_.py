"""trio: inline (cooperative, one core) or offloading with trio.to_thread.run_sync.

trio has no process pool of its own (trio-parallel is a separate project), so there is no
trio+processes. Task switches are counted with a trio Instrument (before_task_step).
"""

from __future__ import annotations

import math
import threading
import time

import trio

from cvbench.job import Job
from cvbench.measure.probes import Probes, main_tid
from cvbench.models.base import ItemRecord, Model, barrier_prepare


class _StepCounter(trio.abc.Instrument):
    def __init__(self) -> None:
        self.steps = 0

    def before_task_step(self, task: trio.lowlevel.Task) -> None:
        self.steps += 1


async def _main(
    job: Job, workers: int, probes: Probes, offload: bool, counter: _StepCounter
) -> list[ItemRecord]:
    limiter = trio.CapacityLimiter(workers)
    if offload:
        barrier = threading.Barrier(workers)
        tids: list[int] = []

        async def warm() -> None:
            tids.append(
                await trio.to_thread.run_sync(barrier_prepare, job.fn, barrier, limiter=limiter)
            )

        async with trio.open_nursery() as nursery:
            for _ in range(workers):
                nursery.start_soon(warm)
        probes.place_threads(tids)
    else:
        job.fn.prepare()
        probes.place_threads([main_tid()])

    send, receive = trio.open_memory_channel(math.inf)
    records: list[ItemRecord] = []
    done = trio.Event()
    hb = probes.heartbeat

    async def heartbeat() -> None:
        while not done.is_set():
            hb.arm()
            await trio.sleep(hb.period_s)
            hb.beat()

    async def feeder(t0: int) -> None:
        async with send:
            for i, payload in enumerate(job.payloads):
                arrival = t0 + job.arrival_ns(i)
                delay = arrival - time.perf_counter_ns()
                if delay > 0:
                    await trio.sleep(delay / 1e9)
                send.send_nowait((i, payload, arrival))

    async def worker(w: int, rx: trio.MemoryReceiveChannel) -> None:
        async with rx:
            async for i, payload, arrival in rx:
                submitted = time.perf_counter_ns()
                if offload:
                    r = await trio.to_thread.run_sync(job.fn, i, payload, limiter=limiter)
                    records.append(ItemRecord.of(r, probes.worker_index(r.tid), arrival, submitted))
                else:
                    r = job.fn(i, payload)
                    records.append(ItemRecord.of(r, w, arrival, submitted))
                    await trio.sleep(0)  # the cooperative yield between items

    probes.begin()
    counter.steps = 0
    async with trio.open_nursery() as outer:
        if hb.enabled:
            outer.start_soon(heartbeat)
        async with trio.open_nursery() as nursery:
            nursery.start_soon(feeder, probes.begun_ns)
            for w in range(workers):
                nursery.start_soon(worker, w, receive.clone())
            await receive.aclose()
        done.set()
        probes.end()
        probes.user_switches = counter.steps
    return records


class Trio(Model):
    name = "trio"
    summary = "N trio tasks run items inline, checkpointing between items; one core"
    inline = True
    offload = False

    def run(self, job: Job, workers: int, probes: Probes) -> list[ItemRecord]:
        counter = _StepCounter()
        return trio.run(_main, job, workers, probes, self.offload, counter, instruments=[counter])


class TrioThreads(Trio):
    name = "trio+threads"
    summary = "trio awaiting trio.to_thread.run_sync (CapacityLimiter = workers)"
    inline = False
    offload = True
