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
from collections.abc import Callable
from concurrent.futures import Executor

from cvbench.measure.probes import Probes, main_tid
from cvbench.models.base import ItemRecord, Model, barrier_prepare
from cvbench.models.cooperative import CooperativeBody, Runtime
from cvbench.models.processes import start_process_pool
from cvbench.work.job import Job
from cvbench.work.threadpool import DaemonThreadPool


class _CountedCoro(collections.abc.Coroutine):
    """Forwards to a coroutine, counting each step the event loop gives it."""

    __slots__ = ("_coro", "_count")

    def __init__(self, coro, count: list[int]) -> None:
        self._coro, self._count = coro, count

    def send(self, value):
        self._count[0] += 1
        return self._coro.send(value)

    def throw(self, *args):
        self._count[0] += 1
        return self._coro.throw(*args)

    def close(self) -> None:
        self._coro.close()

    def __await__(self):
        return self._coro.__await__()


async def _start(job: Job, workers: int, probes: Probes, offload: str | None) -> Executor | None:
    """Start-up: the executor (warmed, workers placed) or the inline worker's set-up."""
    loop = asyncio.get_running_loop()
    if offload == "threads":
        executor = DaemonThreadPool(workers, thread_name_prefix="cvbench-asyncio")
        barrier = threading.Barrier(workers)
        warm = [
            loop.run_in_executor(executor, barrier_prepare, job.fn, barrier) for _ in range(workers)
        ]
        probes.place_threads(list(await asyncio.gather(*warm)))
        return executor
    if offload == "processes":
        executor, pids = start_process_pool(job, workers)
        probes.place_processes(pids)
        return executor
    job.fn.prepare()
    probes.place_threads([main_tid()])
    return None


async def _main(job: Job, workers: int, probes: Probes, offload: str | None) -> list[ItemRecord]:
    loop = asyncio.get_running_loop()
    steps = [0]
    loop.set_task_factory(
        lambda lp, coro, **kw: asyncio.Task(_CountedCoro(coro, steps), loop=lp, **kw)
    )
    executor = await _start(job, workers, probes, offload)
    try:
        queue: asyncio.Queue = asyncio.Queue()

        async def put(item: object) -> None:
            queue.put_nowait(item)

        async def run_in_executor(*args: object) -> object:
            return await loop.run_in_executor(executor, *args)

        body = CooperativeBody(
            job,
            workers,
            probes,
            Runtime(
                sleep=asyncio.sleep,
                put=put,
                get=queue.get,
                offload=run_in_executor if executor is not None else None,
            ),
        )
        probes.begin()
        steps[0] = 0
        hb_task = asyncio.create_task(body.heartbeat()) if probes.heartbeat.enabled else None
        await asyncio.gather(body.feeder(), *[body.worker(w) for w in range(workers)])
        body.done = True
        probes.end()
        probes.user_switches = steps[0]
        if hb_task is not None:
            await hb_task
        return body.records
    except BaseException:
        if isinstance(executor, DaemonThreadPool):
            executor.abandon()  # a stuck thread must not hold the run (or its exit)
        elif executor is not None:
            executor.shutdown(wait=True, cancel_futures=True)
        raise
    else:
        if executor is not None:
            executor.shutdown(wait=True, cancel_futures=True)


class Asyncio(Model):
    name = "asyncio"
    summary = "N asyncio tasks run items inline, yielding between items; one core"
    runs_on = "one OS thread, asyncio event loop"
    inline = True
    offload: str | None = None

    @staticmethod
    def loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
        """The event loop to run on; None is asyncio's own (uvloop overrides this)."""
        return None

    def run(self, job: Job, workers: int, probes: Probes) -> list[ItemRecord]:
        with asyncio.Runner(loop_factory=self.loop_factory()) as runner:
            return runner.run(_main(job, workers, probes, self.offload))


class AsyncioThreads(Asyncio):
    batches = True
    name = "asyncio+threads"
    summary = "asyncio awaiting loop.run_in_executor(ThreadPoolExecutor)"
    runs_on = "OS threads, fed by an asyncio loop"
    inline = False
    offload = "threads"


class AsyncioProcesses(Asyncio):
    batches = True
    name = "asyncio+processes"
    summary = "asyncio awaiting loop.run_in_executor(ProcessPoolExecutor, forkserver)"
    runs_on = "worker processes, fed by an asyncio loop"
    inline = False
    offload = "processes"
