"""asyncio: inline (cooperative, one core), or offloading to its executors.

Inline, N tasks take items from an asyncio.Queue and yield (`await asyncio.sleep(0)`) between
items: nothing can run while a cv2 call runs, which the heartbeat task shows as lag. The
offload variants await loop.run_in_executor on a thread or (forkserver) process pool.
User-level switches are task steps, counted by wrapping every task's coroutine.
"""

from __future__ import annotations

import asyncio
import collections.abc
import threading
import time
from concurrent.futures import Executor, ThreadPoolExecutor

from cvbench.job import Job
from cvbench.measure.probes import Probes, main_tid
from cvbench.models.base import ItemRecord, Model, barrier_prepare
from cvbench.models.processes import start_process_pool


class _CountedCoro(collections.abc.Coroutine):
    """Forwards to a coroutine, counting each step the event loop gives it."""

    __slots__ = ("_coro", "_count")

    def __init__(self, coro, count: list[int]) -> None:  # noqa: ANN001
        self._coro, self._count = coro, count

    def send(self, value):  # noqa: ANN001, ANN201
        self._count[0] += 1
        return self._coro.send(value)

    def throw(self, *args):  # noqa: ANN002, ANN201
        self._count[0] += 1
        return self._coro.throw(*args)

    def close(self) -> None:
        self._coro.close()

    def __await__(self):  # noqa: ANN204
        return self._coro.__await__()


async def _main(job: Job, workers: int, probes: Probes, offload: str | None) -> list[ItemRecord]:
    loop = asyncio.get_running_loop()
    steps = [0]
    loop.set_task_factory(
        lambda lp, coro, **kw: asyncio.Task(_CountedCoro(coro, steps), loop=lp, **kw)
    )
    executor: Executor | None = None
    if offload == "threads":
        executor = ThreadPoolExecutor(workers, thread_name_prefix="cvbench-asyncio")
        barrier = threading.Barrier(workers)
        tids = await asyncio.gather(
            *[
                loop.run_in_executor(executor, barrier_prepare, job.fn, barrier)
                for _ in range(workers)
            ]
        )
        probes.place_threads(list(tids))
    elif offload == "processes":
        executor, pids = start_process_pool(job, workers)
        probes.place_processes(pids)
    else:
        job.fn.prepare()
        probes.place_threads([main_tid()])
    try:
        queue: asyncio.Queue = asyncio.Queue()
        records: list[ItemRecord] = []
        done = asyncio.Event()
        hb = probes.heartbeat

        async def heartbeat() -> None:
            while not done.is_set():
                hb.arm()
                await asyncio.sleep(hb.period_s)
                hb.beat()

        async def feeder(t0: int) -> None:
            for i, payload in enumerate(job.payloads):
                arrival = t0 + job.arrival_ns(i)
                delay = arrival - time.perf_counter_ns()
                if delay > 0:
                    await asyncio.sleep(delay / 1e9)
                queue.put_nowait((i, payload, arrival))
            for _ in range(workers):
                queue.put_nowait(None)

        async def worker(w: int) -> None:
            while (item := await queue.get()) is not None:
                i, payload, arrival = item
                submitted = time.perf_counter_ns()
                if executor is None:
                    r = job.fn(i, payload)
                    records.append(ItemRecord.of(r, w, arrival, submitted))
                    await asyncio.sleep(0)  # the cooperative yield between items
                else:
                    r = await loop.run_in_executor(executor, job.fn, i, payload)
                    records.append(ItemRecord.of(r, probes.worker_index(r.tid), arrival, submitted))

        probes.begin()
        steps[0] = 0
        hb_task = asyncio.create_task(heartbeat()) if hb.enabled else None
        await asyncio.gather(feeder(probes.begun_ns), *[worker(w) for w in range(workers)])
        done.set()
        probes.end()
        probes.user_switches = steps[0]
        if hb_task is not None:
            await hb_task
        return records
    finally:
        if executor is not None:
            executor.shutdown(wait=True, cancel_futures=True)


class Asyncio(Model):
    name = "asyncio"
    summary = "N asyncio tasks run items inline, yielding between items; one core"
    inline = True
    offload: str | None = None

    def run(self, job: Job, workers: int, probes: Probes) -> list[ItemRecord]:
        return asyncio.run(_main(job, workers, probes, self.offload))


class AsyncioThreads(Asyncio):
    name = "asyncio+threads"
    summary = "asyncio awaiting loop.run_in_executor(ThreadPoolExecutor)"
    inline = False
    offload = "threads"


class AsyncioProcesses(Asyncio):
    name = "asyncio+processes"
    summary = "asyncio awaiting loop.run_in_executor(ProcessPoolExecutor, forkserver)"
    inline = False
    offload = "processes"
