"""Kernel context switches per item: voluntary (blocked) under involuntary (preempted)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from cvbench.report.charts.data import _by_cell, _split
from cvbench.report.charts.style import _lighter, _save, _stacked, model_colour


def plot_switches(doc: Any, out_dir: str | Path) -> tuple[list[Path], list[str]]:
    """Kernel context switches per item, voluntary (stacked under) involuntary, grouped by
    worker count within each model: blocking vs preemption cost per unit of work."""
    data, notes = _split(doc)

    def per_item(name: str) -> Callable[[dict[str, Any]], float | None]:
        def get(r: dict[str, Any]) -> float | None:
            v, n = r.get(name), r.get("items")
            return None if v is None or not n else v / n

        return get

    vol = _by_cell(data.rows, per_item("ctx_voluntary"))
    inv = _by_cell(data.rows, per_item("ctx_involuntary"))
    workloads = data.workloads_with(vol)
    if not workloads:
        return [], notes + ["context switches: no rows with ctx_voluntary/items"]
    fig, axes = _stacked(len(workloads))
    for ax, w in zip(axes, workloads, strict=True):
        x, ticks, labels, centres, names = 0.0, [], [], [], []
        for m in data.models(w):
            counts = sorted(k[2] for k in vol if k[0] == w and k[1] == m)
            if not counts:
                continue
            c = model_colour(m)
            first = x
            for n in counts:
                v = vol[(w, m, n)][0]
                i = inv.get((w, m, n), (0.0,))[0]
                ax.bar(x, v, width=0.8, color=c, edgecolor=c)
                ax.bar(
                    x,
                    i,
                    width=0.8,
                    bottom=v,
                    color=_lighter(c, 0.6),
                    edgecolor=c,
                    hatch="///",
                    linewidth=0.8,
                )
                ticks.append(x)
                labels.append(str(n))
                x += 1
            centres.append((first + x - 1) / 2)
            names.append(m)
            x += 0.8
        ax.set_xticks(ticks, labels, fontsize=8)
        sec = ax.secondary_xaxis("bottom")
        sec.set_xticks(centres, names, rotation=25, ha="right", rotation_mode="anchor")
        sec.tick_params(axis="x", length=0, pad=16)
        for lab, m in zip(sec.get_xticklabels(), names, strict=True):
            lab.set_color(model_colour(m))
        ax.set_xlim(-0.8, x - 0.2)
        ax.set_ylabel("switches per item")
        ax.set_title(f"{w}: kernel context switches per item (small numbers under bars: workers)")
        ax.grid(axis="y", alpha=0.3)
    from matplotlib.patches import Patch

    fig.legend(
        [
            Patch(color="#555555"),
            Patch(facecolor=_lighter("#555555", 0.6), edgecolor="#555555", hatch="///"),
        ],
        ["voluntary (blocked, waited)", "involuntary (preempted)"],
        loc="outside right upper",
        fontsize=9,
    )
    return _save(fig, Path(out_dir), "ctx_switches"), notes
