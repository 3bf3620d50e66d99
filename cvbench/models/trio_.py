"""trio: inline (cooperative, one core) or offloading with trio.to_thread.run_sync.

trio has no process pool of its own (trio-parallel is a separate project), so there is no
trio+processes. Task switches are counted with a trio Instrument (before_task_step).
"""

from __future__ import annotations

import functools
import math
import threading

import trio

from cvbench.measure.probes import Probes, main_tid
from cvbench.models.base import ItemRecord, Model, barrier_prepare
from cvbench.models.cooperative import CooperativeBody, Runtime
from cvbench.work.job import Job


class _StepCounter(trio.abc.Instrument):
    def __init__(self) -> None:
        self.steps = 0

    def before_task_step(self, task: trio.lowlevel.Task) -> None:
        self.steps += 1


async def _start(
    job: Job, workers: int, probes: Probes, limiter: trio.CapacityLimiter, offload: bool
) -> None:
    """Start-up: N thread-cache threads at once (a barrier makes them distinct), or inline."""
    if not offload:
        job.fn.prepare()
        probes.place_threads([main_tid()])
        return
    barrier = threading.Barrier(workers)
    tids: list[int] = []

    async def warm() -> None:
        tid = await trio.to_thread.run_sync(barrier_prepare, job.fn, barrier, limiter=limiter)
        tids.append(tid)

    async with trio.open_nursery() as nursery:
        for _ in range(workers):
            nursery.start_soon(warm)
    probes.place_threads(tids)


async def _main(
    job: Job, workers: int, probes: Probes, offload: bool, counter: _StepCounter
) -> list[ItemRecord]:
    limiter = trio.CapacityLimiter(workers)
    await _start(job, workers, probes, limiter, offload)
    send, receive = trio.open_memory_channel(math.inf)

    async def put(item: object) -> None:
        send.send_nowait(item)

    async def to_thread(*args: object) -> object:
        return await trio.to_thread.run_sync(*args, limiter=limiter)

    body = CooperativeBody(
        job,
        workers,
        probes,
        Runtime(
            sleep=trio.sleep,
            put=put,
            get=receive.receive,
            offload=to_thread if offload else None,
        ),
    )
    probes.begin()
    counter.steps = 0
    async with trio.open_nursery() as outer:
        if probes.heartbeat.enabled:
            outer.start_soon(body.heartbeat)
        async with trio.open_nursery() as nursery:
            nursery.start_soon(body.feeder)
            for w in range(workers):
                nursery.start_soon(functools.partial(body.worker, w))
        body.done = True
        probes.end()
        probes.user_switches = counter.steps
    return body.records


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
