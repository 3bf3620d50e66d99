"""Per-item latency from the records: queue wait, service, end-to-end, deadline misses."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

PERCENTILES = (50, 90, 99, 99.9)


def percentiles_ms(values_ns: Sequence[int] | np.ndarray) -> dict[str, float]:
    """p50/p90/p99/p99.9/max in ms (linear interpolation, numpy's default); {} when empty."""
    arr = np.asarray(values_ns, dtype=np.float64)
    if arr.size == 0:
        return {}
    qs = np.percentile(arr, PERCENTILES) / 1e6
    out = {f"p{str(p).replace('.', '')}": float(q) for p, q in zip(PERCENTILES, qs, strict=True)}
    out["max"] = float(arr.max() / 1e6)
    return out


def item_latencies(records: Sequence) -> dict[str, np.ndarray]:
    """Arrays in ns: queue (arrival -> start), service (start -> end), latency (arrival -> end)."""
    arrival = np.fromiter((r.arrival_ns for r in records), np.int64, len(records))
    started = np.fromiter((r.started_ns for r in records), np.int64, len(records))
    finished = np.fromiter((r.finished_ns for r in records), np.int64, len(records))
    return {
        "queue": started - arrival,
        "service": finished - started,
        "latency": finished - arrival,
    }


def deadline_misses(latency_ns: np.ndarray, deadline_ns: int | None) -> int | None:
    return None if deadline_ns is None else int((latency_ns > deadline_ns).sum())
