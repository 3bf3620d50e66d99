"""trio+processes: trio tasks awaiting trio-parallel's worker processes.

trio-parallel rather than anyio's to_process, because cvbench must control the workers:
- start-up: trio-parallel's forkserver worker type forks from the forkserver the process
  pools already use (cv2 preloaded), so a worker starts in milliseconds; anyio always starts
  a fresh `python -u -m anyio.to_process` per worker, which imports numpy and cv2 itself;
- pre-starting: a private `open_worker_context` whose cache starts empty, so N concurrent
  warm-up calls make exactly N workers, placed (affinity, nice) before timing, and the
  context's exit shuts them down with the repetition; anyio's pool is one per event loop,
  grown lazily, with no handle on its workers (and their stderr goes to /dev/null);
- cancellation: `kill_on_cancel=True` kills the worker running a cancelled item (Ctrl-C
  returns at once); anyio's `cancellable` does the same, so this is a draw;
- maintenance: anyio is the bigger, busier project; trio-parallel is small (one main
  maintainer) but tracks trio releases and is trio-native (no anyio layer under trio).
The rest is models/trio_.py: same body, tasks and step counting.
"""

from __future__ import annotations

import functools
import math

import trio

import cvbench.models.processes  # noqa: F401 - sets the shared forkserver's preload
from cvbench.models.trio_ import Offload, Startup, TrioFamily
from cvbench.work.item import prepare_and_identify


class TrioProcesses(TrioFamily):
    name = "trio+processes"
    summary = "trio awaiting trio_parallel run_sync (forkserver workers, CapacityLimiter = N)"
    runs_on = "worker processes, fed by a trio loop"
    requires = ("trio-parallel",)

    async def start(self, s: Startup) -> Offload | None:
        import trio_parallel

        ctx = await s.stack.enter_async_context(
            trio_parallel.open_worker_context(
                idle_timeout=math.inf,  # never retire a worker mid-run
                grace_period=10.0,
                worker_type=trio_parallel.WorkerType.FORKSERVER,
            )
        )
        pids: list[int] = []

        async def warm() -> None:
            pid, _ = await ctx.run_sync(prepare_and_identify, s.job.fn, limiter=s.limiter)
            pids.append(pid)

        async with trio.open_nursery() as nursery:
            for _ in range(s.workers):
                nursery.start_soon(warm)
        s.probes.place_processes(sorted(pids))
        # a worker runs the item in its main thread: the item's tid is the worker's pid
        return functools.partial(ctx.run_sync, limiter=s.limiter, kill_on_cancel=True)
