"""What a simulation run leaves: its ``SimResult``, collected from the tasks' final state, and
the invariant checks a ``check=True`` run makes after every event (tests only: slow).

Apart from ``engine.py`` because neither is part of the hot loop: the result is built once,
at the end, and the checks run only under test.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from .data import SimResult, SimTask, TaskResult, percentiles


def check_invariants(rqs: list[Any], curr: list[SimTask | None], now: int) -> None:
    """Work conservation and affinity, checked after every event (tests only: slow)."""
    queued = [(c, q) for c, rq in enumerate(rqs) for q in rq.queued()]
    for c, t in enumerate(curr):
        if t is None:
            assert rqs[c].nr_queued == 0, f"t={now}: core {c} idle with its own queue full"
            for oc, q in queued:
                assert not q.can_run_on(c), (
                    f"t={now}: core {c} idle while task {q.tid} waits on core {oc}"
                )
        else:
            assert t.can_run_on(c), f"t={now}: task {t.tid} runs on forbidden core {c}"
    for c, q in queued:
        assert q.can_run_on(c), f"t={now}: task {q.tid} queued on forbidden core {c}"


def collect_result(
    tasks: Sequence[SimTask],
    policy: str,
    cores: int,
    ctx_switch_ns: int,
    end_t: int,
    events: int,
    wall: float,
    waits: Iterable[int],
    segments: list[tuple[int, int, int, int]] | None,
) -> SimResult:
    """The ``SimResult`` of a run that stopped at ``end_t``, from its tasks' final state."""
    out = []
    total_cpu = 0
    finished = 0
    makespan = 0
    for t in tasks:
        fin = t.finish_ns if t.finish_ns >= 0 else None
        if fin is not None:
            finished += 1
            makespan = max(makespan, fin)
        span = (fin if fin is not None else end_t) - t.arrival
        total_cpu += t.cpu_ns
        out.append(
            TaskResult(
                tid=t.tid,
                name=t.name,
                nice=t.nice,
                affinity=sorted(t.allowed) if t.allowed is not None else None,
                arrival_ns=t.arrival,
                finish_ns=fin,
                turnaround_ns=None if fin is None else fin - t.arrival,
                cpu_ns=t.cpu_ns,
                wait_ns=t.wait_ns,
                voluntary=t.nvcsw,
                involuntary=t.nivcsw,
                migrations=t.migrations,
                timeslices=t.timeslices,
                cpu_share=t.cpu_ns / span if span > 0 else 0.0,
                items=t.items,
            )
        )
    if finished < len(tasks):
        makespan = end_t
    return SimResult(
        policy=policy,
        cores=cores,
        tasks=out,
        makespan_ns=makespan,
        end_ns=end_t,
        finished=finished,
        events=events,
        wall_s=wall,
        events_per_s=events / wall if wall > 0 else 0.0,
        wait_percentiles_ns=percentiles(waits),
        total_cpu_ns=total_cpu,
        utilization=total_cpu / (cores * end_t) if end_t > 0 else 0.0,
        ctx_switch_ns=ctx_switch_ns,
        segments=segments,
    )
