"""Group repetition rows into one summary per workload x model x workers."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from cvbench.results.schema import SUMMARY_METRICS
from cvbench.stats import Summary, bootstrap_ci, summarize


def group_key(row: dict[str, Any]) -> tuple[str, str, int]:
    return (str(row["workload"]), str(row["model"]), int(row["workers"]))


def summarize_rows(rows: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """One dict per group, in first-seen order: per-metric Summary, CI of throughput."""
    groups: dict[tuple[str, str, int], list[dict[str, Any]]] = {}
    for row in rows:
        if row.get("predicted"):
            continue
        groups.setdefault(group_key(row), []).append(row)
    out = []
    for (workload, model, workers), members in groups.items():
        ok = [r for r in members if r.get("ok")]
        metrics: dict[str, Summary | None] = {
            m: summarize([r.get(m) for r in ok]) for m in SUMMARY_METRICS
        }
        errors = sorted({str(r["error"]) for r in members if not r.get("ok") and r.get("error")})
        out.append(
            {
                "workload": workload,
                "model": model,
                "workers": workers,
                "repetitions": len(members),
                "ok": len(ok) == len(members) and bool(ok),
                "errors": errors,
                "inline": bool(members[0].get("inline")),
                "items": members[0].get("items"),
                "metrics": metrics,
                "throughput_ci": bootstrap_ci([r["throughput_per_s"] for r in ok])
                if len(ok) > 1
                else None,
            }
        )
    return out


def metric(summary: dict[str, Any], name: str) -> float | None:
    s = summary["metrics"].get(name)
    return None if s is None else s.median
