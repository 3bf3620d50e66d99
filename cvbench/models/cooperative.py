"""The body shared by the async frameworks: a heartbeat, a feeder and N workers.

asyncio, trio and curio differ in how they sleep, queue, offload and spawn, not in what the
tasks do. Each framework file passes its primitives in a Runtime and spawns the three task
functions its own way, so the measured behaviour is the framework's, and the logic is written
once.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from cvbench.measure.probes import Probes
from cvbench.models.base import ItemRecord, as_results
from cvbench.work.item import ChunkFn, ItemResult, chunks
from cvbench.work.job import Job


@dataclass
class Runtime:
    """A framework's primitives, as plain awaitable callables."""

    sleep: Callable[[float], Awaitable[Any]]
    put: Callable[[Any], Awaitable[Any]]
    get: Callable[[], Awaitable[Any]]
    #: offload(fn, index, payload) -> ItemResult; None runs items inline on the loop thread
    offload: Callable[..., Awaitable[ItemResult]] | None = None


class CooperativeBody:
    """Task functions for one timed region; `records` fills as items finish."""

    def __init__(self, job: Job, workers: int, probes: Probes, rt: Runtime) -> None:
        self.job, self.workers, self.probes, self.rt = job, workers, probes, rt
        self.records: list[ItemRecord] = []
        self.done = False  # one OS thread runs all tasks: a plain flag is enough

    async def heartbeat(self) -> None:
        hb = self.probes.heartbeat
        while not self.done:
            hb.arm()
            await self.rt.sleep(hb.period_s)
            hb.beat()

    async def feeder(self) -> None:
        """Release items at their arrival times (all at once for a batch), then N sentinels."""
        t0 = self.probes.begun_ns
        if self.rt.offload is not None and self.job.chunksize > 1 and self.job.arrivals_ns is None:
            for chunk in chunks(self.job.payloads, self.job.chunksize, self.job.tail_workers):
                await self.rt.put((-1, chunk, t0))  # a batch, shipped as Pool.map does
            for _ in range(self.workers):
                await self.rt.put(None)
            return
        for i, payload in enumerate(self.job.payloads):
            arrival = t0 + self.job.arrival_ns(i)
            delay = arrival - time.perf_counter_ns()
            if delay > 0:
                await self.rt.sleep(delay / 1e9)
            await self.rt.put((i, payload, arrival))
        for _ in range(self.workers):
            await self.rt.put(None)

    async def worker(self, w: int) -> None:
        fn, rt, probes = self.job.fn, self.rt, self.probes
        while (item := await rt.get()) is not None:
            i, payload, arrival = item
            submitted = time.perf_counter_ns()
            if rt.offload is None:
                self.records.append(ItemRecord.of(fn(i, payload), w, arrival, submitted))
                await rt.sleep(0)  # the cooperative yield between items
            else:
                result = await rt.offload(ChunkFn(fn) if i < 0 else fn, i, payload)
                # a process worker reports its main thread, whose tid is its pid
                self.records += [
                    ItemRecord.of(r, probes.worker_index(r.tid), arrival, submitted)
                    for r in as_results(result)
                ]
