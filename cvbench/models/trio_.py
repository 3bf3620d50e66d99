"""trio: inline (cooperative, one core) or offloading with trio.to_thread.run_sync.

trio has no process pool of its own; trio+processes (models/trio_processes.py) reuses this
structure with trio-parallel's workers. The three are siblings on one base (`TrioFamily`): a
model's `start` is its only difference. Task switches are counted with a trio Instrument
(before_task_step). A stop signal ends a trio run trio's way (`StopOnSignal`).
"""

from __future__ import annotations

import contextlib
import functools
import math
import threading
import warnings
from abc import abstractmethod
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from types import FrameType

import trio

from cvbench.measure import interrupts
from cvbench.measure.probes import Probes, main_tid
from cvbench.models.base import ItemRecord, Model, barrier_prepare
from cvbench.models.cooperative import CooperativeBody, Runtime
from cvbench.work.item import ItemResult, WorkFn
from cvbench.work.job import Job

#: offload(fn, index, payload) -> ItemResult, awaited by a worker task
Offload = Callable[..., Awaitable[ItemResult]]


@dataclass(frozen=True)
class Startup:
    """What a trio model's start-up (untimed) gets: the job, the worker count, the probes that
    place its workers, the CapacityLimiter of ``workers`` tokens its offloads share, and the
    exit stack that closes what it starts when the repetition ends."""

    job: Job
    workers: int
    probes: Probes
    limiter: trio.CapacityLimiter
    stack: contextlib.AsyncExitStack


class _StepCounter(trio.abc.Instrument):
    def __init__(self) -> None:
        self.steps = 0

    def before_task_step(self, task: trio.lowlevel.Task) -> None:
        self.steps += 1


_OP_CODE = WorkFn.__call__.__code__


class StopOnSignal:
    """A stop signal while trio runs (measure/interrupts.py), ended trio's way: the run's
    outermost cancel scope is cancelled through the run's token (the one call trio makes safe
    from a signal handler), every task ends at its next checkpoint (trio-parallel kills the
    workers of cancelled items and shuts its context down, a cancelled to_thread item is
    abandoned), and ``run`` raises KeyboardInterrupt once trio.run has returned.

    A signal that lands inside the op itself, run inline by a task (the `trio` model), raises
    there, as trio's own Ctrl-C does in user code: that frame is not trio's (the task ends
    with the KeyboardInterrupt, which trio handles), and an item may take long."""

    def __init__(self) -> None:
        self.name: str | None = None  # the signal's, once one arrived
        self.scope = trio.CancelScope()
        self._token: trio.lowlevel.TrioToken | None = None

    def deliver(self, name: str, frame: FrameType | None) -> bool:
        """Called by the stop handler, inside the signal handler."""
        if _in_op(frame):
            return False
        self.name = self.name or name
        token = self._token
        if token is not None:
            with contextlib.suppress(trio.RunFinishedError):  # ending anyway: run() raises
                token.run_sync_soon(self.scope.cancel)
        return True

    def started(self) -> None:
        """First thing in the run, inside ``scope``: from now on a stop cancels it."""
        self._token = trio.lowlevel.current_trio_token()
        if self.name is not None:  # arrived before the token was known
            self.scope.cancel()

    def run(self, fn: Callable[[], list[ItemRecord]]) -> list[ItemRecord]:
        """``fn()`` (the trio.run) with stop signals deferred to this object."""
        error: BaseException | None = None
        with interrupts.deferring(self.deliver):
            try:
                records = fn()
            except KeyboardInterrupt:
                raise  # raised in the op: the stop, as it is
            except BaseException as exc:
                if self.name is None:
                    raise
                error = exc  # what the cancelled run ended with (the deadline's, say)
        # checked once no longer deferring: a signal from here on raises by itself
        if self.name is not None:
            raise KeyboardInterrupt(self.name) from error
        return records


def _in_op(frame: FrameType | None) -> bool:
    """Whether the main thread was interrupted inside an item's call (the op, inline)."""
    while frame is not None:
        if frame.f_code is _OP_CODE:
            return True
        frame = frame.f_back
    return False


async def _main(
    model: TrioFamily,
    job: Job,
    workers: int,
    probes: Probes,
    counter: _StepCounter,
    stop: StopOnSignal,
) -> list[ItemRecord]:
    with stop.scope:
        stop.started()
        return await _body(model, job, workers, probes, counter)
    return []  # cancelled by a stop signal: StopOnSignal.run raises KeyboardInterrupt


async def _body(
    model: TrioFamily, job: Job, workers: int, probes: Probes, counter: _StepCounter
) -> list[ItemRecord]:
    async with contextlib.AsyncExitStack() as stack:
        limiter = trio.CapacityLimiter(workers)
        offload = await model.start(Startup(job, workers, probes, limiter, stack))
        send, receive = trio.open_memory_channel(math.inf)

        async def put(item: object) -> None:
            send.send_nowait(item)

        body = CooperativeBody(
            job,
            workers,
            probes,
            Runtime(sleep=trio.sleep, put=put, get=receive.receive, offload=offload),
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


def _leaves(exc: BaseException) -> list[BaseException]:
    if isinstance(exc, BaseExceptionGroup):
        return [leaf for sub in exc.exceptions for leaf in _leaves(sub)]
    return [exc]


def run_unwrapped(fn: Callable[..., list[ItemRecord]], *args: object, **kw: object) -> list:
    """trio.run, with nursery groups of one failure raised as that failure: the row's error
    then names it (BrokenWorkerProcessError, ...), and a KeyboardInterrupt stays one, so the
    run is interrupted instead of recording a failed row.

    A stop signal ends the run trio's way (StopOnSignal); the watchdog's deadline still raises
    RepetitionTimeout wherever the main thread is (a cancelled run may wait for ever: a shielded
    warm-up call, an op that never checkpoints), and trio then warns, when that loop is garbage
    collected, that the run was "abandoned without properly finishing": after cvbench's last
    line, about a run cvbench stopped on purpose. That warning is filtered (process-wide: the
    collection comes later), and so is the one trio gives when it finds a signal wakeup fd
    set: the watchdog's, which notices a stop signal while the main thread is stuck
    (measure/stop_notice.py); trio puts it back when its run ends."""
    for message in ("Trio guest run got abandoned", "It looks like Trio's signal handling code"):
        warnings.filterwarnings("ignore", message=message, category=RuntimeWarning)
    try:
        return fn(*args, **kw)
    except BaseExceptionGroup as group:
        leaves = _leaves(group)
        interrupt = [e for e in leaves if isinstance(e, KeyboardInterrupt)]
        if interrupt:
            raise interrupt[0] from group
        if len(leaves) == 1:
            raise leaves[0] from group
        raise


class TrioFamily(Model):
    """N trio tasks take the items; what runs an item is the model's ``start``."""

    requires = ("trio",)

    @abstractmethod
    async def start(self, s: Startup) -> Offload | None:
        """Start-up, untimed: whatever runs the items, placed; resources go on ``s.stack``.
        Returns how a worker task offloads an item, or None to run it inline."""

    def run(self, job: Job, workers: int, probes: Probes) -> list[ItemRecord]:
        counter, stop = _StepCounter(), StopOnSignal()
        return stop.run(
            lambda: run_unwrapped(
                trio.run, _main, self, job, workers, probes, counter, stop, instruments=[counter]
            )
        )


class Trio(TrioFamily):
    name = "trio"
    summary = "N trio tasks run items inline, checkpointing between items; one core"
    runs_on = "one OS thread, trio event loop"
    inline = True

    async def start(self, s: Startup) -> Offload | None:
        s.job.fn.prepare()
        s.probes.place_threads([main_tid()])
        return None


class TrioThreads(TrioFamily):
    batches = True
    name = "trio+threads"
    summary = "trio awaiting trio.to_thread.run_sync (CapacityLimiter = workers)"
    runs_on = "OS threads, fed by a trio loop"

    async def start(self, s: Startup) -> Offload | None:
        """N thread-cache threads at once (a barrier makes them distinct)."""
        barrier = threading.Barrier(s.workers)
        tids: list[int] = []

        async def warm() -> None:
            tid = await trio.to_thread.run_sync(
                barrier_prepare, s.job.fn, barrier, limiter=s.limiter
            )
            tids.append(tid)

        async with trio.open_nursery() as nursery:
            for _ in range(s.workers):
                nursery.start_soon(warm)
        s.probes.place_threads(tids)
        # a cancelled item (a stop signal, a sibling's failure) is abandoned, not awaited: a
        # thread stuck in the op must not hold the run (as asyncio+threads abandons its pool)
        return functools.partial(trio.to_thread.run_sync, limiter=s.limiter, abandon_on_cancel=True)
