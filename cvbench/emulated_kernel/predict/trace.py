"""Turn a run trace (``cvbench run --trace FILE``) into predictions.

Trace schema 1 (the optional fields were added for ``pool_models``; old traces still load)::

    {"schema": 1, "workload": "threshold", "workers": 2,
     "items": [{"service_s": 0.012, "io_s": 0.0,                # required / default 0
                "gil_s": 0.002, "released_s": 0.010,          # optional: the GIL split
                "bytes_in": 810000, "bytes_out": 120}, ...],  # optional: pickled sizes
     "costs": {"pickle_pipe_s_per_byte": 1.1e-9, "round_trip_s": 1.5e-4,
               "offload_s": 4e-5, ...}}                        # optional: MachineCosts

``predict_processes`` (unchanged) replays ``service_s``/``io_s`` as a pool: ``workers`` tasks
pull items from one shared queue; a worker waits an item's ``io_s`` (blocking, off-CPU) and
then runs its ``service_s`` on a core.  No pool start-up, no pickling: a lower bound.

``Trace.item_costs(model)`` feeds ``pool_models.predict_model``.  The GIL split: give
``gil_s`` and ``released_s``, or one of them (the other is ``service_s`` minus it), for every
item or for none.  Without it a threads-family prediction is impossible and refused with a
one-line ``TraceError`` (guessing a split would print a number that means nothing); the
process and inline models need only ``service_s``.  Missing bytes count as 0 and missing
costs as free: such predictions say so in their notes.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

from ..sim import PoolSpec, SimResult, simulate
from .costs import ItemCost, MachineCosts
from .pool_models import GIL_MODELS
from .rows import prediction_row

SCHEMA = 1


class TraceError(ValueError):
    """A trace file that cannot be read; the message is one line, fit for the user."""


@dataclass(frozen=True)
class Trace:
    workload: str
    workers: int
    items: tuple[tuple[float, float], ...]  # (service_s, io_s)
    source: str = "<memory>"
    #: per item (gil_s, released_s), or None when the trace has no GIL split
    split: tuple[tuple[float, float], ...] | None = None
    #: per item (bytes_in, bytes_out), or None when the trace has no sizes
    sizes: tuple[tuple[int, int], ...] | None = None
    costs: MachineCosts | None = None

    @property
    def total_service_s(self) -> float:
        return sum(s for s, _ in self.items)

    def item_costs(self, model: str) -> list[ItemCost]:
        """The items as ``pool_models.ItemCost``; TraceError when ``model`` needs the GIL
        split and the trace has none."""
        if self.split is None and model in GIL_MODELS:
            raise TraceError(
                f"{self.source}: no gil_s/released_s per item, so no {model} prediction: "
                "threads scale only on the GIL-released part (re-record the trace with them)"
            )
        out = []
        for i, (service, io) in enumerate(self.items):
            gil, rel = self.split[i] if self.split is not None else (service, 0.0)
            b_in, b_out = self.sizes[i] if self.sizes is not None else (0, 0)
            out.append(ItemCost(gil, rel, io, b_in, b_out))
        return out

    def notes(self, model: str, *, costs_given: bool | None = None) -> list[str]:
        """What this trace leaves out of ``model``'s prediction (empty: nothing).
        ``costs_given``: costs came from elsewhere (None: only the trace's count)."""
        notes = []
        has_costs = self.costs is not None if costs_given is None else costs_given
        if not has_costs and model != "sequential":
            notes.append("no calibration costs in the trace: pickling, round trips, offload "
                         "and switches are free here (a lower bound on wall time)")  # fmt: skip
        if self.sizes is None and "processes" in model:
            notes.append("no bytes_in/bytes_out in the trace: nothing is pickled here")
        return notes


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

    model = "processes"  # a class attribute, not a field: what this prediction is of

    def to_dict(self) -> dict[str, Any]:
        """A results row (``rows.prediction_row``: predicted=true) plus the policy and cores."""
        return prediction_row(self, workload=self.workload, cores=self.cores, policy=self.policy)


MAX_SECONDS = 86_400.0  # one item longer than a day is not a measurement (1e300 overflowed ns)


MAX_BYTES = float(1 << 40)


def _num(v: Any, where: str, limit: float = MAX_SECONDS) -> float:
    if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v) or v < 0:
        raise TraceError(f"{where} must be a finite number >= 0, got {v!r}")
    if v > limit:
        raise TraceError(f"{where} = {v!r}: above {limit:g}, not a measurement")
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
    split = _optional(raw, ("gil_s", "released_s"), source, _split)
    sizes = _optional(raw, ("bytes_in", "bytes_out"), source, _sizes)
    costs = _costs(data.get("costs"), source) if "costs" in data else None
    return Trace(workload, workers, tuple(items), source, split, sizes, costs)


def _optional(
    raw: list[Any], keys: tuple[str, str], source: str, conv: Any
) -> tuple[Any, ...] | None:
    """Per-item optional fields: in every item or in none (a half-measured trace is an error)."""
    has = [any(k in it for k in keys) for it in raw]
    if not any(has):
        return None
    if not all(has):
        i = has.index(False)
        raise TraceError(f"{source}: items[{i}] lacks {' / '.join(keys)} that other items have")
    return tuple(conv(it, f"{source}: items[{i}]") for i, it in enumerate(raw))


def _split(it: Mapping[str, Any], where: str) -> tuple[float, float]:
    service = float(it["service_s"])
    gil = _num(it["gil_s"], f"{where}.gil_s") if "gil_s" in it else None
    rel = _num(it["released_s"], f"{where}.released_s") if "released_s" in it else None
    if gil is None:
        gil = max(0.0, service - rel)
    if rel is None:
        rel = max(0.0, service - gil)
    return gil, rel


def _sizes(it: Mapping[str, Any], where: str) -> tuple[int, int]:
    return (int(_num(it.get("bytes_in", 0), f"{where}.bytes_in", MAX_BYTES)),
            int(_num(it.get("bytes_out", 0), f"{where}.bytes_out", MAX_BYTES)))  # fmt: skip


def _costs(raw: Any, source: str) -> MachineCosts:
    if not isinstance(raw, Mapping):
        raise TraceError(f"{source}: 'costs' must be an object")
    known = {f.name for f in fields(MachineCosts)}
    for k in raw:
        if k not in known:
            raise TraceError(f"{source}: unknown costs.{k} (known: {', '.join(sorted(known))})")
    vals = {k: _num(v, f"{source}: costs.{k}") for k, v in raw.items()}
    if "shm_ref_bytes" in vals:
        vals["shm_ref_bytes"] = int(vals["shm_ref_bytes"])
    if vals.get("switch_interval_s", 1.0) <= 0:
        raise TraceError(f"{source}: costs.switch_interval_s must be > 0")
    return MachineCosts(**vals)


def trace_with_costs(
    workload: str,
    items: list[ItemCost],
    costs: MachineCosts | None = None,
) -> dict[str, Any]:
    """A trace document (schema 1 with the optional fields) from measured ``ItemCost``s."""
    doc: dict[str, Any] = {
        "schema": SCHEMA,
        "workload": workload,
        "workers": 1,
        "items": [
            {
                "service_s": it.service_s,
                "io_s": it.io_s,
                "gil_s": it.gil_s,
                "released_s": it.released_s,
                "bytes_in": it.bytes_in,
                "bytes_out": it.bytes_out,
            }
            for it in items
        ],  # fmt: skip
    }
    if costs is not None:  # the optional per-run costs only when the run measured them
        doc["costs"] = {k: v for k, v in asdict(costs).items() if v is not None}
    return doc


def trace_doc(workload: str, records: list) -> dict[str, Any]:
    """A trace document from the sequential model's item records: per item the CPU service
    (start -> end minus file I/O) and the I/O, in item order."""
    items = []
    for r in sorted(records, key=lambda r: r.index):
        io_s = r.io_ns / 1e9
        items.append({"service_s": (r.finished_ns - r.started_ns) / 1e9 - io_s, "io_s": io_s})
    return {"schema": SCHEMA, "workload": workload, "workers": 1, "items": items}


def write_trace(path: Path, doc: dict[str, Any]) -> None:
    from cvbench.results.write import atomic_write

    atomic_write(path, json.dumps(doc, indent=1))


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
