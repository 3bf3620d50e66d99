"""uvloop: the asyncio models on uvloop's libuv-based event loop instead of asyncio's own.

Same tasks, queue, executor and step counting as models/asyncio_.py; only the loop differs
(asyncio.Runner(loop_factory=uvloop.new_event_loop)), so any difference in the rows is the
loop's.

Found here: throughput equal to asyncio within the noise; the heartbeat lag is lower, partly
for a reason that is not responsiveness. libuv computes a timer's due time from the loop's
cached clock (millisecond resolution, refreshed once per iteration), so a 1 ms sleep armed
right after an item is shortened by that item: it fires up to one item early by
perf_counter, which the heartbeat records as lag 0. With 5 ms inline items: asyncio lag p50
16 ms (about 3 items), uvloop 9 ms (about 2); with 0.3 ms items: 1.0 ms vs 0 (raw -0.04 ms).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from cvbench.models.asyncio_ import Asyncio


class Uvloop(Asyncio):
    name = "uvloop"
    summary = "N asyncio tasks on uvloop's loop run items inline, yielding between items; one core"
    runs_on = "one OS thread, uvloop event loop"
    requires = ("uvloop",)

    @staticmethod
    def loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
        import uvloop  # imported on use: listing the models must not need it

        return uvloop.new_event_loop


class UvloopThreads(Uvloop):
    batches = True
    name = "uvloop+threads"
    summary = "asyncio on uvloop awaiting loop.run_in_executor(ThreadPoolExecutor)"
    runs_on = "OS threads, fed by a uvloop loop"
    inline = False
    offload = "threads"
