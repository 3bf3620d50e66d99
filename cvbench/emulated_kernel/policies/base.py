"""What every policy shares: Linux's constants and weights, the task state and the run-queue
contract, kept apart so that a policy module holds only its own decisions.

A policy is a factory of per-CPU run queues.  A run queue never reads a clock: every call gets
``now_ns`` or ``ran_ns`` from the caller, so the same code runs under the simulator's virtual
clock and under the live kernel's ``time.perf_counter_ns()``.

Protocol a caller follows for one CPU (``rq = policy.new_rq(cpu)``)::

    rq.enqueue(task, now, WAKEUP)        # task became runnable (new, woken or migrated here)
    task = rq.pick_next(now)             # choose; the task leaves the queue and becomes rq.curr
    rq.account(task, ran_ns)             # curr ran ran_ns more (call before any decision)
    left = rq.runtime_left(task)         # ns of run before the policy wants the CPU back
                                         # (None: never, e.g. alone or cooperative)
    if rq.tick(task, now): ...           # at the timer tick (or at now+left): reschedule?
    if rq.wakeup_preempt(curr, woken):   # after enqueueing a woken task on a busy CPU
    rq.put_prev(task, now)               # curr is preempted or yields and stays runnable
    rq.dequeue(task, now, SLEEP)         # curr blocks or exits (or MIGRATE: leaves this rq)
    task = rq.steal(cpu)                 # idle balancing: take a queued task allowed on cpu

The numbers follow Linux (kernel/sched/fair.c, rt.c); see docs/kernel.md for what is left out.
"""

from __future__ import annotations

import heapq
from abc import ABC, abstractmethod
from collections.abc import Iterable

NICE_0_WEIGHT = 1024
#: Linux ``sched_prio_to_weight``: nice -20 .. 19; each step is ~1.25x CPU.
PRIO_TO_WEIGHT: tuple[int, ...] = (
    88761, 71755, 56483, 46273, 36291,
    29154, 23254, 18705, 14949, 11916,
    9548, 7620, 6100, 4904, 3906,
    3121, 2501, 1991, 1586, 1277,
    1024, 820, 655, 526, 423,
    335, 272, 215, 172, 137,
    110, 87, 70, 56, 45,
    36, 29, 23, 18, 15,
)  # fmt: skip

MS = 1_000_000
DEFAULT_HZ = 250
BASE_SLICE_NS = 750_000  # EEVDF base slice and CFS min_granularity before CPU scaling
SCHED_LATENCY_NS = 6 * MS  # CFS targeted preemption latency before CPU scaling
WAKEUP_GRAN_NS = 1 * MS  # CFS wakeup granularity before CPU scaling
RR_TIMESLICE_NS = 100 * MS  # Linux RR_TIMESLICE

# enqueue/dequeue flags
WAKEUP = 1  # becomes runnable (new task or woken from a wait)
MIGRATE = 2  # moves between run queues (keeps its relative position)
SLEEP = 4  # blocks or exits


def nice_to_weight(nice: int) -> int:
    """Linux load weight of a nice value; raise ValueError outside -20..19."""
    if not -20 <= nice <= 19:
        raise ValueError(f"nice {nice} out of range -20..19")
    return PRIO_TO_WEIGHT[nice + 20]


def cpu_scale(ncpus: int) -> int:
    """Linux SCHED_TUNABLESCALING_LOG factor: 1 + ilog2(min(ncpus, 8))."""
    if ncpus < 1:
        raise ValueError("ncpus must be >= 1")
    return min(ncpus, 8).bit_length()


class SchedEntity:
    """Per-task scheduler state; the simulator's and the live kernel's tasks subclass it.

    ``allowed`` is None for "every CPU" (the fast path) or a frozenset of CPU ids.
    """

    __slots__ = (
        "tid",
        "nice",
        "weight",
        "allowed",
        "vruntime",
        "deadline",
        "vlag",
        "rel_deadline",
        "slice_left",
        "sum_exec",
        "prev_sum_exec",
        "rq",
        "new",
    )

    def __init__(self, tid: int, nice: int = 0, allowed: Iterable[int] | None = None) -> None:
        self.tid = tid
        self.nice = nice
        self.weight = nice_to_weight(nice)
        self.allowed = None if allowed is None else frozenset(allowed)
        if self.allowed is not None and not self.allowed:
            raise ValueError(f"task {tid}: empty affinity mask")
        self.vruntime = 0
        self.deadline = 0
        self.vlag = 0
        self.rel_deadline = 0
        self.slice_left = 0
        self.sum_exec = 0
        self.prev_sum_exec = 0
        self.rq: RunQueue | None = None  # run queue it last belonged to
        self.new = True

    def can_run_on(self, cpu: int) -> bool:
        return self.allowed is None or cpu in self.allowed


class RunQueue(ABC):
    """Base run queue; subclasses override the decisions, the bookkeeping lives here.

    A policy's run queue must implement the abstract methods (a missing one fails when the
    queue is made, not mid-simulation); the others have the defaults of a policy that never
    preempts."""

    __slots__ = ("policy", "cpu", "curr", "nr_queued")

    def __init__(self, policy: Policy, cpu: int) -> None:
        self.policy = policy
        self.cpu = cpu
        self.curr: SchedEntity | None = None
        self.nr_queued = 0  # runnable and waiting, curr excluded

    @property
    def nr_running(self) -> int:
        return self.nr_queued + (self.curr is not None)

    # -- to override ---------------------------------------------------------------------
    @abstractmethod
    def enqueue(self, se: SchedEntity, now_ns: int, flags: int = WAKEUP) -> None:
        """``se`` became runnable here: new, woken, or (``MIGRATE``) moved from another CPU."""

    @abstractmethod
    def dequeue(self, se: SchedEntity, now_ns: int, flags: int = SLEEP) -> None:
        """``se`` (curr or queued) blocks or exits, or (``MIGRATE``) leaves for another CPU."""

    @abstractmethod
    def pick_next(self, now_ns: int) -> SchedEntity | None:
        """The task to run next: it leaves the queue and becomes curr (None: nothing waits)."""

    @abstractmethod
    def put_prev(self, se: SchedEntity, now_ns: int) -> None:
        """curr ``se`` is preempted or yields and stays runnable: back into the queue."""

    def put_prev_pick_next(self, se: SchedEntity, now_ns: int) -> SchedEntity:
        """``put_prev(se, now_ns)`` then ``pick_next(now_ns)`` (a preemption), in one call."""
        self.put_prev(se, now_ns)
        return self.pick_next(now_ns)

    @abstractmethod
    def queued(self) -> list[SchedEntity]:
        """Waiting tasks in the order they would run (for tests and idle balancing)."""

    def account(self, se: SchedEntity, ran_ns: int) -> None:
        se.sum_exec += ran_ns

    def account_tick(self, se: SchedEntity, ran_ns: int, now_ns: int) -> SchedEntity:
        """The timer tick on curr ``se`` in one call: ``account(se, ran_ns)`` (if ran_ns > 0),
        then ``tick(se, now_ns)``; return ``se`` if it keeps the CPU, else
        ``put_prev_pick_next(se, now_ns)``."""
        if ran_ns > 0:
            self.account(se, ran_ns)
        if self.tick(se, now_ns):
            return self.put_prev_pick_next(se, now_ns)
        return se

    def runtime_left(self, se: SchedEntity) -> int | None:
        return None

    def tick(self, se: SchedEntity, now_ns: int) -> bool:
        return False

    def wakeup_preempt(self, curr: SchedEntity, woken: SchedEntity) -> bool:
        return False

    def yield_task(self, se: SchedEntity) -> None:  # noqa: B027 - optional hook, no-op default
        """curr calls sched_yield(); the caller then does put_prev + pick_next."""

    def steal(self, cpu: int) -> SchedEntity | None:
        """Dequeue (MIGRATE) the next-to-run queued task allowed on ``cpu``, if any."""
        for se in self.queued():
            if se.allowed is None or cpu in se.allowed:
                self.dequeue(se, 0, MIGRATE)
                return se
        return None


class Policy:
    """Parameters shared by all run queues of one machine."""

    name = "?"
    #: slice expiry is only noticed at the timer tick (Linux without HRTICK)
    preempt_at_tick = False
    #: the run queue of one CPU under this policy
    rq_class: type[RunQueue] = RunQueue

    def __init__(self, ncpus: int = 1, *, slice_ns: int | None = None, hz: int = DEFAULT_HZ):
        if hz <= 0:
            raise ValueError("hz must be > 0")
        if slice_ns is not None and slice_ns <= 0:
            raise ValueError("slice must be > 0")
        self.ncpus = ncpus
        self.scale = cpu_scale(ncpus)
        self.hz = hz
        self.tick_ns = 1_000_000_000 // hz
        self.slice_ns = slice_ns

    def new_rq(self, cpu: int) -> RunQueue:
        return self.rq_class(self, cpu)

    def describe(self) -> dict[str, int | str | bool]:
        return {"policy": self.name, "slice_ns": self.slice_ns or 0, "hz": self.hz}


class FairPolicy(Policy):
    """What CFS and EEVDF share, both Linux's fair class (kernel/sched/fair.c): slice expiry
    noticed at the tick, and a base slice scaled by the CPU count (EEVDF's request size, CFS's
    min_granularity) that ``slice_ns`` overrides."""

    preempt_at_tick = True

    def __init__(self, ncpus: int = 1, *, slice_ns: int | None = None, hz: int = DEFAULT_HZ):
        super().__init__(ncpus, slice_ns=slice_ns, hz=hz)
        self.base_slice_ns = slice_ns or BASE_SLICE_NS * self.scale


class _HeapRQ(RunQueue):
    """A run queue whose waiting tasks sit in a binary heap of (key, seq, task)."""

    __slots__ = ("heap", "seq", "load")

    def __init__(self, policy: Policy, cpu: int) -> None:
        super().__init__(policy, cpu)
        self.heap: list[tuple[int, int, SchedEntity]] = []
        self.seq = 0  # tie-break: equal keys run in enqueue order (deterministic)
        self.load = 0  # sum of weights of curr + queued

    def _become_curr(self, se: SchedEntity) -> SchedEntity:
        """``se``, just taken from the queue, runs: it is curr, and its run since it was
        picked (what the slice is measured against) starts at zero."""
        self.nr_queued -= 1
        self.curr = se
        se.prev_sum_exec = se.sum_exec
        return se

    def _remove(self, heap: list[tuple[int, int, SchedEntity]], se: SchedEntity) -> bool:
        for i, entry in enumerate(heap):
            if entry[2] is se:
                last = heap.pop()
                if i < len(heap):
                    heap[i] = last
                    heapq.heapify(heap)
                return True
        return False
