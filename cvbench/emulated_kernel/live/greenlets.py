"""The live kernel: greenlets preempted by a timer interrupt, scheduled by a real policy.

Why: the simulator says what a scheduler *should* do; this runs real Python code under the
very same policy objects (``emulated_kernel/policies/``) so that the difference between the
emulation and real preemption shows.  All greenlets share one OS thread, so the live kernel is
one emulated CPU (``ncpus=1``).

How it works:

* the greenlet that calls :meth:`LiveKernel.run` is the *kernel*; every task is a greenlet whose
  parent is the kernel.  A task enters the kernel by switching to it with a request (sleep,
  yield, exit, interrupt); the kernel does the policy's bookkeeping and switches to the pick.
* the *interrupt* is ``signal.setitimer(ITIMER_REAL)`` + a SIGALRM handler.  The timer is
  one-shot and re-armed after every kernel entry for the earliest of: the policy's next check
  of the running task (rounded up to the tick for cfs/eevdf, exact for rr, as in ``sim/engine.py``)
  and the earliest sleeper.  The handler runs inside whatever task is current and, unless the
  kernel is busy (the ``_in_kernel`` flag: its critical section), switches to the kernel.
* clocks: tasks are charged the OS thread's CPU time (``time.thread_time_ns``), so a host
  preemption of the whole process is steal time charged to nobody; timers, sleeps and the tick
  grid use ``perf_counter_ns``.
* the lesson: CPython runs signal handlers only between bytecodes of the main thread, so a
  running cv2 call cannot be interrupted.  The handler runs when the call returns; we record how
  late (``max_signal_delay_ns`` wall, ``max_signal_cpu_delay_ns`` CPU), count signals held back
  by C code (``deferred_signals``: >= 1 ms of CPU past due) and signals that landed inside a
  call the model marked as work (``signals_in_work``).  The cyclic GC is C code too: a full
  collection over many objects delays preemption just the same.
"""

from __future__ import annotations

import heapq
import itertools
import signal
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from typing import Any

import greenlet

from ..policies import DEFAULT_HZ, SLEEP, WAKEUP, Policy, SchedEntity, make_policy

_now = time.perf_counter_ns  # wall clock: timers, sleepers, the tick grid
_cpu = time.thread_time_ns  # the emulated CPU's clock: what tasks are charged

#: a timer signal handled this late was held back by C code (pure Python checks every bytecode)
DEFERRED_NS = 1_000_000
#: shortest timer we arm: below this the kernel would mostly service its own interrupts
MIN_TIMER_NS = 20_000

# requests a task passes to the kernel
_IRQ = ("irq",)
_YIELD = ("yield",)
_EXIT = ("exit",)
_SLEEP = "sleep"

# task states
NEW, RUNNABLE, SLEEPING, DEAD = "new", "runnable", "sleeping", "dead"


class LiveTask(SchedEntity):
    """A greenlet plus the scheduler state the policy keeps for it."""

    __slots__ = (
        "name",
        "fn",
        "args",
        "glet",
        "state",
        "in_work",
        "run_start",
        "cpu_ns",
        "dispatches",
        "preempted",
        "voluntary",
    )

    def __init__(self, tid: int, name: str, fn: Callable[..., Any], args: tuple, nice: int):
        super().__init__(tid, nice)
        self.name = name
        self.fn = fn
        self.args = args
        self.glet: greenlet.greenlet | None = None
        self.state = NEW
        self.in_work = False  # inside a call the model marked as work (cv2): see LiveKernel.work
        self.run_start = 0
        self.cpu_ns = 0
        self.dispatches = 0
        self.preempted = 0
        self.voluntary = 0


@dataclass
class LiveStats:
    """What the kernel did; ``dispatches`` counts switch-ins (schedstat's timeslices)."""

    policy: str
    dispatches: int = 0
    preemptions: int = 0  # involuntary: the timer (or a waking task) took the CPU
    voluntary: int = 0  # the task slept or yielded to another task
    timer_signals: int = 0  # SIGALRM handler runs
    deferred_signals: int = 0  # the thread ran >= DEFERRED_NS of CPU past the due time first
    signals_in_work: int = 0  # handled while the current task was inside a work call
    max_signal_delay_ns: int = 0  # worst wall-clock lateness of a handler
    max_signal_cpu_delay_ns: int = 0  # ... counting only CPU time: the longest C call
    idle_ns: int = 0  # the kernel slept: nothing runnable
    tasks: dict[str, dict[str, int]] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "policy": self.policy,
            "dispatches": self.dispatches,
            "preemptions": self.preemptions,
            "voluntary": self.voluntary,
            "timer_signals": self.timer_signals,
            "deferred_signals": self.deferred_signals,
            "signals_in_work": self.signals_in_work,
            "max_signal_delay_ms": self.max_signal_delay_ns / 1e6,
            "max_signal_cpu_delay_ms": self.max_signal_cpu_delay_ns / 1e6,
            "idle_ms": self.idle_ns / 1e6,
        }


class LiveKernel:
    """One emulated CPU: spawn tasks, then run() them to completion in the main thread.

    Tasks may call :meth:`sleep`, :meth:`sleep_until`, :meth:`yield_now` and wrap C calls in
    :meth:`work`; everything else they do is preemptible at any bytecode.
    """

    def __init__(
        self, policy: str | Policy = "eevdf", *, slice_ns: int | None = None, hz: int = DEFAULT_HZ
    ) -> None:
        if isinstance(policy, Policy):
            if policy.ncpus != 1:
                raise ValueError("the live kernel is one CPU: build the policy with ncpus=1")
            self.policy = policy
        else:
            self.policy = make_policy(policy, 1, slice_ns=slice_ns, hz=hz)
        self.stats = LiveStats(self.policy.name)
        self._rq = self.policy.new_rq(0)
        self._tasks: list[LiveTask] = []
        self._sleepers: list[tuple[int, int, LiveTask]] = []
        self._seq = itertools.count()
        self._kernel: greenlet.greenlet | None = None
        self._curr: LiveTask | None = None
        self._in_kernel = True  # critical section: the handler must not switch
        self._pending = False  # a timer signal arrived inside the critical section
        self._running = False
        self._shutdown = False
        self._timer_due = 0
        self._timer_cpu_due = 0
        self._check_ns: int | None = None

    # -- API for the creator ------------------------------------------------------------------
    def spawn(self, fn: Callable[..., Any], *args: Any, name: str = "", nice: int = 0) -> LiveTask:
        """Add a task (before run()); it runs fn(*args) and exits when fn returns."""
        if self._running:
            raise RuntimeError("spawn tasks before LiveKernel.run()")
        tid = len(self._tasks)
        task = LiveTask(tid, name or f"task{tid}", fn, args, nice)
        self._tasks.append(task)
        return task

    def run(self) -> LiveStats:
        """Run every task to completion; the timer is disarmed and SIGALRM restored on any exit."""
        if threading.current_thread() is not threading.main_thread():
            raise RuntimeError(
                "the live kernel must run in the main thread: only it receives signal handlers"
            )
        if self._running or self._shutdown:
            raise RuntimeError("a LiveKernel runs once")
        if signal.getitimer(signal.ITIMER_REAL) != (0.0, 0.0):
            raise RuntimeError("ITIMER_REAL is already armed by someone else")
        self._kernel = greenlet.getcurrent()
        for task in self._tasks:
            task.glet = greenlet.greenlet(self._boot, parent=self._kernel)
        previous = signal.signal(signal.SIGALRM, self._on_alarm)
        self._running = True
        try:
            self._loop()
        finally:
            self._in_kernel = True
            signal.setitimer(signal.ITIMER_REAL, 0)  # first: no signal can follow this
            signal.signal(signal.SIGALRM, signal.SIG_DFL if previous is None else previous)
            self._running = False
            self._shutdown = True
            self._kill_all()
            self._collect()
        return self.stats

    # -- API for tasks -------------------------------------------------------------------------
    @property
    def current(self) -> LiveTask | None:
        return self._curr

    def sleep_until(self, due_ns: int) -> None:
        """Block the calling task until perf_counter_ns() >= due_ns."""
        if due_ns > _now():
            self._trap((_SLEEP, due_ns))

    def sleep(self, seconds: float) -> None:
        self.sleep_until(_now() + int(seconds * 1e9))

    def yield_now(self) -> None:
        """sched_yield(): let the policy pick again (the caller may well be picked)."""
        self._trap(_YIELD)

    @contextmanager
    def work(self) -> Iterator[None]:
        """Mark the current task as inside a work call, to count the signals that land there."""
        task = self._curr
        if task is None:
            yield
            return
        task.in_work = True
        try:
            yield
        finally:
            task.in_work = False

    # -- task side of the kernel boundary ------------------------------------------------------
    def _boot(self) -> tuple[str]:
        task = self._curr
        assert task is not None
        self._leave_kernel()
        task.fn(*task.args)
        self._in_kernel = True
        return _EXIT

    def _trap(self, request: tuple) -> None:
        """Enter the kernel; returns when the policy dispatches this task again."""
        if self._shutdown:
            raise greenlet.GreenletExit
        self._in_kernel = True
        self._kernel.switch(request)
        self._leave_kernel()

    def _leave_kernel(self) -> None:
        self._in_kernel = False
        while self._pending:  # a timer signal hit the critical section: take it now
            self._pending = False
            self._in_kernel = True
            self._kernel.switch(_IRQ)
            self._in_kernel = False

    def _on_alarm(self, signum: int, frame: object) -> None:
        """SIGALRM: account for the signal, then preempt the running task unless unsafe."""
        st = self.stats
        st.timer_signals += 1
        delay = _now() - self._timer_due
        if delay > st.max_signal_delay_ns:
            st.max_signal_delay_ns = delay
        # held back by C code only if this thread kept running past the due time (a host
        # preemption of the whole process also delays the handler, but burns no CPU here)
        cpu_delay = _cpu() - self._timer_cpu_due
        if cpu_delay > st.max_signal_cpu_delay_ns:
            st.max_signal_cpu_delay_ns = cpu_delay
        if cpu_delay >= DEFERRED_NS:
            st.deferred_signals += 1
        curr = self._curr
        if curr is not None and curr.in_work:
            st.signals_in_work += 1
        if (
            self._in_kernel
            or not self._running
            or curr is None
            or greenlet.getcurrent() is not curr.glet
        ):
            self._pending = True  # the kernel (or the task leaving it) takes it
            return
        self._trap(_IRQ)

    # -- the kernel ----------------------------------------------------------------------------
    def _loop(self) -> None:
        """Schedule until every task has exited.  Runs with _in_kernel set throughout."""
        rq, st = self._rq, self.stats
        now = _now()
        for task in self._tasks:
            rq.enqueue(task, now, WAKEUP)
            task.state = RUNNABLE
        curr: LiveTask | None = None
        request: Any = None
        while True:
            now = _now()
            self._pending = False
            resched = yielded = False
            cpu = _cpu()
            if curr is not None:
                ran = cpu - curr.run_start
                rq.account(curr, ran)
                curr.cpu_ns += ran
                curr.run_start = cpu
                kind = request[0]
                if kind == _SLEEP:
                    rq.dequeue(curr, now, SLEEP)
                    curr.state = SLEEPING
                    curr.voluntary += 1
                    st.voluntary += 1
                    heapq.heappush(self._sleepers, (request[1], next(self._seq), curr))
                    curr = None
                elif request is _EXIT:
                    rq.dequeue(curr, now, SLEEP)
                    curr.state = DEAD
                    curr = None
                elif request is _YIELD:
                    rq.yield_task(curr)
                    resched = yielded = True
            resched |= self._wake_due(now, curr)
            check = self._check_ns
            if curr is not None and not resched and check is not None and now >= check:
                resched = rq.tick(curr, now)
            if curr is None:
                nxt = rq.pick_next(now)
            elif resched:
                rq.put_prev(curr, now)
                nxt = rq.pick_next(now)
                if nxt is not curr:
                    if yielded:
                        curr.voluntary += 1
                        st.voluntary += 1
                    else:
                        curr.preempted += 1
                        st.preemptions += 1
            else:
                nxt = curr
            if nxt is None:  # idle: nothing runnable
                self._disarm()
                self._curr = None
                if not self._sleepers:
                    return  # every task has exited
                t0 = _now()
                time.sleep(max(0, self._sleepers[0][0] - t0) / 1e9)
                st.idle_ns += _now() - t0
                continue
            if nxt is not curr:
                nxt.dispatches += 1
                st.dispatches += 1
                nxt.run_start = cpu
                curr = nxt
            self._curr = curr
            self._arm(now, curr)
            request = curr.glet.switch()

    def _wake_due(self, now: int, curr: LiveTask | None) -> bool:
        """Enqueue the sleepers that are due; True if one of them should preempt curr."""
        sleepers, rq = self._sleepers, self._rq
        preempt = False
        while sleepers and sleepers[0][0] <= now:
            task = heapq.heappop(sleepers)[2]
            task.state = RUNNABLE
            rq.enqueue(task, now, WAKEUP)
            if curr is not None and not preempt:
                preempt = rq.wakeup_preempt(curr, task)
        return preempt

    def _arm(self, now: int, curr: LiveTask) -> None:
        """One-shot timer at the policy's next check of curr or the next wake-up, if sooner."""
        due = None
        self._check_ns = None
        left = self._rq.runtime_left(curr)
        if left is not None:
            at = now + max(left, 1)
            if self.policy.preempt_at_tick:  # expiry is noticed at the tick (no HRTICK)
                tick = self.policy.tick_ns
                at = -(-at // tick) * tick
            self._check_ns = due = at
        if self._sleepers and (due is None or self._sleepers[0][0] < due):
            due = self._sleepers[0][0]
        if due is None:
            self._disarm()
            return
        armed = _now()
        delay = max(due - armed, MIN_TIMER_NS)
        self._timer_due = armed + delay
        self._timer_cpu_due = _cpu() + delay
        signal.setitimer(signal.ITIMER_REAL, delay / 1e9)

    def _disarm(self) -> None:
        self._check_ns = None
        signal.setitimer(signal.ITIMER_REAL, 0)

    def _kill_all(self) -> None:
        """After a failure: unwind the tasks that are still suspended (their finally blocks run)."""
        for task in self._tasks:
            g = task.glet
            if g is not None and not g.dead:
                with suppress(greenlet.GreenletExit):
                    g.throw(greenlet.GreenletExit)
            task.state = DEAD

    def _collect(self) -> None:
        self.stats.tasks = {
            t.name: {
                "cpu_ns": t.cpu_ns,
                "dispatches": t.dispatches,
                "preempted": t.preempted,
                "voluntary": t.voluntary,
            }
            for t in self._tasks
        }
