"""Scheduling policies: one implementation each, shared by the simulator and the live kernel.

The registry: a new policy is one module here plus one entry in ``_REGISTRY``.  The run-queue
protocol every policy follows is documented in ``base.py``.
"""

from __future__ import annotations

from .base import (
    BASE_SLICE_NS,
    DEFAULT_HZ,
    MIGRATE,
    MS,
    NICE_0_WEIGHT,
    PRIO_TO_WEIGHT,
    RR_TIMESLICE_NS,
    SCHED_LATENCY_NS,
    SLEEP,
    WAKEUP,
    WAKEUP_GRAN_NS,
    FairPolicy,
    Policy,
    RunQueue,
    SchedEntity,
    cpu_scale,
    nice_to_weight,
)
from .cfs import Cfs, CfsRQ
from .eevdf import Eevdf, EevdfRQ
from .fifo import Fifo, FifoRQ
from .rr import RoundRobin, RoundRobinRQ

_REGISTRY: dict[str, type[Policy]] = {cls.name: cls for cls in (Fifo, RoundRobin, Cfs, Eevdf)}
POLICIES: tuple[str, ...] = tuple(_REGISTRY)  # ("fifo", "rr", "cfs", "eevdf")


def make_policy(
    name: str, ncpus: int = 1, *, slice_ns: int | None = None, hz: int = DEFAULT_HZ
) -> Policy:
    """Build a policy by name (fifo, rr, cfs, eevdf); ValueError on an unknown name."""
    try:
        cls = _REGISTRY[name.lower()]
    except KeyError:
        raise ValueError(f"unknown policy {name!r}; choose from {', '.join(POLICIES)}") from None
    return cls(ncpus, slice_ns=slice_ns, hz=hz)


__all__ = [
    "BASE_SLICE_NS",
    "DEFAULT_HZ",
    "MIGRATE",
    "MS",
    "NICE_0_WEIGHT",
    "POLICIES",
    "PRIO_TO_WEIGHT",
    "RR_TIMESLICE_NS",
    "SCHED_LATENCY_NS",
    "SLEEP",
    "WAKEUP",
    "WAKEUP_GRAN_NS",
    "Cfs",
    "CfsRQ",
    "Eevdf",
    "EevdfRQ",
    "FairPolicy",
    "Fifo",
    "FifoRQ",
    "Policy",
    "RoundRobin",
    "RoundRobinRQ",
    "RunQueue",
    "SchedEntity",
    "cpu_scale",
    "make_policy",
    "nice_to_weight",
]
