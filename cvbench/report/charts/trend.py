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
    counts = sorted({t.workers for t in history.trends})
    labelled: set[str] = set()
    for ax, workload in zip(axes, workloads, strict=True):
        trends = [t for t in history.trends if t.workload == workload]
        for t in trends:
            colour = model_colour(t.model)
            style = _WORKER_STYLES[counts.index(t.workers) % len(_WORKER_STYLES)]
            xs = list(range(1, n + 1))
            ys = [math.nan if v is None else v for v in t.values]
            # 40+ groups: one legend entry per model (its colour) and one per worker count
            # (its line style); the groups that changed stand out, the others recede
            label = t.model if t.model not in labelled else "_nolegend_"
            labelled.add(t.model)
            ax.plot(xs, ys, color=colour, linestyle=style, marker="o", markersize=2.5,
                    linewidth=1.4 if t.changes else 0.8, alpha=1.0 if t.changes else 0.45,
                    label=label)  # fmt: skip
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
    for w in counts:  # the line style of each worker count, once
        axes[0].plot([], [], color="#555555", label=f"{w} worker(s)",
                     linestyle=_WORKER_STYLES[counts.index(w) % len(_WORKER_STYLES)])  # fmt: skip
    _legend_right(fig, axes, max_rows=LEGEND_ROWS)
    return _save(fig, Path(out_dir), "trend"), notes


LEGEND_ROWS = 18  # entries per legend column: 23 models and the worker styles stay legible
