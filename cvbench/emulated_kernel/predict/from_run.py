"""Predictions from the run itself (issue 21): costs measured per cell, not assumed.

A measured cell's row says who paid for its timed region (``measure/row.py``): the parent
process (getrusage: every thread, so the dispatching thread *and* the pool's feeder and
management threads and the harness's heartbeat), the worker processes or threads (schedstat
run time), their page faults (/proc/<pid>/stat), the time inside the items (records) and the
GIL-released part of it.  ``CellCosts`` turns one model's rows at its smallest worker count into
per-item costs on each side; ``MachineCosts(parent_item_s=..., worker_item_s=...)`` feeds them to
``pool_models``, which then needs no per-byte calibration (it stays the fallback for a model
that was not measured).

The honest check: the costs come from the model's 1-worker cell, so its 2-worker prediction is
out of sample (``validation``).  ``scaling`` replays the same costs at 4, 16 and 64 cores.
``budget`` says where a measured cell's wall time went.  Stdlib only.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from typing import Any

from . import dask_model
from .costs import ItemCost, MachineCosts
from .pool_models import (
    DASK_MODELS,
    GIL_MODELS,
    OFFLOAD_PROCESS_MODELS,
    OFFLOAD_THREAD_MODELS,
    PROCESS_MODELS,
    THREAD_MODELS,
    predict_model,
)

#: pool models whose parent/worker split can be measured in a cell.  A new process model (a
#: zero-copy ring, say) joins by adding its name to ``pool_models.PROCESS_MODELS`` (it is then
#: simulated as a process pool) -- the measured per-item costs carry its transfer cost.
MEASURABLE = (
    PROCESS_MODELS + OFFLOAD_PROCESS_MODELS + THREAD_MODELS + OFFLOAD_THREAD_MODELS + DASK_MODELS
)
SCALE_CORES = (4, 16, 64)


@dataclass(frozen=True)
class CellCosts:
    """Per item, what a model's measured cell paid on each side (seconds), medians over its
    repetitions.  ``parent_s``: CPU of the parent process (process models) or of the
    submitting / loop thread plus the harness threads (thread models); ``worker_extra_s``:
    a worker's CPU beyond the item's sequential service; ``faults``: page faults of the
    workers per item (process models); ``sync_s``: a lone worker's time per item that was
    neither CPU nor run-queue wait (process pools and loop-fed thread pools) -- waiting for
    the parent's hand-over."""

    model: str
    workers: int
    repetitions: int
    parent_s: float
    worker_extra_s: float
    faults: float | None
    bytes_in: int | None
    sync_s: float | None = None  # at 1 worker: waiting for the hand-over
    main_s: float | None = None  # dask: the client's main thread (parent_s: the scheduler's)

    @property
    def source(self) -> str:
        return f"measured: {self.model} {self.workers}w ({self.repetitions} rep.)"


def _med(values: Iterable[float | None]) -> float | None:
    vals = [v for v in values if v is not None]
    return statistics.median(vals) if vals else None


def cell_costs(rows: Sequence[dict[str, Any]], model: str, service_s: float) -> CellCosts | None:
    """``model``'s costs from its measured ok rows at the smallest worker count; None if none
    (or the split was not measured).  ``service_s``: the sequential service per item."""
    mine = [r for r in rows if r.get("model") == model and r.get("ok") and not r.get("predicted")]
    if not mine or model not in MEASURABLE:
        return None
    w = min(r["workers"] for r in mine)
    mine = [r for r in mine if r["workers"] == w and r.get("items")]
    if not mine:
        return None

    def per_item(key: str) -> float | None:
        return _med(r[key] / r["items"] if r.get(key) is not None else None for r in mine)

    worker = per_item("worker_threads_cpu_s")
    if worker is None:
        return None
    if model in GIL_MODELS:
        main = per_item("main_cpu_s")
        parent_all = per_item("parent_cpu_s")
        if main is None or parent_all is None:
            return None
        # the parent process is everything: the loop/submitter, the workers and the harness;
        # what is neither a worker thread nor the main thread is the harness (heartbeat)
        harness = max(0.0, parent_all - worker - main)
        parent = main + harness
    else:
        parent = per_item("parent_cpu_s")
        if parent is None:
            return None
    main = None
    if model in DASK_MODELS:  # the client's submits, apart from the scheduler's work
        main = per_item("main_cpu_s") or 0.0
        parent = max(0.0, parent - main)
    sync = None
    # for the loop-fed pools (threads or processes) it is the part of the loop's work a
    # worker waits for; the rest overlaps it (trio+processes on threshold, 1 worker: 2.1 ms
    # of parent CPU per item, but the worker waited only 1.3 ms; charged whole, the 1-worker
    # cell was predicted 11-13 % slow in three runs)
    if w == 1 and model in PROCESS_MODELS + OFFLOAD_THREAD_MODELS + OFFLOAD_PROCESS_MODELS:
        blocked = [
            (r["wall_s"] - r["worker_threads_cpu_s"] - (r.get("worker_wait_s") or 0.0)) / r["items"]
            for r in mine
            if r.get("wall_s") and r.get("worker_threads_cpu_s") is not None
        ]
        sync = max(0.0, statistics.median(blocked)) if blocked else None
    return CellCosts(
        model=model,
        workers=w,
        repetitions=len(mine),
        parent_s=parent,
        worker_extra_s=max(0.0, worker - service_s),
        faults=per_item("workers_faults"),
        bytes_in=mine[0].get("bytes_per_item"),
        sync_s=sync,
        main_s=main,
    )


def machine_costs_from(cell: CellCosts, fallback: MachineCosts | None) -> MachineCosts:
    """The simulator's costs with the measured per-item costs in place of the per-byte model."""
    base = fallback or MachineCosts()
    return replace(
        base,
        parent_item_s=cell.parent_s,
        worker_item_s=cell.worker_extra_s,
        parent_sync_s=cell.sync_s,
        main_item_s=cell.main_s,
    )


def mean_service_s(items: Sequence[ItemCost]) -> float:
    return sum(it.service_s for it in items) / len(items) if items else 0.0


def error_pct(predicted: float | None, measured: float | None) -> float | None:
    if not predicted or not measured:
        return None
    return 100.0 * (predicted - measured) / measured


def measured_median(rows: Sequence[dict[str, Any]], model: str, workers: int) -> float | None:
    return _med(
        r.get("throughput_per_s")
        for r in rows
        if r.get("model") == model
        and r.get("workers") == workers
        and r.get("ok")
        and not r.get("predicted")
    )


def scaling(
    model: str,
    items: Sequence[ItemCost],
    costs: MachineCosts | None,
    cores: Sequence[int] = SCALE_CORES,
    costs_at: Callable[[int], MachineCosts | None] | None = None,
) -> list[dict[str, Any]]:
    """The model at ``workers = cores`` for each core count: speedup over the simulated
    sequential model and what stops it (GIL held per item, the parent's transfer, cores).
    ``costs_at(workers)``: the costs at that worker count where they differ from ``costs`` (a
    process pool's parent ships smaller chunks to more workers)."""
    seq = predict_model("sequential", items, costs, 1, 1).throughput_per_s
    out = []
    for c in cores:
        mine = costs_at(c) if costs_at is not None else costs
        pred = predict_model(model, items, mine, c, c)
        out.append(
            {
                "model": model,
                "cores": c,
                "speedup": pred.throughput_per_s / seq if seq else None,
                "bottleneck": pred.bottleneck,
                "why": _why(model, items, mine, pred.bottleneck),
                "gil_busy": pred.gil_busy,
                "parent_busy": pred.parent_busy,
            }
        )
    return out


def _why(model: str, items: Sequence[ItemCost], costs: MachineCosts | None, neck: str) -> str:
    service = mean_service_s(items) or 1e-12
    held = sum(it.gil_s for it in items) / len(items)
    if neck == "longest item":
        return "the longest item bounds the makespan"
    if neck == "too few items":
        return "fewer items than the workers could take"
    if neck == "batching":
        interval_ms = dask_model.SCHEDULER_TO_WORKER_NS / 1e6
        return f"dask's batched messages: one batch per worker every {interval_ms:g} ms"
    if model in GIL_MODELS and neck in ("GIL", "workers"):
        # the pool's own bookkeeping per item (measured in the run) holds the GIL too
        extra = (costs.worker_item_s or 0.0) if costs is not None else 0.0
        pct = 100 * (held + extra) / (service + extra)
        return f"GIL held {pct:.0f} % of each item" + (
            f" ({1e3 * extra:.2f} ms of it the pool's bookkeeping)" if extra else ""
        )
    if costs is not None and costs.parent_item_s is not None and model not in GIL_MODELS:
        return (
            f"parent {1e3 * costs.parent_item_s:.2f} ms per item to move it "
            f"(item service {1e3 * service:.2f} ms)"
        )
    if neck == "parent":
        return "the parent's transfer (pickling and pipes)"
    return {"cores": "cores busy", "workers": "items and workers"}.get(neck, neck)


def scaling_line(workload: str, lines: Sequence[dict[str, Any]]) -> str:
    """One findings line: every model's predicted speedup at the core counts, and its limit."""
    by: dict[str, list[dict[str, Any]]] = {}
    for p in lines:
        by.setdefault(p["model"], []).append(p)
    parts = []
    for model, ps in by.items():
        ps.sort(key=lambda p: p["cores"])
        speeds = " / ".join(f"{p['speedup']:.1f}x" for p in ps if p["speedup"] is not None)
        last = ps[-1]
        parts.append(f"{model} {speeds} ({last['bottleneck']}: {last['why']})")
    cores = "/".join(str(c) for c in sorted({p["cores"] for p in lines}))
    return f"{workload}: predicted at {cores} cores from this run's costs — " + "; ".join(parts)


# ----------------------------------------------------------------------------- the budget
BUDGET_KEYS = (
    "compute_gil",
    "compute_released",
    "gil_wait",
    "contention",
    "transfer",
    "dispatch",
    "idle",
    "harness",
)
BUDGET_LABELS = {
    "compute_gil": "compute (GIL held)",
    "compute_released": "compute (GIL released)",
    "gil_wait": "waiting for the GIL",
    "contention": "slower than alone",
    "transfer": "transfer",
    "dispatch": "dispatch",
    "idle": "idle workers",
    "harness": "waiting for a core",
}


def budget(
    row: dict[str, Any], records: Sequence[Sequence[int]], seq_items: Sequence[ItemCost]
) -> dict[str, float] | None:
    """Where one measured cell's wall time went, per worker lane (seconds, averaged over the
    workers), from independent sources:

    - compute: the items' *sequential* GIL-held / released costs (another cell's records);
      where this cell's items took less time than that in all (``compute_scale`` < 1: the
      machine ran faster during this cell than during the reference's, as a noisy VM's speed
      drifts by +-20 % between cells), the time they took, split as the reference's was.
      Counted at the reference's, a cell 25 % faster than it summed to 125 % of its wall
      time (92 of 258 rows outside 10 % in one default run of the last session);
    - harness: the workers' run-queue wait (schedstat): runnable, but a core ran something
      else (the parent, the harness's threads, another process);
    - gil_wait (GIL models) / contention (others): the rest of the time inside the items
      beyond their sequential cost (records);
    - transfer (process models): the workers' CPU (schedstat) outside the items;
    - idle: before a worker's first item and after its last (records);
    - dispatch: the rest of the gaps between a worker's items: waiting for the parent.

    ``records``: the items doc's [index, worker, arrival, submitted, started, finished] (µs
    from the region's start).  The parts add up to ``wall_s`` exactly when the CPU and waits
    /proc reports fit in the records' timeline; ``closure`` = sum / wall says how well.
    """
    wall = row.get("wall_s")
    if not wall or not records or not seq_items:
        return None
    lanes: dict[int, list[tuple[int, int, int]]] = {}
    for rec in records:
        lanes.setdefault(rec[1], []).append((rec[4], rec[5], rec[0]))
    n = max(1, len(lanes))
    in_fn = gaps = idle = 0.0
    gil = rel = 0.0
    for lane in lanes.values():
        lane.sort()
        idle += lane[0][0] / 1e6 + max(0.0, wall - lane[-1][1] / 1e6)
        for k, (start, end, index) in enumerate(lane):
            in_fn += (end - start) / 1e6
            if k:
                gaps += max(0, start - lane[k - 1][1]) / 1e6
            if index < len(seq_items):
                gil += seq_items[index].gil_s
                rel += seq_items[index].released_s + seq_items[index].io_s
    scale = 1.0
    if gil + rel > in_fn > 0:
        scale = in_fn / (gil + rel)
        gil, rel = gil * scale, rel * scale
    wait = row.get("worker_wait_s") or 0.0
    excess = in_fn - gil - rel
    harness_in = min(wait, max(0.0, excess))
    harness_gaps = min(wait - harness_in, gaps)
    model = row.get("model", "")
    transfer = 0.0
    cpu = row.get("worker_threads_cpu_s")
    # (not dask's: its worker's event loop thread reads the next task while the executor runs)
    if model in PROCESS_MODELS + OFFLOAD_PROCESS_MODELS and cpu is not None:
        transfer = max(0.0, cpu - (in_fn - harness_in))
    dispatch = gaps - harness_gaps - transfer  # negative when /proc and the records disagree
    rest = excess - harness_in
    out = {
        "compute_gil": gil / n,
        "compute_released": rel / n,
        "gil_wait": rest / n if model in GIL_MODELS else 0.0,
        "contention": 0.0 if model in GIL_MODELS else rest / n,
        "transfer": transfer / n,
        "dispatch": max(0.0, dispatch) / n,
        "idle": idle / n,
        "harness": (harness_in + harness_gaps) / n,
    }
    # a negative part (more transfer CPU than gaps) is shown as 0 and shows up in the
    # closure instead of being hidden in another part
    clipped = {k: max(0.0, v) for k, v in out.items()}
    total = sum(clipped.values())
    return {**clipped, "sum": total, "closure": total / wall, "compute_scale": scale}


def budget_line(workload: str, rows: Sequence[dict[str, Any]]) -> str | None:
    """The fastest and the slowest measured pool model's budget, as shares of the wall time."""
    groups: dict[tuple[str, int], list[dict[str, Any]]] = {}
    for r in rows:
        if r.get("workload") == workload and r.get("budget_closure") is not None:
            groups.setdefault((r["model"], r["workers"]), []).append(r)
    if len(groups) < 1:
        return None
    speed = {k: _med(r.get("throughput_per_s") for r in v) or 0.0 for k, v in groups.items()}
    order = sorted(groups, key=lambda k: -speed[k])
    picks = [order[0]] + ([order[-1]] if len(order) > 1 else [])
    parts = []
    for key in picks:
        shares = {
            k: _med(r[f"budget_{k}_s"] / r["wall_s"] for r in groups[key] if r.get("wall_s")) or 0.0
            for k in BUDGET_KEYS
        }
        top = sorted(shares.items(), key=lambda kv: -kv[1])[:3]
        closure = _med(r["budget_closure"] for r in groups[key]) or 0.0
        text = ", ".join(f"{100 * v:.0f} % {BUDGET_LABELS[k]}" for k, v in top if v >= 0.005)
        scale = _med(r.get("budget_compute_scale") for r in groups[key]) or 1.0
        if scale < 0.95:  # said, not hidden: the compute is then its own, not the reference's
            text += f"; its items took {100 * (1 - scale):.0f} % less than sequential's"
        parts.append(f"{key[0]} ({key[1]}w): {text} (budget sums to {100 * closure:.0f} %)")
    return f"{workload}: where the time went — " + "; ".join(parts)
