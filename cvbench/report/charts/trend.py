"""A metric over many results files (a history), with the fitted levels and change points.

Unlike the other charts this one takes several files: a ``History`` from
``cvbench.analysis.history.build_history`` (or the file paths, analysed with the default metric).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

from cvbench.analysis.history import History, build_history
from cvbench.report.charts.style import _figure, _grid, _legend_right, _save, model_colour

_WORKER_STYLES = ("-", "--", ":", "-.")


def plot_trend(
    history: History | Sequence[str | Path], out_dir: str | Path
) -> tuple[list[Path], list[str]]:
    """One subplot per workload: each group's per-file median (line per model x workers, the
    model's colour), its fitted segment levels (thick, translucent) and a dotted line where a
    change starts, labelled with its signed change. Writes trend.png and trend.svg."""
    if not isinstance(history, History):
        history = build_history(history)
    notes = [
        f"trend: {t.name}: {t.verdict}" for t in history.trends if t.verdict == "too few files"
    ]
    if len(history.files) < 2:
        return [], [*notes, "trend: fewer than two files: no trend to draw"]
    workloads = list(dict.fromkeys(t.workload for t in history.trends))
    fig = _figure(4.2 if len(workloads) <= 2 else 3.2 * math.ceil(len(workloads) / 2))
    axes = _grid(fig, len(workloads))
    n = len(history.files)
    for ax, workload in zip(axes, workloads, strict=True):
        trends = [t for t in history.trends if t.workload == workload]
        counts = sorted({t.workers for t in trends})
        for t in trends:
            colour = model_colour(t.model)
            style = _WORKER_STYLES[counts.index(t.workers) % len(_WORKER_STYLES)]
            xs = list(range(1, n + 1))
            ys = [math.nan if v is None else v for v in t.values]
            ax.plot(xs, ys, color=colour, linestyle=style, marker="o", markersize=2.5,
                    linewidth=1.0, label=t.name)  # fmt: skip
            for s in t.segments:
                ax.hlines(s.median, s.start + 0.6, s.end + 0.4, color=colour, linewidth=4,
                          alpha=0.25)  # fmt: skip
            for c in t.changes:
                x = c.file.index + 0.5
                ax.axvline(x, color=colour, linestyle=":", linewidth=1.2)
                pct = c.change_pct
                ax.annotate(
                    "" if pct is None else f"{pct:+.1f} %".replace("-", "\u2212"),
                    (x, c.after),
                    xytext=(6, 4),
                    textcoords="offset points",
                    fontsize=8,
                    color="#c0392b" if c.worse else "#1e8449",
                )
        ax.set_xlim(0.5, n + 0.5)
        ax.set_ylim(bottom=0)
        ax.set_title(f"{workload}: {history.metric} per file")
        ax.set_xlabel("results file (oldest → newest)")
        better = "higher" if history.bigger_is_better else "lower"
        ax.set_ylabel(f"{history.metric} ({history.unit}, median; {better} is better)")
        ax.grid(alpha=0.3)
    _legend_right(fig, axes)
    return _save(fig, Path(out_dir), "trend"), notes
