"""Scheduling policies: one implementation each, shared by the simulator and the live kernel.

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
from collections import deque
from collections.abc import Iterable

_heappush, _heappop = heapq.heappush, heapq.heappop

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

POLICIES = ("fifo", "rr", "cfs", "eevdf")


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


class RunQueue:
    """Base run queue; subclasses override the decisions, the bookkeeping lives here."""

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
    def enqueue(self, se: SchedEntity, now_ns: int, flags: int = WAKEUP) -> None:
        raise NotImplementedError

    def dequeue(self, se: SchedEntity, now_ns: int, flags: int = SLEEP) -> None:
        raise NotImplementedError

    def pick_next(self, now_ns: int) -> SchedEntity | None:
        raise NotImplementedError

    def put_prev(self, se: SchedEntity, now_ns: int) -> None:
        raise NotImplementedError

    def put_prev_pick_next(self, se: SchedEntity, now_ns: int) -> SchedEntity:
        """``put_prev(se, now_ns)`` then ``pick_next(now_ns)`` (a preemption), in one call."""
        self.put_prev(se, now_ns)
        return self.pick_next(now_ns)  # type: ignore[return-value]

    def queued(self) -> list[SchedEntity]:
        """Waiting tasks in the order they would run (for tests and idle balancing)."""
        raise NotImplementedError

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

    def yield_task(self, se: SchedEntity) -> None:
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
        raise NotImplementedError

    def describe(self) -> dict[str, int | str | bool]:
        return {"policy": self.name, "slice_ns": self.slice_ns or 0, "hz": self.hz}


# ---------------------------------------------------------------------------------------------
class FifoRQ(RunQueue):
    """Cooperative: a task runs until it blocks or yields; the queue is first come first served."""

    __slots__ = ("q",)

    def __init__(self, policy: Policy, cpu: int) -> None:
        super().__init__(policy, cpu)
        self.q: deque[SchedEntity] = deque()

    def enqueue(self, se: SchedEntity, now_ns: int, flags: int = WAKEUP) -> None:
        self.q.append(se)
        self.nr_queued += 1
        se.rq = self
        se.new = False

    def dequeue(self, se: SchedEntity, now_ns: int, flags: int = SLEEP) -> None:
        if se is self.curr:
            self.curr = None
        else:
            self.q.remove(se)
            self.nr_queued -= 1

    def pick_next(self, now_ns: int) -> SchedEntity | None:
        if not self.q:
            return None
        se = self.q.popleft()
        self.nr_queued -= 1
        self.curr = se
        return se

    def put_prev(self, se: SchedEntity, now_ns: int) -> None:
        self.curr = None
        self.q.append(se)
        self.nr_queued += 1

    def queued(self) -> list[SchedEntity]:
        return list(self.q)

    def steal(self, cpu: int) -> SchedEntity | None:
        q = self.q
        if q and q[0].allowed is None:  # fast path: head may run anywhere
            self.nr_queued -= 1
            return q.popleft()
        return RunQueue.steal(self, cpu)


class Fifo(Policy):
    name = "fifo"

    def new_rq(self, cpu: int) -> RunQueue:
        return FifoRQ(self, cpu)


class RoundRobinRQ(FifoRQ):
    """FIFO order plus a fixed quantum; an expired task goes to the tail (SCHED_RR)."""

    __slots__ = ("quantum",)

    def __init__(self, policy: Policy, cpu: int) -> None:
        super().__init__(policy, cpu)
        self.quantum = policy.slice_ns or RR_TIMESLICE_NS

    def enqueue(self, se: SchedEntity, now_ns: int, flags: int = WAKEUP) -> None:
        if se.new or flags & WAKEUP:
            se.slice_left = self.quantum  # textbook RR: a fresh quantum after every wait
        FifoRQ.enqueue(self, se, now_ns, flags)

    def account(self, se: SchedEntity, ran_ns: int) -> None:
        se.sum_exec += ran_ns
        se.slice_left -= ran_ns
        if se.slice_left <= 0 and not self.nr_queued:
            # alone: Linux refills the quantum and keeps running
            se.slice_left = self.quantum - (-se.slice_left) % self.quantum

    def runtime_left(self, se: SchedEntity) -> int | None:
        return max(se.slice_left, 0) if self.nr_queued else None

    def tick(self, se: SchedEntity, now_ns: int) -> bool:
        return self.nr_queued > 0 and se.slice_left <= 0

    def put_prev(self, se: SchedEntity, now_ns: int) -> None:
        if se.slice_left <= 0:
            se.slice_left = self.quantum
        FifoRQ.put_prev(self, se, now_ns)


class RoundRobin(Policy):
    name = "rr"

    def new_rq(self, cpu: int) -> RunQueue:
        return RoundRobinRQ(self, cpu)

    def describe(self) -> dict[str, int | str | bool]:
        return {"policy": self.name, "slice_ns": self.slice_ns or RR_TIMESLICE_NS, "hz": self.hz}


# ---------------------------------------------------------------------------------------------
class _HeapRQ(RunQueue):
    """A run queue whose waiting tasks sit in a binary heap of (key, seq, task)."""

    __slots__ = ("heap", "seq", "load")

    def __init__(self, policy: Policy, cpu: int) -> None:
        super().__init__(policy, cpu)
        self.heap: list[tuple[int, int, SchedEntity]] = []
        self.seq = 0  # tie-break: equal keys run in enqueue order (deterministic)
        self.load = 0  # sum of weights of curr + queued

    def _remove(self, heap: list[tuple[int, int, SchedEntity]], se: SchedEntity) -> bool:
        for i, entry in enumerate(heap):
            if entry[2] is se:
                last = heap.pop()
                if i < len(heap):
                    heap[i] = last
                    heapq.heapify(heap)
                return True
        return False


class CfsRQ(_HeapRQ):
    """CFS: run the task with the smallest vruntime; vruntime += delta * 1024 / weight."""

    __slots__ = ("min_vruntime", "latency", "min_gran", "wakeup_gran")

    def __init__(self, policy: Cfs, cpu: int) -> None:
        super().__init__(policy, cpu)
        self.min_vruntime = 0
        self.min_gran = policy.min_gran_ns
        self.latency = policy.latency_ns
        self.wakeup_gran = policy.wakeup_gran_ns

    def _update_min_vruntime(self) -> None:
        curr = self.curr
        if self.heap:
            v = self.heap[0][0]
            if curr is not None and curr.vruntime < v:
                v = curr.vruntime
        elif curr is not None:
            v = curr.vruntime
        else:
            return
        if v > self.min_vruntime:
            self.min_vruntime = v

    def enqueue(self, se: SchedEntity, now_ns: int, flags: int = WAKEUP) -> None:
        if se.new:
            se.vruntime = self.min_vruntime
            se.new = False
        elif se.rq is not self and se.rq is not None:
            # migrate_task_rq_fair: keep the offset from the old queue's min_vruntime
            se.vruntime += self.min_vruntime - se.rq.min_vruntime  # type: ignore[attr-defined]
        if flags & WAKEUP:
            # place_entity with GENTLE_FAIR_SLEEPERS: a sleeper gains at most latency/2
            floor = self.min_vruntime - self.latency // 2
            if se.vruntime < floor:
                se.vruntime = floor
        se.rq = self
        self.seq += 1
        heapq.heappush(self.heap, (se.vruntime, self.seq, se))
        self.nr_queued += 1
        self.load += se.weight

    def dequeue(self, se: SchedEntity, now_ns: int, flags: int = SLEEP) -> None:
        if se is self.curr:
            self.curr = None
        else:
            self._remove(self.heap, se)
            self.nr_queued -= 1
        self.load -= se.weight
        self._update_min_vruntime()

    def pick_next(self, now_ns: int) -> SchedEntity | None:
        if not self.heap:
            return None
        se = heapq.heappop(self.heap)[2]
        self.nr_queued -= 1
        self.curr = se
        se.prev_sum_exec = se.sum_exec
        return se

    def put_prev(self, se: SchedEntity, now_ns: int) -> None:
        self.curr = None
        self.seq += 1
        heapq.heappush(self.heap, (se.vruntime, self.seq, se))
        self.nr_queued += 1

    def put_prev_pick_next(self, se: SchedEntity, now_ns: int) -> SchedEntity:
        self.seq = seq = self.seq + 1
        nse = heapq.heappushpop(self.heap, (se.vruntime, seq, se))[2]
        self.curr = nse
        nse.prev_sum_exec = nse.sum_exec
        return nse

    def queued(self) -> list[SchedEntity]:
        return [e[2] for e in sorted(self.heap, key=lambda e: (e[0], e[1]))]

    def steal(self, cpu: int) -> SchedEntity | None:
        heap = self.heap
        if heap and heap[0][2].allowed is None:
            se = heapq.heappop(heap)[2]
            self.nr_queued -= 1
            self.load -= se.weight
            return se
        return RunQueue.steal(self, cpu)

    def account(self, se: SchedEntity, ran_ns: int) -> None:
        se.sum_exec += ran_ns
        w = se.weight
        se.vruntime += ran_ns if w == NICE_0_WEIGHT else ran_ns * NICE_0_WEIGHT // w
        # _update_min_vruntime(), inlined: this runs at every tick
        curr = self.curr
        heap = self.heap
        if heap:
            v = heap[0][0]
            if curr is not None and curr.vruntime < v:
                v = curr.vruntime
        elif curr is not None:
            v = curr.vruntime
        else:
            return
        if v > self.min_vruntime:
            self.min_vruntime = v

    def account_tick(self, se: SchedEntity, ran_ns: int, now_ns: int) -> SchedEntity:
        # account(), tick() and put_prev_pick_next() inlined: the simulator's hottest call
        w = se.weight
        heap = self.heap
        if ran_ns > 0:
            se.sum_exec += ran_ns
            se.vruntime += ran_ns if w == NICE_0_WEIGHT else ran_ns * NICE_0_WEIGHT // w
            curr = self.curr
            if heap:
                v = heap[0][0]
                if curr is not None and curr.vruntime < v:
                    v = curr.vruntime
            elif curr is not None:
                v = curr.vruntime
            else:
                v = self.min_vruntime
            if v > self.min_vruntime:
                self.min_vruntime = v
        nr = self.nr_queued
        if not nr:
            return se
        min_gran = self.min_gran
        period = (nr + 1) * min_gran
        if period <= self.latency:
            period = self.latency
        ideal = period * w // self.load
        ran = se.sum_exec - se.prev_sum_exec
        if ran <= ideal and (ran < min_gran or se.vruntime - heap[0][0] <= ideal):
            return se
        return self.put_prev_pick_next(se, now_ns)

    def _ideal(self, se: SchedEntity) -> int:
        """sched_slice: this task's share of the period, which stretches past 8 tasks."""
        nr = self.nr_queued + 1
        period = self.latency if nr * self.min_gran <= self.latency else nr * self.min_gran
        return period * se.weight // self.load

    def runtime_left(self, se: SchedEntity) -> int | None:
        nr = self.nr_queued
        if not nr:
            return None
        # ideal = self._ideal(se), inlined
        min_gran = self.min_gran
        period = (nr + 1) * min_gran
        if period <= self.latency:
            period = self.latency
        w = se.weight
        ideal = period * w // self.load
        ran = se.sum_exec - se.prev_sum_exec
        left = ideal - ran + 1  # check_preempt_tick preempts on delta_exec > ideal
        dv = self.heap[0][0] + ideal - se.vruntime + 1  # ... or on vruntime lead > ideal
        by_lead = -(-dv * w // NICE_0_WEIGHT)
        if by_lead < left:
            left = by_lead
        floor = min_gran - ran  # never before min_granularity
        if floor > left:
            left = floor
        return left if left > 0 else 0

    def tick(self, se: SchedEntity, now_ns: int) -> bool:
        nr = self.nr_queued
        if not nr:
            return False
        min_gran = self.min_gran
        period = (nr + 1) * min_gran
        if period <= self.latency:
            period = self.latency
        ideal = period * se.weight // self.load
        ran = se.sum_exec - se.prev_sum_exec
        if ran > ideal:
            return True
        if ran < min_gran:
            return False
        return se.vruntime - self.heap[0][0] > ideal

    def wakeup_preempt(self, curr: SchedEntity, woken: SchedEntity) -> bool:
        gran = self.wakeup_gran * NICE_0_WEIGHT // woken.weight
        return curr.vruntime - woken.vruntime > gran


class Cfs(Policy):
    """Linux CFS (<= 6.5); ``slice_ns`` overrides min_granularity (latency = 8 x slice)."""

    name = "cfs"
    preempt_at_tick = True

    def __init__(self, ncpus: int = 1, *, slice_ns: int | None = None, hz: int = DEFAULT_HZ):
        super().__init__(ncpus, slice_ns=slice_ns, hz=hz)
        self.min_gran_ns = slice_ns or BASE_SLICE_NS * self.scale
        self.latency_ns = 8 * slice_ns if slice_ns else SCHED_LATENCY_NS * self.scale
        self.wakeup_gran_ns = WAKEUP_GRAN_NS * self.scale

    def new_rq(self, cpu: int) -> RunQueue:
        return CfsRQ(self, cpu)

    def describe(self) -> dict[str, int | str | bool]:
        return {
            "policy": self.name,
            "min_granularity_ns": self.min_gran_ns,
            "sched_latency_ns": self.latency_ns,
            "hz": self.hz,
        }


# ---------------------------------------------------------------------------------------------
class EevdfRQ(_HeapRQ):
    """EEVDF: among eligible tasks (lag >= 0, i.e. vruntime <= weighted average V) run the one
    with the earliest virtual deadline (vruntime + slice * 1024 / weight).

    Eligible candidates sit in ``heap`` keyed by deadline, the others in ``later`` keyed by
    vruntime; pick_next moves tasks across as V moves.  V = sum_wv / load, kept exactly in
    integers (curr included, as Linux's avg_vruntime).
    """

    __slots__ = ("later", "sum_wv", "v_base", "slice", "lag_limit")

    def __init__(self, policy: Eevdf, cpu: int) -> None:
        super().__init__(policy, cpu)
        self.later: list[tuple[int, int, SchedEntity]] = []
        self.sum_wv = 0
        self.v_base = 0  # V of the queue when it last emptied: where newcomers start
        self.slice = policy.base_slice_ns
        self.lag_limit = max(2 * self.slice, policy.tick_ns)

    def avg_vruntime(self) -> int:
        return self.sum_wv // self.load if self.load else self.v_base

    def enqueue(self, se: SchedEntity, now_ns: int, flags: int = WAKEUP) -> None:
        w = se.weight
        vslice = self.slice * NICE_0_WEIGHT // w
        load = self.load
        if load:
            # place_entity with PLACE_LAG: keep the lag, inflated for the weight we add
            lag = 0 if se.new else se.vlag * (load + w) // load
            v = self.sum_wv // load - lag
        else:
            v = self.v_base
        se.vruntime = v
        if se.new:
            se.deadline = v + vslice // 2  # PLACE_DEADLINE_INITIAL
            se.new = False
        elif flags & MIGRATE:
            se.deadline = v + se.rel_deadline  # PLACE_REL_DEADLINE
        else:
            se.deadline = v + vslice
        se.rq = self
        self.load = load + w
        self.sum_wv += w * v
        self.seq += 1
        if v * self.load <= self.sum_wv:
            heapq.heappush(self.heap, (se.deadline, self.seq, se))
        else:
            heapq.heappush(self.later, (v, self.seq, se))
        self.nr_queued += 1

    def dequeue(self, se: SchedEntity, now_ns: int, flags: int = SLEEP) -> None:
        w = se.weight
        limit = self.lag_limit * NICE_0_WEIGHT // w
        lag = self.sum_wv // self.load - se.vruntime  # update_entity_lag, clamped
        se.vlag = -limit if lag < -limit else (limit if lag > limit else lag)
        se.rel_deadline = se.deadline - se.vruntime
        if se is self.curr:
            self.curr = None
        else:
            if not self._remove(self.heap, se):
                self._remove(self.later, se)
            self.nr_queued -= 1
        if self.load == w:
            self.v_base = self.sum_wv // self.load
        self.load -= w
        self.sum_wv -= w * se.vruntime

    def pick_next(self, now_ns: int) -> SchedEntity | None:
        if not self.nr_queued:
            return None
        load, s = self.load, self.sum_wv
        heap, later = self.heap, self.later
        push, pop = _heappush, _heappop
        while later and later[0][0] * load <= s:  # became eligible
            e = pop(later)
            push(heap, (e[2].deadline, e[1], e[2]))
        while heap:
            e = pop(heap)
            se = e[2]
            if se.vruntime * load <= s:
                break
            push(later, (se.vruntime, e[1], se))  # no longer eligible (V moved back): park it
        else:  # only when curr was not put back first: fall back to the smallest vruntime
            se = pop(later)[2]
        self.nr_queued -= 1
        self.curr = se
        se.prev_sum_exec = se.sum_exec
        return se

    def put_prev(self, se: SchedEntity, now_ns: int) -> None:
        self.curr = None
        self.seq += 1
        if se.vruntime * self.load <= self.sum_wv:  # eligible: straight to the deadline heap
            heapq.heappush(self.heap, (se.deadline, self.seq, se))
        else:
            heapq.heappush(self.later, (se.vruntime, self.seq, se))
        self.nr_queued += 1

    def put_prev_pick_next(self, se: SchedEntity, now_ns: int) -> SchedEntity:
        # put_prev() then pick_next(), fused (nr_queued goes +1 then -1)
        load, s = self.load, self.sum_wv
        heap, later = self.heap, self.later
        push, pop = _heappush, _heappop
        self.seq = seq = self.seq + 1
        v = se.vruntime
        if v * load <= s:
            push(heap, (se.deadline, seq, se))
        else:
            push(later, (v, seq, se))
        while later and later[0][0] * load <= s:  # became eligible
            e = pop(later)
            push(heap, (e[2].deadline, e[1], e[2]))
        while heap:
            e = pop(heap)
            se = e[2]
            if se.vruntime * load <= s:
                break
            push(later, (se.vruntime, e[1], se))
        else:
            se = pop(later)[2]
        self.curr = se
        se.prev_sum_exec = se.sum_exec
        return se

    def queued(self) -> list[SchedEntity]:
        load, s = self.load, self.sum_wv
        ses = [e[2] for e in self.heap + self.later]
        # eligible first by deadline, then the rest by vruntime
        return sorted(
            ses,
            key=lambda x: (x.vruntime * load > s, x.deadline if x.vruntime * load <= s else 0,
                           x.vruntime, x.tid),
        )  # fmt: skip

    def account_tick(self, se: SchedEntity, ran_ns: int, now_ns: int) -> SchedEntity:
        # account() and tick() inlined: the simulator's hottest call
        w = se.weight
        if ran_ns > 0:
            se.sum_exec += ran_ns
            dv = ran_ns if w == NICE_0_WEIGHT else ran_ns * NICE_0_WEIGHT // w
            se.vruntime += dv
            self.sum_wv += w * dv
        v = se.vruntime
        if v < se.deadline:
            return se
        se.deadline = v + self.slice * NICE_0_WEIGHT // w
        if not self.nr_queued:
            return se
        return self.put_prev_pick_next(se, now_ns)

    def account(self, se: SchedEntity, ran_ns: int) -> None:
        se.sum_exec += ran_ns
        w = se.weight
        dv = ran_ns if w == NICE_0_WEIGHT else ran_ns * NICE_0_WEIGHT // w
        se.vruntime += dv
        self.sum_wv += w * dv

    def runtime_left(self, se: SchedEntity) -> int | None:
        if not self.nr_queued:
            return None
        dv = se.deadline - se.vruntime
        return -(-dv * se.weight // NICE_0_WEIGHT) if dv > 0 else 0

    def tick(self, se: SchedEntity, now_ns: int) -> bool:
        if se.vruntime < se.deadline:
            return False
        # update_deadline: the slice is used up; request a new one and reschedule
        se.deadline = se.vruntime + self.slice * NICE_0_WEIGHT // se.weight
        return self.nr_queued > 0

    def wakeup_preempt(self, curr: SchedEntity, woken: SchedEntity) -> bool:
        return woken.vruntime * self.load <= self.sum_wv and woken.deadline < curr.deadline

    def yield_task(self, se: SchedEntity) -> None:
        # yield_task_fair (EEVDF): give up the rest of this request
        se.deadline += self.slice * NICE_0_WEIGHT // se.weight


class Eevdf(Policy):
    """Linux EEVDF (>= 6.6); ``slice_ns`` overrides the scaled base slice."""

    name = "eevdf"
    preempt_at_tick = True

    def __init__(self, ncpus: int = 1, *, slice_ns: int | None = None, hz: int = DEFAULT_HZ):
        super().__init__(ncpus, slice_ns=slice_ns, hz=hz)
        self.base_slice_ns = slice_ns or BASE_SLICE_NS * self.scale

    def new_rq(self, cpu: int) -> RunQueue:
        return EevdfRQ(self, cpu)

    def describe(self) -> dict[str, int | str | bool]:
        return {"policy": self.name, "base_slice_ns": self.base_slice_ns, "hz": self.hz}


_REGISTRY: dict[str, type[Policy]] = {"fifo": Fifo, "rr": RoundRobin, "cfs": Cfs, "eevdf": Eevdf}


def make_policy(
    name: str, ncpus: int = 1, *, slice_ns: int | None = None, hz: int = DEFAULT_HZ
) -> Policy:
    """Build a policy by name (fifo, rr, cfs, eevdf); ValueError on an unknown name."""
    try:
        cls = _REGISTRY[name.lower()]
    except KeyError:
        raise ValueError(f"unknown policy {name!r}; choose from {', '.join(POLICIES)}") from None
    return cls(ncpus, slice_ns=slice_ns, hz=hz)
