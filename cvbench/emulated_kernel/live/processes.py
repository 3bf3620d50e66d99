"""The process kernel: M emulated CPUs whose tasks are real processes, enforced by signals.

Why: the greenlet kernel (``greenlets.py``) cannot take the CPU from a running cv2 call, because
CPython runs signal handlers only between bytecodes.  A process can be stopped anywhere:
SIGSTOP is handled by Linux, not by Python.  So here each task is a worker process, the same
policy objects as the simulator and the live kernel decide which M of them hold an emulated
CPU, and the decision is enforced by SIGCONT for those M and SIGSTOP for every other one.
This is the classic SIGSTOP/SIGCONT scheduler of OS courses (and of ``cpulimit``) driven by
Linux's own policies.

What this class does and does not do:

* no I/O and no clock of its own: the caller says when a task wakes (it was given work) or
  blocks (it answered and now waits), passes ``now`` (``perf_counter_ns``) and calls
  :meth:`poll` at the time :meth:`poll` asked for (the policy's next check, on the tick grid
  for cfs/eevdf exactly as in ``sim/engine.py``), then :meth:`commit` to send the signals;
* tasks are charged the CPU time Linux gave them (the process-wide CPU clock of another
  process, one ``clock_gettime`` call), so time a worker spends preempted by the host, or by
  this parent, is charged to nobody, as in the live kernel;
* placement, idle balancing and migration counting follow ``sim/engine.py`` (see docs/kernel.md):
  a woken task goes to the idle CPU with the lowest id, else to the least loaded queue; a CPU
  that runs dry pulls the next task of the longest queue.  There is no affinity: an emulated
  CPU is not tied to a real core, Linux places the M running processes.

Every dispatch, preemption, sleep and wake-up is logged as ``(t_ns, task, cpu, event)`` so a
Gantt chart can draw the emulated schedule (:func:`segments`).
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from ..policies import DEFAULT_HZ, MIGRATE, SLEEP, WAKEUP, Policy, SchedEntity, make_policy

# task states
SLEEPING, QUEUED, RUNNING, GONE = "sleeping", "queued", "running", "gone"
# log events
WAKE, DISPATCH, PREEMPT, BLOCK = "W", "D", "P", "S"

_CPUCLOCK_SCHED = 2  # Linux: MAKE_PROCESS_CPUCLOCK(pid, CPUCLOCK_SCHED), process-wide, in ns


def process_cpu_clock(pid: int) -> int:
    """The clock id of another process's total CPU time (all threads), for clock_gettime.

    One syscall, ~2 us here, against ~36 us to open and parse /proc/<pid>/schedstat.
    """
    return ((~pid) << 3) | _CPUCLOCK_SCHED


class ProcTask(SchedEntity):
    """A worker process plus the scheduler state the policy keeps for it."""

    __slots__ = (
        "pid",
        "name",
        "state",
        "cpu",
        "clock",
        "cpu_seen",
        "cpu_ns",
        "ready_ns",
        "wait_ns",
        "dispatches",
        "preempted",
        "voluntary",
        "migrations",
    )

    def __init__(self, tid: int, pid: int, name: str, nice: int) -> None:
        super().__init__(tid, nice)
        self.pid = pid
        self.name = name
        self.state = SLEEPING
        self.cpu = -1  # emulated CPU it last ran or queued on
        self.clock = process_cpu_clock(pid)
        self.cpu_seen = self.read_cpu()
        self.cpu_ns = 0  # charged to the policy
        self.ready_ns = 0
        self.wait_ns = 0  # runnable but stopped: the emulated run-queue wait
        self.dispatches = 0
        self.preempted = 0
        self.voluntary = 0
        self.migrations = 0

    def read_cpu(self) -> int:
        """CPU ns Linux has given this process so far (the last value once it is gone)."""
        try:
            return time.clock_gettime_ns(self.clock)
        except OSError:
            return getattr(self, "cpu_seen", 0)


@dataclass
class ProcStats:
    """What the kernel did; ``dispatches`` counts switch-ins (schedstat's timeslices)."""

    policy: str
    cpus: int
    hz: int
    dispatches: int = 0
    preemptions: int = 0  # involuntary: the tick or a waking task took the CPU
    wakeup_preemptions: int = 0
    voluntary: int = 0  # the task blocked (answered and waits for work)
    wakeups: int = 0
    migrations: int = 0
    ticks: int = 0  # policy checks run at their due time
    signals: int = 0  # SIGSTOP + SIGCONT sent
    tasks: dict[str, dict[str, int]] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items()}


class ProcKernel:
    """M emulated CPUs over worker processes.  Drive it with wake/block/poll, then commit."""

    def __init__(
        self,
        policy: str | Policy = "eevdf",
        ncpus: int = 1,
        *,
        slice_ns: int | None = None,
        hz: int = DEFAULT_HZ,
        log: bool = True,
    ) -> None:
        if ncpus < 1:
            raise ValueError(f"kernel-proc needs at least 1 emulated CPU, got {ncpus}")
        if isinstance(policy, Policy):
            self.policy = policy
        else:
            self.policy = make_policy(policy, ncpus, slice_ns=slice_ns, hz=hz)
        self.ncpus = ncpus
        self.rqs = [self.policy.new_rq(c) for c in range(ncpus)]
        self.curr: list[ProcTask | None] = [None] * ncpus
        self.check_ns: list[int | None] = [None] * ncpus
        self.nrun = [0] * ncpus  # curr + queued
        self.wload = [0] * ncpus  # their nice weights: Linux's load, for placement
        self.tasks: list[ProcTask] = []
        self.log: list[tuple[int, int, int, str]] | None = [] if log else None
        self.stats = ProcStats(self.policy.name, ncpus, self.policy.hz)
        self._continued: set[ProcTask] = set()  # tasks whose last signal was SIGCONT

    # -- tasks ---------------------------------------------------------------------------------
    def add(self, pid: int, nice: int = 0, name: str = "") -> ProcTask:
        """Adopt a process that is blocked waiting for work: it is stopped until dispatched."""
        task = ProcTask(len(self.tasks), pid, name or f"w{len(self.tasks)}", nice)
        self.tasks.append(task)
        self._signal(task, signal.SIGSTOP)
        return task

    def wake(self, task: ProcTask, now: int) -> None:
        """``task`` was given work: enqueue it where placement says; it may preempt."""
        if task.state != SLEEPING:
            raise RuntimeError(f"{task.name} woken while {task.state}")
        c = self._select_cpu(task)
        self._enqueue(task, c, now, WAKEUP)
        task.state = QUEUED
        task.ready_ns = now
        self.stats.wakeups += 1
        self._log(now, task, c, WAKE)
        cur = self.curr[c]
        if cur is None:
            self._dispatch(c, now)
            return
        self._charge(cur)
        if self.rqs[c].wakeup_preempt(cur, task):
            self.stats.wakeup_preemptions += 1
            self._preempt(c, now)
        self._arm(c, now)

    def block(self, task: ProcTask, now: int, *, gone: bool = False) -> None:
        """``task`` answered and now waits for work (or exited, ``gone``): it leaves the CPU.

        It may already have been preempted (it answered right before a tick the parent
        handled first): then it leaves the queue instead.
        """
        if task.state in (SLEEPING, GONE):
            task.state = GONE if gone else task.state
            return
        c = task.cpu
        rq = self.rqs[c]
        if task.state == RUNNING:
            self._charge(task)
            rq.dequeue(task, now, SLEEP)
            self.curr[c] = None
            self.check_ns[c] = None
        else:
            rq.dequeue(task, now, SLEEP)
            task.wait_ns += now - task.ready_ns
        self.nrun[c] -= 1
        self.wload[c] -= task.weight
        task.state = GONE if gone else SLEEPING
        task.voluntary += 1
        self.stats.voluntary += 1
        self._log(now, task, c, BLOCK)
        if self.curr[c] is None:
            self._dispatch(c, now)

    def poll(self, now: int) -> int | None:
        """Charge the running tasks, run the policy checks that are due (the tick), and return
        when the next check is due (``perf_counter_ns``), None when no task can be preempted."""
        for c in range(self.ncpus):
            cur = self.curr[c]
            if cur is None:
                continue
            self._charge(cur)
            due = self.check_ns[c]
            if due is not None and now >= due:
                self.stats.ticks += 1
                if self.rqs[c].tick(cur, now):
                    self._preempt(c, now)
            self._arm(c, now)
        pending = [t for t in self.check_ns if t is not None]
        return min(pending) if pending else None

    def commit(self) -> None:
        """Make the processes match the decisions: stop the descheduled, then continue the
        dispatched, so that at no moment more than M run."""
        running = {t for t in self.curr if t is not None}
        for task in self._continued - running:
            self._signal(task, signal.SIGSTOP)
        for task in running - self._continued:
            self._signal(task, signal.SIGCONT)

    def release(self) -> None:
        """Continue every task (the end of a run, also after errors): none stays stopped."""
        for task in self.tasks:
            with contextlib.suppress(OSError):
                os.kill(task.pid, signal.SIGCONT)
            self._continued.add(task)

    def finish(self, now: int) -> ProcStats:
        """Charge what is still running or queued at the end and fill the per-task stats."""
        for cur in self.curr:
            if cur is not None:
                self._charge(cur)
        for task in self.tasks:
            if task.state == QUEUED:
                task.wait_ns += now - task.ready_ns
                task.ready_ns = now
        self.stats.tasks = {
            t.name: {
                "pid": t.pid,
                "nice": t.nice,
                "cpu_ns": t.cpu_ns,
                "wait_ns": t.wait_ns,
                "dispatches": t.dispatches,
                "preempted": t.preempted,
                "voluntary": t.voluntary,
                "migrations": t.migrations,
            }
            for t in self.tasks
        }
        return self.stats

    # -- the policy's machinery ------------------------------------------------------------------
    def _charge(self, task: ProcTask) -> None:
        """Account the CPU Linux gave ``task`` since the last reading (curr only)."""
        seen = task.read_cpu()
        ran = seen - task.cpu_seen
        if ran > 0:
            task.cpu_seen = seen
            task.cpu_ns += ran
            self.rqs[task.cpu].account(task, ran)

    def _arm(self, c: int, now: int) -> None:
        """When the policy could next want CPU ``c`` back (rounded up to the tick, as Linux
        notices slice expiry only at the tick without HRTICK)."""
        cur = self.curr[c]
        left = None if cur is None else self.rqs[c].runtime_left(cur)
        if left is None:
            self.check_ns[c] = None
            return
        at = now + max(left, 1)
        if self.policy.preempt_at_tick:
            tick = self.policy.tick_ns
            at = -(-at // tick) * tick
        self.check_ns[c] = at

    def _preempt(self, c: int, now: int) -> None:
        cur = self.curr[c]
        assert cur is not None
        nxt = self.rqs[c].put_prev_pick_next(cur, now)
        if nxt is cur:
            return
        cur.state = QUEUED
        cur.ready_ns = now
        cur.preempted += 1
        self.stats.preemptions += 1
        self._log(now, cur, c, PREEMPT)
        self._run(c, nxt, now)
        self._balance(now)

    def _dispatch(self, c: int, now: int) -> None:
        """CPU ``c`` has no current task: run its next one, pull one, or go idle."""
        nxt = self.rqs[c].pick_next(now) or self._pull(c, now)
        if nxt is None:
            self.curr[c] = None
            self.check_ns[c] = None
            return
        self._run(c, nxt, now)

    def _run(self, c: int, task: ProcTask, now: int) -> None:
        task.state = RUNNING
        task.wait_ns += now - task.ready_ns
        task.dispatches += 1
        self.stats.dispatches += 1
        self.curr[c] = task
        self._log(now, task, c, DISPATCH)
        self._arm(c, now)

    def _pull(self, c: int, now: int) -> ProcTask | None:
        """Idle balancing: take the next task of the longest queue (lowest id on ties)."""
        for o in sorted(range(self.ncpus), key=lambda x: (-self.nrun[x], x)):
            if o == c or not self.rqs[o].nr_queued:
                continue
            task = self.rqs[o].steal(c)
            if task is not None:
                self.nrun[o] -= 1
                self.wload[o] -= task.weight
                self._enqueue(task, c, now, MIGRATE)
                return self.rqs[c].pick_next(now)
        return None

    def _balance(self, now: int) -> None:
        """A preempted task may run on an idle CPU at once (work conservation)."""
        for c in range(self.ncpus):
            if self.curr[c] is None:
                self._dispatch(c, now)

    def _select_cpu(self, task: ProcTask) -> int:
        for c in range(self.ncpus):
            if self.curr[c] is None and not self.nrun[c]:
                return c
        return min(range(self.ncpus), key=lambda x: (self.wload[x], x))

    def _enqueue(self, task: ProcTask, c: int, now: int, flags: int) -> None:
        if task.cpu != c:
            if task.cpu >= 0:
                task.migrations += 1
                self.stats.migrations += 1
            task.cpu = c
        self.rqs[c].enqueue(task, now, flags)
        self.nrun[c] += 1
        self.wload[c] += task.weight

    def _signal(self, task: ProcTask, sig: int) -> None:
        with contextlib.suppress(ProcessLookupError):  # it died: its pipe will say so
            os.kill(task.pid, sig)
        self.stats.signals += 1
        if sig == signal.SIGCONT:
            self._continued.add(task)
        else:
            self._continued.discard(task)

    def _log(self, now: int, task: ProcTask, c: int, event: str) -> None:
        if self.log is not None:
            self.log.append((now, task.tid, c, event))


def segments(
    log: Iterable[tuple[int, int, int, str]], end_ns: int
) -> list[tuple[int, int, int, int]]:
    """Run segments ``(cpu, task, start_ns, end_ns)`` from a kernel log, the shape of the
    simulator's ``record=True`` segments, for a Gantt chart of the emulated schedule."""
    open_: dict[int, tuple[int, int]] = {}
    out: list[tuple[int, int, int, int]] = []
    for t, task, cpu, event in log:
        if event == DISPATCH:
            open_[task] = (cpu, t)
        elif event in (PREEMPT, BLOCK) and task in open_:
            c, start = open_.pop(task)
            out.append((c, task, start, t))
    out.extend((c, task, start, end_ns) for task, (c, start) in open_.items())
    return sorted(out, key=lambda s: (s[2], s[0]))
