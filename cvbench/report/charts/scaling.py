"""Throughput vs workers per model, against the sequential baseline and ideal scaling."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from cvbench.report.charts.data import _by_cell, _split
from cvbench.report.charts.style import (
    IDEAL_COLOUR,
    _figure,
    _grid,
    _legend_right,
    _save,
    _sequential_baseline,
    _style,
)


def plot_scaling(doc: Any, out_dir: str | Path) -> tuple[list[Path], list[str]]:
    """Throughput vs workers per model, one subplot per workload, with the sequential
    baseline and the ideal linear line (sequential × workers): where scaling stops shows."""
    data, notes = _split(doc)
    if not data.rows:
        return [], notes + ["scaling: no usable rows"]
    thr = _by_cell(data.rows, lambda r: r.get("throughput_per_s"))
    workloads = data.workloads
    fig = _figure(4.6 if len(workloads) <= 2 else 3.2 * math.ceil(len(workloads) / 2))
    axes = _grid(fig, len(workloads))
    for ax, w in zip(axes, workloads, strict=True):
        counts = sorted({k[2] for k in thr if k[0] == w})
        seq = thr.get((w, "sequential", 1))
        if seq is None:
            notes.append(f"scaling: no sequential rows for {w}: no baseline or ideal line")
        else:
            top = max(counts)
            xs = list(range(1, top + 1)) if top <= 64 else counts
            ax.plot(
                xs,
                [seq[0] * x for x in xs],
                color=IDEAL_COLOUR,
                linestyle=":",
                linewidth=1.5,
                label="ideal: sequential × workers",
            )
            _sequential_baseline(ax, seq[0])
        for m in data.models(w):
            if m == "sequential":
                continue
            pts = sorted((k[2], v) for k, v in thr.items() if k[0] == w and k[1] == m)
            if not pts:
                continue
            xs = [p[0] for p in pts]
            med = [p[1][0] for p in pts]
            err = [[p[1][0] - p[1][1] for p in pts], [p[1][2] - p[1][0] for p in pts]]
            ax.errorbar(
                xs,
                med,
                yerr=err,
                marker="o",
                markersize=4,
                capsize=2,
                linewidth=1.4,
                **_style(m, data),
            )
        if counts and max(counts) / max(min(counts), 1) >= 8:
            ax.set_xscale("log", base=2)
        ax.set_xticks(counts, [str(c) for c in counts])
        ax.set_ylim(bottom=0)
        ax.set_title(f"{w}: throughput vs workers")
        ax.set_xlabel("workers")
        ax.set_ylabel("throughput (items/s, median; bars: min–max)")
        ax.grid(alpha=0.3)
    _legend_right(fig, axes)
    return _save(fig, Path(out_dir), "scaling"), notes
