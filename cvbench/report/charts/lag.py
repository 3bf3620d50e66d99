"""CDF of the 1 ms heartbeat's lateness."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from cvbench.report.charts.cdf import _cdf_chart


def _lags_ms(it: dict[str, Any]) -> list[float]:
    """The heartbeat lags of an item block, in ms."""
    return [max(x, 1) / 1000 for x in it.get("lags_us") or []]  # 1 µs floor: log axis


def plot_lag(doc: Any, out_dir: str | Path) -> tuple[list[Path], list[str]]:
    """CDF of the 1 ms heartbeat's lateness: how long the model leaves others waiting."""
    return _cdf_chart(
        doc,
        out_dir,
        "lag_cdf",
        _lags_ms,
        "heartbeat lateness (ms, log scale; 1 µs floor)",
        "heartbeat lag CDF",
    )
