"""Group repetition rows into one summary per workload x model x workers.

The speedup summarised is the median of the rows' *paired* ratios (each row over the same
round's sequential throughput), with a bootstrap CI; a group whose CI says it beat what its
threads could physically give is marked as drift, not presented as a finding.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from cvbench.results.schema import SUMMARY_METRICS
from cvbench.stats import Summary, bootstrap_ci, summarize

# A speedup above this factor times what the model's threads can give is not physics but drift.
DRIFT_MARGIN = 1.05


def group_key(row: dict[str, Any]) -> tuple[str, str, int]:
    return (str(row["workload"]), str(row["model"]), int(row["workers"]))


def is_unsupported(row: dict[str, Any]) -> bool:
    return row.get("status") == "unsupported"


def summarize_rows(rows: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """One dict per measured group, in first-seen order: per-metric Summary, CIs."""
    groups: dict[tuple[str, str, int], list[dict[str, Any]]] = {}
    for row in rows:
        if row.get("predicted") or is_unsupported(row):
            continue
        groups.setdefault(group_key(row), []).append(row)
    out = []
    for (workload, model, workers), members in groups.items():
        ok = [r for r in members if r.get("ok")]
        metrics: dict[str, Summary | None] = {
            m: summarize([r.get(m) for r in ok]) for m in SUMMARY_METRICS
        }
        errors = sorted({str(r["error"]) for r in members if not r.get("ok") and r.get("error")})
        speedups = [r["speedup"] for r in ok if r.get("speedup") is not None]
        throughputs = [r["throughput_per_s"] for r in ok if r.get("throughput_per_s") is not None]
        rounds = {r.get("round") for r in members} - {None}
        out.append(
            {
                "workload": workload,
                "model": model,
                "workers": workers,
                "repetitions": len(members),
                "rounds": len(rounds) if rounds else len(members),
                "ok": len(ok) == len(members) and bool(ok),
                "errors": errors,
                "inline": bool(members[0].get("inline")),
                "cores": len(str(members[0].get("cpus") or "").split()) or None,
                "items": members[0].get("items"),
                "metrics": metrics,
                "throughput_ci": bootstrap_ci(throughputs) if len(throughputs) > 1 else None,
                "speedup_ci": bootstrap_ci(speedups) if len(speedups) > 1 else None,
            }
        )
    for s in out:
        s["drift"] = drift_note(s)
    return out


def drift_note(s: dict[str, Any]) -> str | None:
    """Why this group's speedup cannot be a result, or None.

    One OS thread (an inline model) cannot beat sequential, and N workers cannot beat N x:
    a speedup CI entirely above that (by DRIFT_MARGIN) means the machine's speed changed
    between the cells, not that the model is faster.
    """
    ci = s.get("speedup_ci")
    if not ci:
        return None
    limit = speedup_limit(s)
    if ci[0] > limit * DRIFT_MARGIN:
        return (
            f"drift, not a result: speedup CI {ci[0]:.2f}-{ci[1]:.2f} lies above the "
            f"{limit}x that {limit_givers(limit)} can give"
            + ("" if limit == int(s["workers"]) or s.get("inline") else " on these CPUs")
        )
    return None


def speedup_limit(s: dict[str, Any]) -> int:
    """What a group's OS threads can give over one: 1 for an inline model, else its workers,
    at most the CPUs it ran on (4 workers on 2 CPUs cannot give 4x)."""
    if s.get("inline"):
        return 1
    workers = int(s["workers"])
    return min(workers, s["cores"]) if s.get("cores") else workers


def limit_givers(limit: int) -> str:
    """Who gives a speedup limit of ``limit``x, in words."""
    return "one OS thread" if limit == 1 else f"{limit} workers"


def unsupported(rows: Iterable[dict[str, Any]]) -> dict[str, str]:
    """model -> reason, for the models that said they cannot run here."""
    return {str(r["model"]): str(r.get("error") or "") for r in rows if is_unsupported(r)}


def metric(summary: dict[str, Any], name: str) -> float | None:
    s = summary["metrics"].get(name)
    return None if s is None else s.median
