"""The simulator's data: its input specs, its per-task state and its results.

Apart from ``engine.py`` so that the engine module is only the event loop, and so that readers
of results (commands, trace replay, validation) see the types without the engine.  The
package (``emulated_kernel.sim``) re-exports them.
"""

from __future__ import annotations

import math
from array import array
from bisect import bisect_right
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from ..policies import SchedEntity

INF_NS = 1 << 62  # an endless CPU burst


@dataclass(frozen=True)
class TaskSpec:
    """One task: CPU bursts (ns, ``math.inf`` = endless) with blocking waits between them.

    ``ios[i]`` is the wait after ``bursts[i]``; a zero wait between two bursts is a
    ``sched_yield()``.  ``affinity`` None means every core.
    """

    bursts: Sequence[float]
    ios: Sequence[float] = ()
    nice: int = 0
    affinity: frozenset[int] | None = None
    arrival_ns: int = 0
    name: str = ""


@dataclass(frozen=True)
class PoolSpec:
    """``workers`` tasks pulling (io_ns, service_ns) items from one shared FIFO queue.

    The model of a process pool: a free worker takes the next item, waits its I/O, then runs
    its service burst; it does not yield between items.
    """

    items: Sequence[tuple[float, float]]
    workers: int
    nice: int = 0
    affinity: frozenset[int] | None = None
    name: str = "worker"


#: a Step's wait meaning "block until the program wakes the task" (``Control.wake``)
BLOCK = -1

#: what a program's task does next: ``(wait_ns, burst_ns)`` = block ``wait_ns`` off-CPU (0: not
#: at all; ``BLOCK``: until woken), then run ``burst_ns`` on a core; None = exit.
Step = tuple[int, int] | None


class Control(Protocol):
    """What a ``Program`` may ask of the running simulator (valid only inside ``run()``)."""

    def wake(self, task: SimTask, at: int, burst: int) -> None:
        """Make a blocked ``task`` runnable at ``at`` with a CPU burst of ``burst`` ns."""

    def call_at(self, at: int, fn: Callable[[int], None]) -> None:
        """Call ``fn(now)`` at virtual time ``at`` (after the events already due then)."""

    def interrupt(self, task: SimTask, now: int) -> int:
        """End ``task``'s current burst now (running) or as soon as it runs (queued, or woken
        and not yet placed); return the ns it had left.  Its program's ``next`` follows."""

    def finish(self, task: SimTask, now: int) -> None:
        """A blocked ``task`` exits without running again."""


class Program(Protocol):
    """Drives one task step by step: the hook the pool models (``predict/gil.py``) build on.

    ``first`` is called once at the task's arrival, ``next`` each time a burst of the task
    ends (completed or interrupted); both return the next ``Step``.
    """

    def first(self, task: SimTask, ctl: Control) -> Step: ...

    def next(self, task: SimTask, now: int) -> Step: ...


@dataclass(frozen=True)
class ProgramSpec:
    """One task driven by a ``Program`` (threads of the GIL model, pool parents, workers)."""

    program: Program
    nice: int = 0
    affinity: frozenset[int] | None = None
    arrival_ns: int = 0
    name: str = ""


class SimTask(SchedEntity):
    __slots__ = (
        "name",
        "bursts",
        "ios",
        "pool",
        "arrival",
        "phase",
        "remaining",
        "cpu",
        "ready_ns",
        "finish_ns",
        "cpu_ns",
        "wait_ns",
        "nvcsw",
        "nivcsw",
        "migrations",
        "timeslices",
        "items",
        "allowed_sorted",
        "program",
    )

    def __init__(
        self,
        tid: int,
        name: str,
        nice: int,
        allowed: frozenset[int] | None,
        arrival: int,
        bursts: list[int],
        ios: list[int],
        pool: deque[tuple[int, int]] | None,
    ) -> None:
        super().__init__(tid, nice, allowed)
        self.name = name
        self.bursts = bursts
        self.ios = ios
        self.pool = pool
        self.arrival = arrival
        self.phase = 0
        self.remaining = 0
        self.cpu = -1
        self.ready_ns = 0
        self.finish_ns = -1
        self.cpu_ns = 0
        self.wait_ns = 0
        self.nvcsw = 0
        self.nivcsw = 0
        self.migrations = 0
        self.timeslices = 0
        self.items = 0
        self.allowed_sorted: tuple[int, ...] = tuple(sorted(allowed)) if allowed else ()
        self.program: Program | None = None


@dataclass
class TaskResult:
    tid: int
    name: str
    nice: int
    affinity: list[int] | None
    arrival_ns: int
    finish_ns: int | None
    turnaround_ns: int | None
    cpu_ns: int
    wait_ns: int
    voluntary: int
    involuntary: int
    migrations: int
    timeslices: int
    cpu_share: float
    items: int = 0


@dataclass
class SimResult:
    policy: dict[str, Any]
    cores: int
    tasks: list[TaskResult]
    makespan_ns: int
    end_ns: int
    finished: int
    events: int
    wall_s: float
    events_per_s: float
    wait_percentiles_ns: dict[str, int]
    total_cpu_ns: int
    utilization: float
    ctx_switch_ns: int
    segments: list[tuple[int, int, int, int]] | None = field(default=None, repr=False)

    def to_dict(self, *, with_tasks: bool = True) -> dict[str, Any]:
        """JSON-ready dict; the wall-clock fields are the only non-deterministic ones."""
        d = {
            "policy": self.policy,
            "cores": self.cores,
            "makespan_s": self.makespan_ns / 1e9,
            "end_s": self.end_ns / 1e9,
            "tasks": len(self.tasks),
            "finished": self.finished,
            "events": self.events,
            "wall_s": self.wall_s,
            "events_per_s": self.events_per_s,
            "runqueue_wait_ms": {k: v / 1e6 for k, v in self.wait_percentiles_ns.items()},
            "total_cpu_s": self.total_cpu_ns / 1e9,
            "utilization": self.utilization,
            "ctx_switch_ns": self.ctx_switch_ns,
        }
        if with_tasks:
            d["per_task"] = [t.__dict__.copy() for t in self.tasks]
        return d


def _ns(x: float, what: str) -> int:
    if isinstance(x, float) and math.isinf(x) and x > 0:
        return INF_NS
    if x != x or x < 0:  # NaN or negative
        raise ValueError(f"{what} must be >= 0, got {x!r}")
    return int(x)


def percentiles(values: Iterable[int]) -> dict[str, int]:
    """Nearest-rank p50/p90/p99/p99.9/max (0 when empty), as schbench reports them.

    A large ``array('q')`` (a long run keeps one wait per context switch: 15 M for 60 s at
    1,024 cores) is ranked without turning it into one list of int objects (~40 bytes each).
    """
    if isinstance(values, array) and len(values) > _CHUNK:
        return _percentiles_of_array(values)
    v = sorted(values)
    if not v:
        return {"p50": 0, "p90": 0, "p99": 0, "p99.9": 0, "max": 0}
    n = len(v)

    def rank(p: float) -> int:
        return v[min(n - 1, max(0, math.ceil(p * n) - 1))]

    return {"p50": rank(0.5), "p90": rank(0.9), "p99": rank(0.99), "p99.9": rank(0.999),
            "max": v[-1]}  # fmt: skip


_CHUNK = 1 << 20


def _percentiles_of_array(a: array) -> dict[str, int]:
    """Same answer as ``percentiles`` with O(chunk) extra memory: sort ``a`` in place chunk by
    chunk, then find each rank by bisecting on the value (count of values <= x over chunks)."""
    n = len(a)
    runs = []
    for i in range(0, n, _CHUNK):
        a[i : i + _CHUNK] = array(a.typecode, sorted(a[i : i + _CHUNK]))
        runs.append(memoryview(a)[i : i + _CHUNK])
    lo0 = min(r[0] for r in runs)
    hi0 = max(r[-1] for r in runs)

    def kth(k: int) -> int:  # the k-th smallest, 0-based
        lo, hi = lo0, hi0
        while lo < hi:
            mid = (lo + hi) // 2
            if sum(bisect_right(r, mid) for r in runs) > k:
                hi = mid
            else:
                lo = mid + 1
        return lo

    def rank(p: float) -> int:
        return kth(min(n - 1, max(0, math.ceil(p * n) - 1)))

    return {"p50": rank(0.5), "p90": rank(0.9), "p99": rank(0.99), "p99.9": rank(0.999),
            "max": hi0}  # fmt: skip
