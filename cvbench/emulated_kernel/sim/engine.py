"""Deterministic discrete-event simulator of N cores running the policies of ``../policies/``.

Time is integer nanoseconds on a virtual clock; events sit in one heap ordered by
(time, sequence number), so the same input gives bit-identical output.  Stale events
(a burst end of a preempted task, an outdated preemption check) are dropped by generation
counters instead of being removed from the heap, and the hot loop allocates only the event
tuples: the aim is >= 300k events/s in CPython.
"""

from __future__ import annotations

import heapq
import time
from array import array
from collections import deque
from collections.abc import Callable, MutableSequence, Sequence
from typing import Any

from ..policies import MIGRATE, SLEEP, WAKEUP, Policy, make_policy

# the data types live in data.py (the package re-exports them)
from .data import (
    BLOCK,
    INF_NS,
    PoolSpec,
    ProgramSpec,
    SimResult,
    SimTask,
    TaskSpec,
    _ns,
)
from .outcome import check_invariants, collect_result
from .steady import is_closed, live_checks, run_cores_to_end

_WAKE, _DONE, _CHECK, _CALL = 0, 1, 2, 3


class _Control:
    """``data.Control`` for the programs of one run: closures over the run's state."""

    __slots__ = ("wake", "call_at", "interrupt", "finish")


class Simulator:
    """Build once, ``run()`` once.  See ``simulate()`` for the parameters."""

    def __init__(
        self,
        tasks: Sequence[TaskSpec],
        cores: int,
        policy: str | Policy = "eevdf",
        *,
        pools: Sequence[PoolSpec] = (),
        programs: Sequence[ProgramSpec] = (),
        slice_ns: int | None = None,
        hz: int = 250,
        ctx_switch_ns: int = 0,
        duration_ns: int | None = None,
        scale_cpus: int | None = None,
        record: bool = False,
        check: bool = False,
        fast_forward: bool = True,
    ) -> None:
        if cores <= 0:
            raise ValueError("cores must be > 0")
        if ctx_switch_ns < 0:
            raise ValueError("context-switch cost must be >= 0")
        if duration_ns is not None and duration_ns <= 0:
            raise ValueError("duration must be > 0")
        self.cores = cores
        self.policy = (
            policy
            if isinstance(policy, Policy)
            else make_policy(policy, scale_cpus or cores, slice_ns=slice_ns, hz=hz)
        )
        self.ctx_switch_ns = ctx_switch_ns
        self.duration_ns = duration_ns
        self.record = record
        self.check = check
        self.fast_forward = fast_forward
        self.tasks: list[SimTask] = []
        endless = False
        all_cores = frozenset(range(cores))
        for spec in tasks:
            bursts = [_ns(b, "burst") for b in spec.bursts]
            if not bursts:
                raise ValueError("a task needs at least one burst")
            ios = [_ns(x, "io wait") for x in spec.ios]
            if any(x >= INF_NS for x in ios):
                raise ValueError("an io wait cannot be infinite")
            endless |= any(b >= INF_NS for b in bursts)
            t = self._new_task(spec.name, spec.nice, spec.affinity, all_cores, spec.arrival_ns)
            t.bursts, t.ios, t.remaining = bursts, ios, bursts[0]
        for pool in pools:
            if pool.workers <= 0:
                raise ValueError("a pool needs at least one worker")
            items: deque[tuple[int, int]] = deque(
                (_ns(io, "io wait"), _ns(s, "service time")) for io, s in pool.items
            )
            for k in range(pool.workers):
                t = self._new_task(f"{pool.name}{k}", pool.nice, pool.affinity, all_cores, 0)
                t.pool = items
        for ps in programs:
            t = self._new_task(ps.name, ps.nice, ps.affinity, all_cores, ps.arrival_ns)
            t.program = ps.program
        self.has_programs = bool(programs)
        if endless and duration_ns is None:
            raise ValueError("endless (inf) bursts need a duration")

    def _new_task(
        self,
        name: str,
        nice: int,
        affinity: frozenset[int] | None,
        all_cores: frozenset[int],
        arrival: int,
    ) -> SimTask:
        tid = len(self.tasks)
        allowed = None
        if affinity is not None:
            allowed = frozenset(affinity) & all_cores
            if not allowed:
                raise ValueError(
                    f"task {tid}: affinity {sorted(affinity)} names no core in 0..{self.cores - 1}"
                )
            if allowed == all_cores:
                allowed = None
        if arrival < 0:
            raise ValueError("arrival must be >= 0")
        t = SimTask(tid, name or f"t{tid}", nice, allowed, int(arrival), [], [], None)
        self.tasks.append(t)
        return t

    # ------------------------------------------------------------------------------------
    def run(self) -> SimResult:
        cores = self.cores
        policy = self.policy
        rqs = [policy.new_rq(c) for c in range(cores)]
        curr: list[SimTask | None] = [None] * cores
        start = [0] * cores  # when curr's accounting period began
        seg_start = [0] * cores
        dgen = [0] * cores  # dispatch generation: invalidates burst-end events
        cgen = [0] * cores  # check generation: invalidates preemption checks
        nrun = [0] * cores  # curr + queued: idle balancing pulls from the longest queue
        wload = [0] * cores  # sum of their weights: placement picks the lightest queue
        loadheap = [(0, c) for c in range(cores)]  # lazy min-heap of (wload, cpu)
        maxheap: list[tuple[int, int]] = []  # lazy min-heap of (-nrun, cpu) for nrun > 1
        idle = cores
        end = self.duration_ns if self.duration_ns is not None else INF_NS
        # run-queue waits (each <= end) as raw int64s when they fit: no int object kept
        # alive per context switch
        waits: MutableSequence[int] = array("q") if end < 1 << 63 else []
        wappend = waits.append
        segments: list[tuple[int, int, int, int]] | None = [] if self.record else None
        tick = policy.tick_ns
        at_tick = policy.preempt_at_tick
        cs = self.ctx_switch_ns
        push, pop = heapq.heappush, heapq.heappop
        # The event queue: a min-heap of distinct times, and per time its events in the order
        # they were posted.  The same order as one heap of (time, sequence number, ...) but
        # the heap compares plain ints and holds one entry per instant (ticks line up).
        times: list[int] = []
        buckets: dict[int, list[tuple[int, Any, int]]] = {}
        bget = buckets.get
        bpop = buckets.pop

        beyond = False  # an event was due after ``end``: the run stops there

        def post(at: int, kind: int, x: Any, g: int) -> None:
            if at > end:  # never reached: just remember the run is cut short
                nonlocal beyond
                beyond = True
                return
            lst = bget(at)
            if lst is None:
                buckets[at] = [(kind, x, g)]
                push(times, at)
            else:
                lst.append((kind, x, g))

        ctl = self._control(post, curr, dgen, start, rqs) if self.has_programs else None
        for t in self.tasks:
            if t.pool is not None:
                if not t.pool:
                    t.finish_ns = t.arrival
                    continue
                io, t.remaining = t.pool.popleft()
                t.items = 1
                post(t.arrival + io, _WAKE, t, 0)
            elif t.program is not None:
                step = t.program.first(t, ctl)
                if step is None:
                    t.finish_ns = t.arrival
                    continue
                io, t.remaining = step
                if io != BLOCK:
                    post(t.arrival + io, _WAKE, t, 0)
            else:
                post(t.arrival, _WAKE, t, 0)

        def set_load(c: int, d: int, w: int) -> None:
            n = nrun[c] + d
            nrun[c] = n
            x = wload[c] + w
            wload[c] = x
            push(loadheap, (x, c))
            if n > 1:
                push(maxheap, (-n, c))
                if len(maxheap) > 8 * cores + 64:  # compact the stale entries
                    maxheap[:] = [(-nrun[x], x) for x in range(cores) if nrun[x] > 1]
                    heapq.heapify(maxheap)

        def select_cpu(t: SimTask) -> int:
            """Idle allowed core with the lowest id, else the allowed queue with the least
            weight (Linux's load: sum of nice weights), lowest id on ties."""
            if t.allowed is None:
                while True:
                    n, c = loadheap[0]
                    if wload[c] == n:
                        return c
                    pop(loadheap)
                    if len(loadheap) > 8 * cores + 64:  # compact the stale entries
                        loadheap[:] = [(wload[x], x) for x in range(cores)]
                        heapq.heapify(loadheap)
            best, bn = -1, INF_NS
            for c in t.allowed_sorted:
                n = wload[c]
                if n < bn:
                    best, bn = c, n
                    if n == 0:
                        break
            return best

        def sync(c: int, now: int) -> None:
            b = start[c]
            if now > b:
                t = curr[c]
                ran = now - b
                rqs[c].account(t, ran)
                t.cpu_ns += ran
                t.remaining -= ran
                start[c] = now

        def arm(c: int, t: SimTask, now: int, strict: bool = False) -> None:
            g = cgen[c] + 1
            cgen[c] = g
            left = rqs[c].runtime_left(t)
            if left is None:
                return
            b = start[c]
            at = (b if b > now else now) + left
            if strict and at <= now:
                at = now + 1
            if at_tick:
                at = -(-at // tick) * tick
            post(at, _CHECK, c, g)

        def run_on(c: int, t: SimTask, now: int) -> None:
            """Switch ``t`` in on core ``c`` (it was just picked from rqs[c])."""
            nonlocal beyond
            w = now - t.ready_ns
            t.wait_ns += w
            wappend(w)
            t.timeslices += 1
            b = now + cs
            curr[c] = t
            start[c] = b
            seg_start[c] = b
            g = dgen[c] + 1
            dgen[c] = g
            r = t.remaining
            if r < INF_NS:  # post(b + r, _DONE, c, g), inlined
                at = b + r
                if at > end:
                    beyond = True
                else:
                    lst = bget(at)
                    if lst is None:
                        buckets[at] = [(_DONE, c, g)]
                        push(times, at)
                    else:
                        lst.append((_DONE, c, g))
            # arm(c, t, now), inlined: this is the hottest path
            g = cgen[c] + 1
            cgen[c] = g
            left = rqs[c].runtime_left(t)
            if left is not None:
                at = b + left
                if at_tick:
                    at = -(-at // tick) * tick
                lst = bget(at)
                if lst is None:
                    buckets[at] = [(_CHECK, c, g)]
                    push(times, at)
                else:
                    lst.append((_CHECK, c, g))

        def leave(c: int, t: SimTask, now: int) -> None:
            if segments is not None and now > seg_start[c]:
                segments.append((c, t.tid, seg_start[c], now))

        def migrate_in(t: SimTask, c: int, now: int, flags: int) -> None:
            if t.cpu != c:
                if t.cpu >= 0:
                    t.migrations += 1
                t.cpu = c
            rqs[c].enqueue(t, now, flags)
            set_load(c, 1, t.weight)

        def pull(c: int, now: int) -> SimTask | None:
            """Idle balancing: take a queued task allowed here from the busiest queue."""
            while maxheap:
                n, o = maxheap[0]
                if nrun[o] == -n:
                    break
                pop(maxheap)
            else:
                return None
            if n > -2:  # the busiest core runs at most one task: nothing waits anywhere
                return None
            t = rqs[o].steal(c)
            if t is None:  # affinity: try the other queues, busiest first
                for _, o in sorted((-nrun[x], x) for x in range(cores) if nrun[x] > 1):
                    t = rqs[o].steal(c)
                    if t is not None:
                        break
                else:
                    return None
            set_load(o, -1, -t.weight)
            migrate_in(t, c, now, MIGRATE)
            return rqs[c].pick_next(now)

        def dispatch(c: int, now: int) -> None:
            """Core ``c`` has no current task: run the next one, pull one, or go idle."""
            nonlocal idle
            t = rqs[c].pick_next(now)
            if t is None:
                t = pull(c, now)
                if t is None:
                    curr[c] = None
                    cgen[c] += 1  # drop the pending preemption check
                    idle += 1
                    return
            run_on(c, t, now)

        def push_if_idle(t: SimTask, c: int, now: int) -> None:
            """A task just put back on ``c`` may run on an idle core: move it there."""
            nonlocal idle
            if t.allowed is None:
                d = select_cpu(t)
                if nrun[d]:
                    return
            else:
                for d in t.allowed_sorted:
                    if not nrun[d]:
                        break
                else:
                    return
            rqs[c].dequeue(t, now, MIGRATE)
            set_load(c, -1, -t.weight)
            migrate_in(t, d, now, MIGRATE)
            idle -= 1
            run_on(d, rqs[d].pick_next(now), now)

        def preempt(c: int, t: SimTask, now: int) -> None:
            """Put ``t`` (curr on ``c``) back and switch to the policy's pick."""
            nt = rqs[c].put_prev_pick_next(t, now)
            if nt is t:
                arm(c, t, now, True)
                return
            t.nivcsw += 1
            t.ready_ns = now
            leave(c, t, now)
            run_on(c, nt, now)
            if idle:
                push_if_idle(t, c, now)

        events = 0
        now = 0
        stopped = False
        checker = check_invariants if self.check else None
        # steady.py: once cores cannot affect each other, run each to the end on its own
        decouple = (
            self.fast_forward and segments is None and checker is None and not self.has_programs
        )
        scan_every = cores + len(self.tasks)
        scan_at = scan_every
        wall0 = time.perf_counter()
        while times:
            if decouple and events >= scan_at:
                if is_closed(now, end, idle, buckets, dgen, self.tasks):
                    checks = live_checks(buckets, cgen)
                    n, late = run_cores_to_end(
                        checks, rqs, curr, start, seg_start, end, tick, at_tick, cs, wappend
                    )
                    events += n
                    beyond = beyond or late
                    times.clear()
                    buckets.clear()
                    break
                scan_every *= 2  # geometric back-off: O(1) per event amortized
                scan_at = events + scan_every
            now = pop(times)
            if now > end:
                stopped = True
                break
            for kind, c, g in bpop(now):
                if kind == _CHECK:  # the most frequent event: a preemption check
                    if cgen[c] != g:
                        continue
                    t = curr[c]
                    rq = rqs[c]
                    b = start[c]
                    if now > b:  # sync(c, now), inlined; the policy accounts in account_tick
                        ran = now - b
                        t.cpu_ns += ran
                        t.remaining -= ran
                        start[c] = now
                    else:
                        ran = 0
                    nt = rq.account_tick(t, ran, now)
                    if nt is t:  # arm(c, t, now, True), inlined
                        g = cgen[c] + 1
                        cgen[c] = g
                        left = rq.runtime_left(t)
                        if left is not None:
                            b = start[c]
                            at = (b if b > now else now) + left
                            if at <= now:
                                at = now + 1
                            if at_tick:
                                at = -(-at // tick) * tick
                            lst = bget(at)
                            if lst is None:
                                buckets[at] = [(_CHECK, c, g)]
                                push(times, at)
                            else:
                                lst.append((_CHECK, c, g))
                    else:
                        t.nivcsw += 1
                        t.ready_ns = now
                        if segments is not None and now > seg_start[c]:
                            segments.append((c, t.tid, seg_start[c], now))
                        # run_on(c, nt, now), inlined
                        w = now - nt.ready_ns
                        nt.wait_ns += w
                        wappend(w)
                        nt.timeslices += 1
                        b = now + cs
                        curr[c] = nt
                        start[c] = b
                        seg_start[c] = b
                        g = dgen[c] + 1
                        dgen[c] = g
                        r = nt.remaining
                        if r < INF_NS:  # post(b + r, _DONE, c, g), inlined
                            at = b + r
                            if at > end:
                                beyond = True
                            else:
                                lst = bget(at)
                                if lst is None:
                                    buckets[at] = [(_DONE, c, g)]
                                    push(times, at)
                                else:
                                    lst.append((_DONE, c, g))
                        g = cgen[c] + 1
                        cgen[c] = g
                        left = rq.runtime_left(nt)
                        if left is not None:
                            at = b + left
                            if at_tick:
                                at = -(-at // tick) * tick
                            lst = bget(at)
                            if lst is None:
                                buckets[at] = [(_CHECK, c, g)]
                                push(times, at)
                            else:
                                lst.append((_CHECK, c, g))
                        if idle:
                            push_if_idle(t, c, now)
                elif kind == _DONE:
                    if dgen[c] != g:
                        continue
                    sync(c, now)
                    t = curr[c]
                    rq = rqs[c]
                    # next phase of the task: (io, burst) or exit
                    pool = t.pool
                    prog = t.program
                    if prog is not None:
                        step = prog.next(t, now)
                        if step is None:
                            nxt = False
                        else:
                            io, burst = step
                            nxt = True
                    elif pool is not None:
                        if pool:
                            io, burst = pool.popleft()
                            t.items += 1
                            nxt = True
                        else:
                            nxt = False
                    else:
                        i = t.phase + 1
                        if i < len(t.bursts):
                            t.phase = i
                            io = t.ios[i - 1] if i <= len(t.ios) else 0
                            burst = t.bursts[i]
                            nxt = True
                        else:
                            nxt = False
                    if not nxt:
                        rq.dequeue(t, now, SLEEP)
                        set_load(c, -1, -t.weight)
                        t.finish_ns = now
                        leave(c, t, now)
                        dispatch(c, now)
                    elif io:
                        t.remaining = burst
                        rq.dequeue(t, now, SLEEP)
                        set_load(c, -1, -t.weight)
                        t.nvcsw += 1
                        leave(c, t, now)
                        if io > 0:  # else BLOCK: its program wakes it
                            post(now + io, _WAKE, t, 0)
                        dispatch(c, now)
                    else:
                        t.remaining = burst
                        if pool is None and prog is None and rq.nr_queued:  # sched_yield
                            rq.yield_task(t)
                            nt = rq.put_prev_pick_next(t, now)
                            if nt is t:
                                g = dgen[c] + 1
                                dgen[c] = g
                                if burst < INF_NS:
                                    post(now + burst, _DONE, c, g)
                                arm(c, t, now)
                            else:
                                t.nvcsw += 1
                                t.ready_ns = now
                                leave(c, t, now)
                                run_on(c, nt, now)
                                if idle:
                                    push_if_idle(t, c, now)
                        else:  # keep running
                            g = dgen[c] + 1
                            dgen[c] = g
                            if burst < INF_NS:
                                post(now + burst, _DONE, c, g)
                elif kind == _WAKE:  # ``c`` is the task
                    t = c
                    t.ready_ns = now
                    c = select_cpu(t)
                    migrate_in(t, c, now, WAKEUP)
                    cur = curr[c]
                    if cur is None:
                        idle -= 1
                        run_on(c, rqs[c].pick_next(now), now)
                    else:
                        sync(c, now)
                        rq = rqs[c]
                        if rq.wakeup_preempt(cur, t):
                            preempt(c, cur, now)
                        else:
                            arm(c, cur, now)
                else:  # _CALL: ``c`` is a program's callback
                    c(now)
                events += 1
                if checker is not None:
                    checker(rqs, curr, now)
        wall = time.perf_counter() - wall0

        # ---- finish: account what is still running or waiting at the stop time
        stopped = stopped or beyond
        if not stopped and self.duration_ns is not None and any(x is not None for x in curr):
            stopped = True  # endless tasks that nothing interrupts: no events left
        end_t = end if stopped else now
        for c in range(cores):
            t = curr[c]
            if t is not None:
                sync(c, end_t)
                leave(c, t, end_t)
            for q in rqs[c].queued():
                q.wait_ns += end_t - q.ready_ns
        return collect_result(
            self.tasks,
            self.policy.describe(),
            self.cores,
            self.ctx_switch_ns,
            end_t,
            events,
            wall,
            waits,
            segments,
        )

    @staticmethod
    def _control(
        post: Callable[[int, int, Any, int], None],
        curr: list[SimTask | None],
        dgen: list[int],
        start: list[int],
        rqs: list[Any],
    ) -> _Control:
        """The ``Control`` handed to programs; see ``data.Control`` for the contract."""
        ctl = _Control()

        def wake(t: SimTask, at: int, burst: int) -> None:
            t.remaining = burst
            post(at, _WAKE, t, 0)

        def call_at(at: int, fn: Callable[[int], None]) -> None:
            post(at, _CALL, fn, 0)

        def interrupt(t: SimTask, now: int) -> int:
            c = t.cpu
            if c >= 0 and curr[c] is t:  # on a core: account it, then end its burst now
                ran = now - start[c]
                if ran > 0:
                    rqs[c].account(t, ran)
                    t.cpu_ns += ran
                    t.remaining -= ran
                    start[c] = now
                g = dgen[c] + 1
                dgen[c] = g
                post(now, _DONE, c, g)
            left = t.remaining
            t.remaining = 0  # if preempted before that, or not running yet: ends when it runs
            return left

        def finish(t: SimTask, now: int) -> None:
            t.finish_ns = now

        ctl.wake, ctl.call_at, ctl.interrupt, ctl.finish = wake, call_at, interrupt, finish
        return ctl


def simulate(
    tasks: Sequence[TaskSpec],
    cores: int,
    policy: str | Policy = "eevdf",
    *,
    pools: Sequence[PoolSpec] = (),
    programs: Sequence[ProgramSpec] = (),
    slice_ns: int | None = None,
    hz: int = 250,
    ctx_switch_ns: int = 0,
    duration_ns: int | None = None,
    scale_cpus: int | None = None,
    record: bool = False,
    check: bool = False,
    fast_forward: bool = True,
) -> SimResult:
    """Simulate ``tasks`` (and process ``pools``, and ``programs``: tasks driven step by step
    by a ``data.Program``, e.g. the GIL model's threads) on ``cores`` cores under ``policy``.

    ``slice_ns``: rr quantum, eevdf base slice, cfs min_granularity (None: Linux defaults,
    scaled by ``scale_cpus`` or ``cores``).  ``duration_ns`` stops the virtual clock (needed
    for endless bursts).  ``record`` keeps (cpu, tid, start, end) run segments; ``check``
    asserts work conservation and affinity after every event.  ``fast_forward`` lets cores
    that can no longer affect each other run to the end one at a time (``steady.py``); the
    result is the same either way (tests compare), only faster.  ValueError on bad input.
    """
    return Simulator(
        tasks,
        cores,
        policy,
        pools=pools,
        programs=programs,
        slice_ns=slice_ns,
        hz=hz,
        ctx_switch_ns=ctx_switch_ns,
        duration_ns=duration_ns,
        scale_cpus=scale_cpus,
        record=record,
        check=check,
        fast_forward=fast_forward,
    ).run()
