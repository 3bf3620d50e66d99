"""Turn one repetition's probes and item records into a results row (schema in results/)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from cvbench.measure.latency import deadline_misses, item_latencies, percentiles_ms
from cvbench.measure.probes import Probes
from cvbench.results.schema import COLUMNS, blank_row
from cvbench.work.digest import combine_digests
from cvbench.work.job import Job


def measured_row(
    base: dict[str, Any], job: Job, records: Sequence, probes: Probes
) -> dict[str, Any]:
    """Everything that one repetition measured, from the probes and the item records."""
    row = blank_row(**base)
    stats = probes.stats()
    wall = probes.wall_s
    lat = item_latencies(records)
    latency, service, queue = (
        percentiles_ms(lat["latency"]),
        percentiles_ms(lat["service"]),
        percentiles_ms(lat["queue"]),
    )
    lags = percentiles_ms(probes.heartbeat.lags_ns)
    faces = [r.detail for r in records if r.detail >= 0]
    row.update(
        items=len(records),
        wall_s=wall,
        startup_s=probes.startup_s,
        throughput_per_s=len(records) / wall if wall > 0 else None,
        cpu_user_s=stats.cpu_user_s,
        cpu_sys_s=stats.cpu_sys_s,
        ctx_voluntary=stats.ctx_voluntary,
        ctx_involuntary=stats.ctx_involuntary,
        user_switches=probes.user_switches,
        migrations=stats.migrations,
        runqueue_wait_s=stats.runqueue_wait_s,
        **_percentile_columns("latency", latency, ("p50", "p90", "p99", "p999", "max")),
        **_percentile_columns("service", service, ("p50", "p99")),
        **_percentile_columns("queue", queue, ("p50", "p99")),
        **_percentile_columns("lag", lags, ("p50", "p99", "p999", "max")),
        heartbeats=len(probes.heartbeat.lags_ns),
        max_rss_mb=stats.max_rss_mb,
        output_digest=combine_digests([r.digest for r in sorted(records, key=lambda r: r.index)]),
        deadline_misses=deadline_misses(lat["latency"], job.deadline_ns),
        faces_found=int(np.count_nonzero(faces)) if faces else None,
    )
    row.update(_cost_columns(stats, job, records))
    row.update({k: v for k, v in probes.extra.items() if k in COLUMNS})
    if stats.notes:
        row["notes"] = "; ".join(stats.notes)
    return row


def _percentile_columns(
    family: str, percentiles_ms: dict[str, float], keys: Sequence[str]
) -> dict[str, float | None]:
    """``<family>_<key>_ms`` columns (e.g. latency_p99_ms) from a ``percentiles_ms`` result:
    every distribution is named the same way; None where there were no samples."""
    return {f"{family}_{k}_ms": percentiles_ms.get(k) for k in keys}


def _cost_columns(stats: Any, job: Job, records: Sequence) -> dict[str, Any]:
    """Who paid for the region (issue 21): the parent, the worker processes or threads."""
    out: dict[str, Any] = dict(
        parent_cpu_s=stats.parent_user_s + stats.parent_sys_s,
        parent_sys_s=stats.parent_sys_s,
        parent_faults=stats.parent_faults,
        workers_faults=stats.workers_faults,
        worker_threads_cpu_s=stats.worker_threads_run_s,
        worker_wait_s=stats.worker_threads_wait_s,
        main_cpu_s=stats.main_run_s,
        busy_s=sum(r.finished_ns - r.started_ns - r.io_ns for r in records) / 1e9,
        released_s=sum(r.released_ns for r in records) / 1e9,
    )
    if stats.children:
        out.update(
            workers_cpu_s=stats.workers_user_s + stats.workers_sys_s,
            workers_sys_s=stats.workers_sys_s,
        )
    payloads = job.payloads
    if payloads and isinstance(payloads[0], np.ndarray):
        out["bytes_per_item"] = int(sum(p.nbytes + 160 for p in payloads) / len(payloads))
    return out
