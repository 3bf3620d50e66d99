"""Where the time went (issue 21): each measured cell's wall time as a stacked bar of its budget
(compute with the GIL held / released, waiting for the GIL, transfer, dispatch, idle workers,
waiting for a core), per worker lane, medians over the repetitions; a tick marks the measured
wall time, so a bar that misses it shows the budget's closure."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from cvbench.report.charts.data import _by_cell, _split
from cvbench.report.charts.style import _save, _stacked

PARTS = (
    ("compute_gil", "compute, GIL held", "#1f4e79"),
    ("compute_released", "compute, GIL released", "#5b9bd5"),
    ("gil_wait", "waiting for the GIL", "#c00000"),
    ("contention", "slower than alone", "#f4b183"),
    ("transfer", "transfer", "#ed7d31"),
    ("dispatch", "dispatch", "#ffc000"),
    ("idle", "idle workers", "#d9d9d9"),
    ("harness", "waiting for a core", "#7f7f7f"),
)


def plot_budget(doc: Any, out_dir: str | Path) -> tuple[list[Path], list[str]]:
    data, notes = _split(doc)
    wall = _by_cell(data.rows, lambda r: r.get("wall_s") if r.get("budget_closure") else None)
    parts = {k: _by_cell(data.rows, lambda r, k=k: r.get(f"budget_{k}_s")) for k, _, _ in PARTS}
    workloads = data.workloads_with(wall)
    if not workloads:
        return [], notes + ["budget: no rows with budget_* columns (older results file)"]
    fig, axes = _stacked(len(workloads))
    for ax, w in zip(axes, workloads, strict=True):
        cells = sorted((k for k in wall if k[0] == w), key=lambda k: (k[1], k[2]))
        for x, key in enumerate(cells):
            total = wall[key][0]
            bottom = 0.0
            for name, _, colour in PARTS:
                v = parts[name].get(key, (0.0,))[0]
                if total > 0 and v > 0:
                    ax.bar(x, 100 * v / total, bottom=bottom, color=colour, width=0.75)
                    bottom += 100 * v / total
        ax.axhline(100, color="black", linewidth=0.8, linestyle=":")
        ax.set_xticks(
            range(len(cells)),
            [f"{k[1]} {k[2]}w" for k in cells],
            rotation=25,
            ha="right",
            rotation_mode="anchor",
            fontsize=8,
        )
        ax.set_ylabel("% of measured wall time")
        ax.set_title(f"{w}: where the time went (per worker lane; dotted: the measured wall)")
        ax.grid(axis="y", alpha=0.3)
    from matplotlib.patches import Patch

    fig.legend(
        [Patch(color=c) for _, _, c in PARTS],
        [label for _, label, _ in PARTS],
        loc="outside right upper",
        fontsize=8,
    )
    return _save(fig, Path(out_dir), "budget"), notes
