"""github-action-benchmark's custom format: a JSON list of {name, unit, value, range?, extra?}.

That action stores one value per name per commit and charts/alerts on it; it must be told
whether bigger or smaller is better (``customBiggerIsBetter`` / ``customSmallerIsBetter``),
and one file holds one direction, so ``tool_name(metric)`` says which input to use.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np

from cvbench.results.schema import metric_info
from cvbench.results.write import atomic_write


def bigger_is_better(metric: str) -> bool:
    """True for rates (throughput, speedup), False for times, latencies, counts, memory."""
    return metric_info(metric).bigger_is_better


def tool_name(metric: str) -> str:
    """The github-action-benchmark ``tool`` input that fits this metric."""
    return "customBiggerIsBetter" if bigger_is_better(metric) else "customSmallerIsBetter"


def _num(v: float) -> str:
    return f"{v:.4g}"


def gab_entries(rows: Iterable[dict[str, Any]], metric: str) -> list[dict[str, Any]]:
    """One entry per workload x model x workers: the median over ok, measured repetitions.

    The median (not the mean) so one noisy repetition does not move the chart; ``range`` is
    ``± MAD`` (pyperf's spread) and ``extra`` gives n and min–max for the reader.
    Raises ValueError for a metric whose direction is unknown.
    """
    unit = metric_info(metric).unit
    groups: dict[tuple[str, str, int], list[float]] = {}
    for row in rows:
        if row.get("predicted") or not row.get("ok"):
            continue
        v = row.get(metric)
        if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v):
            continue
        try:
            key = (str(row["workload"]), str(row["model"]), int(row["workers"]))
        except (KeyError, TypeError, ValueError):
            continue
        groups.setdefault(key, []).append(float(v))
    entries = []
    for (workload, model, workers), values in groups.items():
        arr = np.asarray(values)
        median = float(np.median(arr))
        entry: dict[str, Any] = {
            "name": f"{workload}/{model}/{workers}w {metric}",
            "unit": unit,
            "value": median,
        }
        if arr.size > 1:
            entry["range"] = f"± {_num(float(np.median(np.abs(arr - median))))}"
            entry["extra"] = (
                f"median of {arr.size} repetitions; min–max {_num(arr.min())}–{_num(arr.max())}"
            )
        else:
            entry["extra"] = "1 repetition"
        entries.append(entry)
    return entries


def gab_text(rows: Iterable[dict[str, Any]], metric: str) -> str:
    return json.dumps(gab_entries(rows, metric), indent=1, allow_nan=False) + "\n"


def write_gab(path: str | Path, rows: Iterable[dict[str, Any]], metric: str) -> int:
    """Write the entries atomically (temp file + os.replace); returns how many were written.

    Zero entries still writes ``[]``: the action then fails with "no benchmark result", which
    names the real problem better than a missing file would.
    """
    entries = gab_entries(rows, metric)
    atomic_write(Path(path), json.dumps(entries, indent=1, allow_nan=False) + "\n")
    return len(entries)
