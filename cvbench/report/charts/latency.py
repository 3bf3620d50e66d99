"""CDF of per-item latency, arrival → done."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from cvbench.report.charts.cdf import _cdf_chart
from cvbench.report.charts.data import ITEM_FIELDS


def _latencies_ms(it: dict[str, Any]) -> list[float]:
    """Arrival → finish of every record of an item block, in ms (1 µs floor: log axis)."""
    f = it.get("fields", ITEM_FIELDS)
    a, d = f.index("arrival_us"), f.index("finished_us")
    return [max(r[d] - r[a], 1) / 1000 for r in it["records"]]


def plot_latency(doc: Any, out_dir: str | Path) -> tuple[list[Path], list[str]]:
    """CDF of per-item latency (arrival → done): tails and head-of-line blocking show."""
    return _cdf_chart(
        doc,
        out_dir,
        "latency_cdf",
        _latencies_ms,
        "per-item latency, arrival → done (ms, log scale)",
        "latency CDF",
    )
