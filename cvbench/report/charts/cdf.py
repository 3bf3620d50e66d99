"""The CDF chart shared by the latency and heartbeat-lag charts."""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

from cvbench.report.charts.data import _split, _widest
from cvbench.report.charts.style import _figure, _grid, _legend_right, _log_x, _save, _style


def _cdf_chart(
    doc: Any,
    out_dir: str | Path,
    stem: str,
    values: Callable[[dict[str, Any]], list[float]],
    xlabel: str,
    what: str,
) -> tuple[list[Path], list[str]]:
    """One CDF per model (all repetitions at its largest worker count) per workload."""
    data, notes = _split(doc)
    if data.items is None:
        return [], notes + [f"{what}: skipped, needs per-item records (the JSON file)"]
    workloads = data.workloads_with(data.items)
    if not workloads:
        return [], notes + [f"{what}: no item records for any usable row"]
    fig = _figure(4.8 if len(workloads) <= 2 else 3.4 * math.ceil(len(workloads) / 2))
    axes = _grid(fig, len(workloads))
    for ax, w in zip(axes, workloads, strict=True):
        for m in data.models(w):
            n = _widest(data, w, m)
            if n is None:
                continue
            xs = sorted(v for k, it in data.items.items() if k[:3] == (w, m, n) for v in values(it))
            if not xs:
                notes.append(f"{what}: {w} · {m} has no samples")
                continue
            ys = [(i + 1) / len(xs) for i in range(len(xs))]
            style = _style(m, data)
            style["label"] = f"{style['label']} ×{n}"
            ax.step([xs[0], *xs], [0.0, *ys], where="post", linewidth=1.4, **style)
        _log_x(ax)
        ax.set_ylim(0, 1.02)
        ax.set_title(f"{w}: {what} (×N: workers)")
        ax.set_xlabel(xlabel)
        ax.set_ylabel("fraction of samples ≤ x")
        ax.grid(alpha=0.3, which="both")
    _legend_right(fig, axes)
    return _save(fig, Path(out_dir), stem), notes
