"""Turn a run trace (``cvbench run --trace FILE``) into a prediction for the processes model.

Trace schema 1::

    {"schema": 1, "workload": "threshold", "workers": 2,
     "items": [{"service_s": 0.012, "io_s": 0.0}, ...]}

The processes model is a pool: ``workers`` tasks pull items from one shared queue; a worker
waits an item's ``io_s`` (blocking, off-CPU) and then runs its ``service_s`` on a core.  The
simulator replays that on ``cores`` cores.  Pool start-up and pickling costs are not in the
trace, so the prediction is a lower bound on the real makespan.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .sim import PoolSpec, SimResult, simulate

SCHEMA = 1


class TraceError(ValueError):
    """A trace file that cannot be read; the message is one line, fit for the user."""


@dataclass(frozen=True)
class Trace:
    workload: str
    workers: int
    items: tuple[tuple[float, float], ...]  # (service_s, io_s)
    source: str = "<memory>"

    @property
    def total_service_s(self) -> float:
        return sum(s for s, _ in self.items)


@dataclass(frozen=True)
class Prediction:
    """What the simulator predicts for the processes model."""

    workload: str
    workers: int
    cores: int
    items: int
    makespan_s: float
    throughput_per_s: float
    policy: str
    result: SimResult

    def to_dict(self) -> dict[str, Any]:
        return {
            "workload": self.workload,
            "model": "processes",
            "workers": self.workers,
            "cores": self.cores,
            "items": self.items,
            "wall_s": self.makespan_s,
            "throughput_per_s": self.throughput_per_s,
            "policy": self.policy,
            "predicted": True,
        }


def _num(v: Any, where: str) -> float:
    if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v) or v < 0:
        raise TraceError(f"{where} must be a finite number >= 0, got {v!r}")
    return float(v)


def parse_trace(data: Any, source: str = "<memory>") -> Trace:
    """Validate a decoded trace; TraceError names the first problem found."""
    if not isinstance(data, Mapping):
        raise TraceError(f"{source}: trace must be a JSON object")
    if data.get("schema") != SCHEMA:
        raise TraceError(f"{source}: unsupported trace schema {data.get('schema')!r} (want 1)")
    workload = data.get("workload")
    if not isinstance(workload, str) or not workload:
        raise TraceError(f"{source}: 'workload' must be a non-empty string")
    workers = data.get("workers")
    if isinstance(workers, bool) or not isinstance(workers, int) or workers <= 0:
        raise TraceError(f"{source}: 'workers' must be an integer > 0, got {workers!r}")
    raw = data.get("items")
    if not isinstance(raw, list) or not raw:
        raise TraceError(f"{source}: 'items' must be a non-empty list")
    items = []
    for i, it in enumerate(raw):
        if not isinstance(it, Mapping) or "service_s" not in it:
            raise TraceError(f"{source}: items[{i}] must be an object with 'service_s'")
        items.append(
            (_num(it["service_s"], f"{source}: items[{i}].service_s"),
             _num(it.get("io_s", 0.0), f"{source}: items[{i}].io_s"))
        )  # fmt: skip
    return Trace(workload, workers, tuple(items), source)


def load_trace(path: str | os.PathLike[str]) -> Trace:
    """Read and validate a trace file; TraceError (a ValueError) when it is unusable."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as e:
        raise TraceError(f"{p}: cannot read trace ({e.strerror or e})") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        raise TraceError(f"{p}: not valid JSON (line {e.lineno}: {e.msg})") from None
    return parse_trace(data, str(p))


def pool_spec(trace: Trace, workers: int | None = None) -> PoolSpec:
    """The simulator's model of a process pool running the trace's items."""
    n = trace.workers if workers is None else workers
    if n <= 0:
        raise ValueError("workers must be > 0")
    items = [(round(io * 1e9), round(s * 1e9)) for s, io in trace.items]
    return PoolSpec(items=items, workers=n, name="proc")


def predict_processes(
    trace: Trace,
    workers: int | None = None,
    cores: int | None = None,
    policy: str = "eevdf",
    *,
    ctx_switch_ns: int = 0,
    hz: int = 250,
) -> Prediction:
    """Predict the processes model's makespan and throughput for ``workers`` on ``cores``.

    Defaults: the trace's worker count and this machine's usable cores.
    """
    n = trace.workers if workers is None else workers
    c = cores if cores is not None else len(os.sched_getaffinity(0))
    res = simulate([], c, policy, pools=[pool_spec(trace, n)], ctx_switch_ns=ctx_switch_ns, hz=hz)
    makespan = res.makespan_ns / 1e9
    thr = len(trace.items) / makespan if makespan > 0 else math.inf
    return Prediction(trace.workload, n, c, len(trace.items), makespan, thr, policy, res)
