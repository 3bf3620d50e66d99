"""Values no run can produce, refused when a results file is read.

A results file that says a cell ran at -300 items/s, at zero throughput yet "ok", or with -1
workers was edited or damaged: a gate fed such numbers calls nonsense a regression (zero
throughput read as -100 %) or an improvement. The reader (read.py) names the file, the row and
the column in one line instead. Only columns whose sign is certain are checked: times, counts,
sizes and identities; lags and differences may be negative.
"""

from __future__ import annotations

from typing import Any

AT_LEAST_ONE = ("workers", "chunksize", "host_cores")
NOT_NEGATIVE = (
    "repetition", "items", "round", "position", "wall_s", "startup_s", "cpu_user_s",
    "cpu_sys_s", "ctx_voluntary", "ctx_involuntary", "user_switches", "migrations",
    "runqueue_wait_s", "latency_p50_ms", "latency_p90_ms", "latency_p99_ms", "latency_max_ms",
    "latency_p999_ms", "service_p50_ms", "service_p99_ms", "max_rss_mb", "heartbeats",
    "deadline_misses", "faces_found", "preemptions", "deferred_signals", "placement_s",
    "dask_workers", "cv_threads", "bytes_per_item", "throughput_per_s", "speedup",
)  # fmt: skip
POSITIVE_WHEN_OK = ("throughput_per_s", "speedup")  # a row that did its items took time


def _number(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


def problem(row: dict[str, Any]) -> str | None:
    """The first impossible value of a typed row (naming its column), or None."""
    for col in AT_LEAST_ONE:
        v = row.get(col)
        if _number(v) and v < 1:
            return f"column {col!r} must be at least 1, got {v!r}"
    for col in NOT_NEGATIVE:
        v = row.get(col)
        if _number(v) and v < 0:
            return f"column {col!r} cannot be negative, got {v!r}"
    if row.get("ok") is True:
        for col in POSITIVE_WHEN_OK:
            v = row.get(col)
            if _number(v) and v <= 0:
                return f"column {col!r} must be above 0 in a row that is ok, got {v!r}"
    return None
