"""The processes model's measured throughput vs the emulated kernel's prediction."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from cvbench.report.charts.data import _by_cell, _cpu_count, _split
from cvbench.report.charts.style import (
    _figure,
    _grid,
    _legend_right,
    _save,
    _sequential_baseline,
    model_colour,
)
from cvbench.report.charts.timeline import sequential_trace


def plot_predicted(doc: Any, out_dir: str | Path) -> tuple[list[Path], list[str]]:
    """The processes model's measured throughput vs the simulator's prediction per worker
    count: the gap is what pool start-up, pickling and IPC cost beyond pure scheduling."""
    from cvbench.emulated_kernel.predict.trace import predict_processes

    data, notes = _split(doc)
    thr = _by_cell(data.rows, lambda r: r.get("throughput_per_s"))
    stored = _by_cell(data.predicted, lambda r: r.get("throughput_per_s"))
    workloads = data.workloads_with(k for k in thr if k[1] == "processes")
    if not workloads:
        return [], notes + ["measured vs predicted: no usable processes rows"]
    fig = _figure(4.6 if len(workloads) <= 2 else 3.2 * math.ceil(len(workloads) / 2))
    axes = _grid(fig, len(workloads))
    c = model_colour("processes")
    for ax, w in zip(axes, workloads, strict=True):
        counts = sorted(k[2] for k in thr if k[:2] == (w, "processes"))
        meas = [thr[(w, "processes", n)] for n in counts]
        ax.errorbar(
            counts,
            [v[0] for v in meas],
            marker="o",
            capsize=2,
            color=c,
            linewidth=1.6,
            yerr=[[v[0] - v[1] for v in meas], [v[2] - v[0] for v in meas]],
            label="processes, measured",
        )
        pred = {k[2]: v[0] for k, v in stored.items() if k[:2] == (w, "processes")}
        cores = _cpu_count(data, w)
        source = f"by the run, eevdf, {cores} cores"
        if not pred:
            trace = sequential_trace(data, w, max(counts))
            source = f"eevdf, {cores} cores"
            if trace is None:
                notes.append(
                    f"measured vs predicted: {w}: no predicted rows and no sequential "
                    "items to build a trace from"
                )
            else:
                pred = {n: predict_processes(trace, n, cores).throughput_per_s for n in counts}
        if pred:
            xs = sorted(pred)
            ax.plot(
                xs,
                [pred[x] for x in xs],
                marker="s",
                linestyle="--",
                color=c,
                markerfacecolor="white",
                linewidth=1.6,
                label=f"processes, predicted ({source})",
            )
        seq = thr.get((w, "sequential", 1))
        if seq is not None:
            _sequential_baseline(ax, seq[0])
        ax.set_xticks(counts, [str(n) for n in counts])
        ax.set_ylim(bottom=0)
        ax.set_title(w)
        ax.set_xlabel("workers")
        ax.set_ylabel("throughput (items/s)")
        ax.grid(alpha=0.3)
    fig.suptitle("processes model: measured throughput vs the emulated kernel's prediction")
    _legend_right(fig, axes, "outside lower center")
    return _save(fig, Path(out_dir), "predicted"), notes
