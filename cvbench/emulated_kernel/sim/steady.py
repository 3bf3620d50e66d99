"""Decoupled cores: once no core can affect another, run each core's ticks to the end alone.

Why this exists (issue 12, item 5).  At 1,024 cores x 10k endless tasks every event is a
preemption check on one core, and the global event queue interleaves the cores in time order:
consecutive events touch a different core's run queue and tasks each time, all cold in the
CPU cache (10k tasks and their int objects are several MB), and each event pays for the
heap of times, the per-time buckets and the generation checks.  Nothing there is O(cores) or
O(tasks) per event; it is the constant per event and the cache misses that grow with the
machine: the same 10 tasks per core ran ~1.7x slower per event at 1,024 cores than at 8.

Cores interact only through wake-ups (placement reads every core's load), burst ends (a core
that goes idle pulls from the busiest queue; a woken or finished task changes loads) and
pushes of a preempted task to an idle core.  When

1. no core is idle,
2. no wake-up (arrival) and no live burst end is pending, and
3. no runnable task can finish its burst before the stop time,

none of those can happen again before the run stops: a preemption check on core ``c`` then
reads and writes only core ``c``'s run queue, its tasks and its own next check.  Checks of
different cores commute, so running each core's checks to the end in one tight loop gives the
same per-task counters, the same multiset of run-queue waits and the same event count as the
global loop: bit-for-bit the same ``SimResult`` (the waits are only appended in another
order, and percentiles sort them).  Runs that record segments or check invariants need the
global order and never take this path; tests compare both paths.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from ..policies import RunQueue
from .data import INF_NS, SimTask

DONE, CHECK = 1, 2  # engine.py's event kinds of a burst end and a preemption check


def is_closed(
    now: int,
    end: int,
    idle: int,
    buckets: dict[int, list[tuple[int, Any, int]]],
    dgen: Sequence[int],
    tasks: Sequence[SimTask],
) -> bool:
    """True when conditions 1-3 of the module docstring hold after the events at ``now``.

    Cheap tests first; O(pending events + tasks) at worst, so the caller calls it rarely
    (geometric back-off) and the check costs O(1) per event amortized.
    """
    if idle or end >= INF_NS:
        return False
    for lst in buckets.values():
        for kind, x, g in lst:
            if kind != CHECK and (kind != DONE or dgen[x] == g):  # a wake-up, a live burst end
                return False
    # a task whose burst could end by ``end`` would post a burst end when switched in
    return all(t.finish_ns >= 0 or now + t.remaining > end for t in tasks)


def live_checks(
    buckets: dict[int, list[tuple[int, Any, int]]], cgen: Sequence[int]
) -> list[tuple[int, int]]:
    """(core, time) of each core's pending preemption check (stale ones dropped)."""
    out = []
    for at, lst in buckets.items():
        for kind, c, g in lst:
            if kind == CHECK and cgen[c] == g:
                out.append((c, at))
    return out


def run_cores_to_end(
    checks: Sequence[tuple[int, int]],
    rqs: Sequence[RunQueue],
    curr: list[SimTask | None],
    start: list[int],
    seg_start: list[int],
    end: int,
    tick: int,
    at_tick: bool,
    cs: int,
    wappend: Callable[[int], Any],
) -> tuple[int, bool]:
    """Run each core's preemption checks from ``checks`` until the next one is after ``end``.

    The loop body is engine.py's check event (tick accounting, policy decision, switch, next
    check) with the core's state in locals.  Returns (events processed, whether anything was
    due after ``end``) for the caller's counters.
    """
    events = 0
    beyond = False
    for c, now in checks:
        if now > end:  # engine.py posts some checks past the end; popping one stops the run
            beyond = True
            continue
        rq = rqs[c]
        account_tick = rq.account_tick
        runtime_left = rq.runtime_left
        t = curr[c]
        assert t is not None
        b = start[c]
        seg = seg_start[c]
        while True:
            if now > b:
                ran = now - b
                t.cpu_ns += ran
                t.remaining -= ran
                b = now
            else:
                ran = 0
            nt = account_tick(t, ran, now)
            left = runtime_left(nt)
            events += 1
            if nt is t:
                if left is None:  # alone on its core: no more checks
                    break
                at = (b if b > now else now) + left
                if at <= now:
                    at = now + 1
            else:
                t.nivcsw += 1
                t.ready_ns = now
                w = now - nt.ready_ns
                nt.wait_ns += w
                wappend(w)
                nt.timeslices += 1
                b = seg = now + cs
                t = nt
                if t.remaining < INF_NS:  # its burst end falls after ``end`` (condition 3)
                    beyond = True
                if left is None:
                    break
                at = b + left
            if at_tick:
                at = -(-at // tick) * tick
            if at > end:
                beyond = True
                break
            now = at
        curr[c] = t
        start[c] = b
        seg_start[c] = seg
    return events, beyond
