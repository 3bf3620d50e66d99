"""The emulated kernel's prediction beside the measured rows.

A trace is the sequential model's per-item service and I/O times; the simulator replays it as
a pool of `workers` processes on the run's cores (``predicted_row``).  With the GIL split,
pickled sizes and calibration costs measured in the run, ``predicted_model_row`` predicts any
model of ``pool_models.MODELS``.  Rows carry predicted=true and never enter digests, speedups
or summaries of measured rows.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from cvbench.emulated_kernel.pool_models import ItemCost, MachineCosts, predict_model
from cvbench.emulated_kernel.trace import SCHEMA, parse_trace, predict_processes
from cvbench.results.schema import blank_row


def trace_doc(workload: str, records: list) -> dict[str, Any]:  # noqa: ANN001
    """Per-item CPU service (start -> end minus file I/O) and I/O, in item order."""
    items = []
    for r in sorted(records, key=lambda r: r.index):
        io_s = r.io_ns / 1e9
        items.append({"service_s": (r.finished_ns - r.started_ns) / 1e9 - io_s, "io_s": io_s})
    return {"schema": SCHEMA, "workload": workload, "workers": 1, "items": items}


def write_trace(path: Path, doc: dict[str, Any]) -> None:
    from cvbench.results.write import atomic_write

    atomic_write(path, json.dumps(doc, indent=1))


def predicted_row(
    doc: dict[str, Any], workers: int, cores: int, base: dict[str, Any], seq_throughput: float
) -> dict[str, Any]:
    """The simulator's processes row for this worker count (eevdf on `cores` cores)."""
    pred = predict_processes(parse_trace(doc), workers=workers, cores=cores, policy="eevdf")
    return blank_row(
        **base,
        model="processes",
        workers=workers,
        repetition=0,
        items=pred.items,
        ok=True,
        predicted=True,
        wall_s=pred.makespan_s,
        throughput_per_s=pred.throughput_per_s,
        speedup=pred.throughput_per_s / seq_throughput if seq_throughput else None,
    )


def predicted_model_row(
    model: str,
    items: list[ItemCost],
    costs: MachineCosts | None,
    workers: int,
    cores: int,
    base: dict[str, Any],
    seq_throughput: float,
) -> dict[str, Any]:
    """The simulator's row for ``model`` at ``workers`` on ``cores`` (eevdf), from the run's
    measured per-item costs and calibration; ValueError for a model it cannot predict."""
    pred = predict_model(model, items, costs, workers, cores, "eevdf")
    notes = [f"bottleneck {pred.bottleneck}", *pred.notes]
    if costs is None:
        notes.append("no calibration: transfer and offload free (lower bound)")
    return blank_row(
        **base,
        model=model,
        workers=workers,
        repetition=0,
        items=pred.items,
        ok=True,
        predicted=True,
        wall_s=pred.makespan_s,
        throughput_per_s=pred.throughput_per_s,
        speedup=pred.throughput_per_s / seq_throughput if seq_throughput else None,
        notes="; ".join(notes),
    )


RESULT_BYTES = 160  # a pickled ItemResult: index, ids, stamps, a 24-char digest
SHM_REF_BYTES = 120  # what processes+shm pickles instead of an array: name, offset, shape, dtype


def payload_bytes(payload: Any) -> int:
    """What a process pool pickles for one item's argument: an array's buffer plus its
    header, anything else as pickle measures it."""
    import pickle

    import numpy as np

    if isinstance(payload, np.ndarray):
        return int(payload.nbytes) + 160
    return len(pickle.dumps(payload, protocol=pickle.HIGHEST_PROTOCOL))


def item_costs(records: list, payloads: tuple[Any, ...]) -> list[ItemCost]:  # noqa: ANN001
    """The cost model's items from one sequential repetition: service split into GIL-held and
    GIL-released (measured around the cv2 calls), file I/O, and bytes each way."""
    out = []
    for r in sorted(records, key=lambda r: r.index):
        io_s = r.io_ns / 1e9
        service_s = max(0.0, (r.finished_ns - r.started_ns) / 1e9 - io_s)
        released_s = min(service_s, r.released_ns / 1e9)
        out.append(
            ItemCost(
                gil_s=service_s - released_s,
                released_s=released_s,
                io_s=io_s,
                bytes_in=payload_bytes(payloads[r.index]),
                bytes_out=RESULT_BYTES,
            )
        )
    return out


def machine_costs(calibration: Any, chunksize: int = 1) -> MachineCosts:  # noqa: ANN401
    """Calibrated costs; the fixed per-task costs are shared by the items of a chunk."""
    c = max(1, chunksize)
    base = MachineCosts.from_round_trips(
        calibration.small_bytes,
        calibration.small_round_trip_s,
        calibration.large_bytes,
        calibration.large_round_trip_s,
    )
    return MachineCosts(
        pickle_pipe_s_per_byte=base.pickle_pipe_s_per_byte,
        round_trip_s=base.round_trip_s / c,
        offload_s=calibration.offload_s / c,
        submit_s=calibration.submit_s / c,
        shm_ref_bytes=SHM_REF_BYTES,
    )


def median_item_costs(runs: list[list[ItemCost]]) -> list[ItemCost]:
    """Per item, the median of each cost over the sequential repetitions (one noisy
    repetition must not become the prediction)."""
    import statistics

    if not runs:
        return []
    out = []
    for costs in zip(*runs, strict=True):
        out.append(
            ItemCost(
                gil_s=statistics.median(c.gil_s for c in costs),
                released_s=statistics.median(c.released_s for c in costs),
                io_s=statistics.median(c.io_s for c in costs),
                bytes_in=costs[0].bytes_in,
                bytes_out=costs[0].bytes_out,
            )
        )
    return out
