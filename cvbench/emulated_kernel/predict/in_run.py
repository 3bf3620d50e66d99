"""The emulated kernel's part of a run, after the rounds (moved out of ``runner.py``; no
cv2 or numpy at import: ``runner.py`` calls it with the run's state).

Per workload: the sequential items' measured costs (GIL split: timed around cv2 calls for the
built-in ops, one profiled pass for a user ``--op``, or assumed -- and then said), the trace
file, one predicted row per pool model and worker count -- from the model's own measured
1-worker cell where it ran (``predict.from_run``), else from the calibration -- its error
against the measured median, the budget of every measured cell, and the 4/16/64-core lines.
"""

from __future__ import annotations

import contextlib
import statistics
from collections.abc import Callable, Sequence
from functools import partial
from typing import Any

from . import costs as costmod
from . import from_run, pool_models
from .chunks import Shipped, costs_in_chunks, moved_cell, moves_chunks
from .costs import ItemCost
from .pool_models import predicted_model_row
from .trace import trace_with_costs, write_trace

PREDICTABLE = frozenset(pool_models.MODELS) - frozenset(pool_models.INLINE_MODELS)
CONVOY_SWITCHES = 1000  # voluntary switches per item at >= 2 threads: a GIL convoy


#: profile(fn, payloads) -> (the split, or None and why not): one profiled pass of a user op
Profile = Callable[[Any, Sequence[Any]], tuple[Any, str]]


def _unguarded(fn: Any, payloads: Sequence[Any]) -> tuple[Any, str]:
    from cvbench.work.gil_split import profile_split

    return profile_split(fn, payloads), "the profiled pass failed"


def sequential_items(
    job: Any, seq_records: list[list], profile: Profile | None = None
) -> tuple[list[ItemCost], dict[str, Any]]:
    """Per-item medians over the sequential repetitions, and how the GIL split was obtained.
    A user op's items record no released time: it is measured by one profiled pass, run by
    ``profile`` (the runner's runs it under a deadline: it runs the op again)."""
    items = costmod.median_item_costs([costmod.item_costs(r, job.payloads) for r in seq_records])
    info: dict[str, Any] = {"gil_split": "timed around the cv2 calls"}
    op = getattr(job.fn, "op", "")
    if ":" not in op or any(it.released_s for it in items):
        return items, info
    split, why = (profile or _unguarded)(job.fn, job.payloads)
    if split is None:
        info["gil_split"] = (
            f"assumed: the whole item holds the GIL ({why}), so threads are predicted to "
            "gain nothing"
        )
        return items, info
    # the fraction of the profiled item inside cv2: the same pass, the same machine moment
    # (the profiler's overhead on the Python in between makes it err towards GIL-held)
    fractions = [min(1.0, r / t) for r, t in zip(split.released_s, split.item_s, strict=False) if t]
    mean = statistics.median(fractions) if fractions else 0.0
    out = []
    for i, it in enumerate(items):
        f = fractions[i] if i < len(fractions) else mean
        rel = it.service_s * f
        out.append(ItemCost(it.service_s - rel, rel, it.io_s, it.bytes_in, it.bytes_out))
    info.update(
        gil_split=(
            f"measured: one profiled pass over {len(split.released_s)} item(s) timed the cv2 "
            f"calls: {100 * mean:.0f} % of an item releases the GIL"
        ),
        released_fraction=mean,
        cv2_calls_per_item=split.calls_per_item,
        profiled_items=len(split.released_s),
    )
    return out, info


def budgets(result: Any, workload: str, items: list[ItemCost]) -> None:
    """Write each measured row's budget columns (seconds per worker lane, and the closure)."""
    docs = {
        (d["model"], d["workers"], d["repetition"], d.get("round")): d
        for d in result.items
        if d["workload"] == workload
    }
    for row in result.rows:
        if row["workload"] != workload or row.get("predicted") or not row.get("ok"):
            continue
        doc = docs.get((row["model"], row["workers"], row["repetition"], row.get("round")))
        if doc is None:
            continue
        b = from_run.budget(row, doc["records"], items)
        if b is None:
            continue
        for k in from_run.BUDGET_KEYS:
            row[f"budget_{k}_s"] = b[k]
        row["budget_closure"] = b["closure"]
        row["budget_compute_scale"] = b["compute_scale"]


def corun_slowdown(corun: tuple[int, float] | None, workers: int, cores: int) -> float:
    """What every busy core costs each item: the co-run slowdown where it was measured (as
    many workers as the ceiling had copies, every copy's core busy), else 1 (not measured)."""
    if corun is None:
        return 1.0
    copies, slowdown = corun
    if copies < 2 or min(workers, cores) != copies or not slowdown > 0:
        return 1.0
    return slowdown


def scaled_items(items: list[ItemCost], factor: float) -> list[ItemCost]:
    if factor == 1.0:
        return items
    return [
        ItemCost(it.gil_s * factor, it.released_s * factor, it.io_s, it.bytes_in, it.bytes_out)
        for it in items
    ]


def predict_workload(
    *,
    result: Any,
    config: Any,
    workload: str,
    state: Any,
    calibration: Any,
    calibration_error: str,
    base: dict[str, Any],
    chunksize: Callable[[Any, Any, int], int],
    profile: Profile | None = None,
    corun: tuple[int, float] | None = None,
    shipped: Shipped | None = None,
) -> None:
    """Everything the emulated kernel says about one workload, into ``result`` (nothing
    before the user op's profiled pass, which may never come back).

    ``corun``: (copies, slowdown) from the run's parallel ceiling (``ceiling.py``): with that
    many cores busy, a copy of the bare loop ran ``slowdown`` times as long as alone (shared
    L3 and memory bandwidth, a VM's vCPUs). The simulator's cores are independent, so a
    prediction with every one of those cores busy gets its items' CPU work scaled by it.

    ``shipped``: ``ship_sizes``' chunk sizes shipped before the rounds, when the parent's
    allocator was as the rounds had it (after them, in one run, chunks of 16 tiles no longer
    faulted as they had in every round)."""
    if state.trace is None:
        return
    items, info = sequential_items(state.job, state.seq_records, profile)
    section: dict[str, Any] = {**info, "validation": [], "scaling": []}
    result.predictions[workload] = section
    budgets(result, workload, items)
    if config.trace_path is not None:
        path = config.trace_path
        if len(config.workloads) > 1:
            path = path.with_name(f"{path.stem}-{workload}{path.suffix}")
        costs = costmod.machine_costs(calibration) if calibration else None
        write_trace(path, trace_with_costs(workload, items, costs))
    if state.job.arrivals_ns is not None:
        return  # a stream's pace is set by its arrivals, not by the pool
    rows = [r for r in result.rows if r["workload"] == workload]
    seq = [r["throughput_per_s"] for r in rows if r["model"] == "sequential" and r["ok"]]
    if not seq:
        return
    cores = len(config.placement.cpus)
    service = from_run.mean_service_s(items)
    if shipped is not None:
        by_size, why_not = shipped
        section["shipping"] = (
            {str(k): v.to_dict() for k, v in sorted(by_size.items())}
            if by_size
            else {"error": why_not}
        )
    shipped = shipped or (None, "not measured")
    for model in config.models:
        if model.name not in PREDICTABLE or model.external:
            continue  # an existing dask cluster's workers, threads and network are not ours
        cell = from_run.cell_costs(rows, model.name, service)
        for workers in config.workers:
            size = chunksize(model, state.job, workers)
            calibrated = costmod.machine_costs(calibration, size) if calibration else None
            used, moved = cell, ""
            if cell is not None and moves_chunks(model):
                used, moved = moved_cell(cell, model, state.job, chunksize, shipped, workers)
            costs = from_run.machine_costs_from(used, calibrated) if used else calibrated
            slowdown = corun_slowdown(corun, workers, cores)
            row = predicted_model_row(
                model.name, scaled_items(items, slowdown), costs, workers, cores, dict(base),
                statistics.median(seq),
            )  # fmt: skip
            measured = from_run.measured_median(rows, model.name, workers)
            row.update(
                chunksize=size,
                cost_source=cell.source if cell else ("calibration" if calibrated else "none"),
                prediction_error_pct=from_run.error_pct(row["throughput_per_s"], measured),
            )
            notes = [row["notes"], f"GIL split {info['gil_split']}", moved]
            if corun is not None and slowdown != 1.0:
                notes.append(
                    f"items' CPU work x{slowdown:.3f}: {corun[0]} cores busy ran the bare "
                    "loop that much slower (parallel ceiling)"
                )
            if calibration_error and cell is None:
                notes.append(calibration_error)
            row["notes"] = "; ".join(n for n in notes if n)
            result.rows.append(row)
            if measured:
                section["validation"].append(
                    {
                        "model": model.name,
                        "workers": workers,
                        "predicted_per_s": row["throughput_per_s"],
                        "measured_per_s": measured,
                        "error_pct": row["prediction_error_pct"],
                        "cost_source": row["cost_source"],
                        "out_of_sample": bool(cell and cell.workers != workers),
                        **measured_spread(rows, model.name, workers, row["throughput_per_s"]),
                        **({"rechunked": moved} if moved else {}),
                    }
                )
        if cell is not None or model.name in pool_models.GIL_MODELS:
            costs1 = from_run.machine_costs_from(cell, None) if cell else None
            costs_at = None
            if cell is not None and moves_chunks(model):
                costs_at = partial(costs_in_chunks, cell, model, state.job, chunksize, shipped)
            with contextlib.suppress(ValueError):
                section["scaling"] += from_run.scaling(model.name, items, costs1, costs_at=costs_at)
    if section["scaling"]:
        section["scaling_line"] = from_run.scaling_line(workload, section["scaling"])


def measured_spread(
    rows: list[dict[str, Any]], model: str, workers: int, predicted: float
) -> dict[str, Any]:
    """The measured cell's 95 % CI of its median throughput and whether the prediction is
    inside it: with three rounds on a noisy machine the same cell's repetitions spread by
    +-15 %, and an error inside that spread is not the model's to explain."""
    from cvbench.stats import bootstrap_ci

    values = [
        r["throughput_per_s"]
        for r in rows
        if r.get("model") == model and r.get("workers") == workers and r.get("ok")
        and not r.get("predicted") and r.get("throughput_per_s")
    ]  # fmt: skip
    ci = bootstrap_ci(values) if len(values) > 1 else None
    if ci is None:
        return {}
    return {
        "measured_ci_per_s": [ci[0], ci[1]],
        "measured_repetitions": len(values),
        "within_measured_ci": ci[0] <= predicted <= ci[1],
    }


def convoy_line(rows: list[dict[str, Any]], workload: str) -> str | None:
    """Thousands of voluntary switches per item with >= 2 threads: the GIL passed back and
    forth around thousands of short cv2 calls (each drops and retakes it)."""
    worst = None
    for r in rows:
        if (
            r.get("workload") == workload
            and r.get("ok")
            and not r.get("predicted")
            and r.get("model") in pool_models.GIL_MODELS
            and (r.get("workers") or 0) >= 2
            and r.get("ctx_voluntary") is not None
            and r.get("items")
        ):
            per = r["ctx_voluntary"] / r["items"]
            if per >= CONVOY_SWITCHES and (worst is None or per > worst[0]):
                worst = (per, r)
    if worst is None:
        return None
    per, r = worst
    return (
        f"{workload}: GIL convoy in {r['model']} ({r['workers']}w): {per:,.0f} voluntary "
        "context switches per item — many short cv2 calls each drop and retake the GIL, so "
        "threads queue for it instead of running in parallel"
    )
