"""Look and output of every chart: model colours, figure size, grids, legends, saving.

matplotlib is optional (the ``plot`` extra) and imported only when a figure is built; figures
use the object API (``Figure``, Agg canvas) so no pyplot state or GUI backend is touched.
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover - typing only
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

    from cvbench.report.charts.data import Data

PLOT_EXTRA_MSG = "plotting needs the plot extra: pip install 'cvbench[plot]'"

#: One colour per model, the same in every chart (Okabe-Ito/tab10-like, distinct on white).
MODEL_COLOURS: dict[str, str] = {
    "sequential": "#222222",
    "threads": "#1f77b4",
    "processes": "#ff7f0e",
    "asyncio": "#2ca02c",
    "asyncio+threads": "#17becf",
    "asyncio+processes": "#bcbd22",
    "trio": "#9467bd",
    "trio+threads": "#e377c2",
    "curio": "#8c564b",
    "curio+threads": "#d62728",
    "curio+processes": "#7f7f7f",
    "greenlet": "#393b79",
    "kernel": "#e6550d",
    "kernel-proc": "#a63603",
    "processes+shm": "#fdae6b",
    "processes+zerocopy": "#d94801",
    "uvloop": "#98df8a",
    "uvloop+threads": "#9edae5",
    "trio+processes": "#c5b0d5",
    "gevent": "#5254a3",
    "gevent+threads": "#6b6ecf",
    "dask": "#ce6dbd",
    "free-threaded": "#aec7e8",
    "subinterpreters": "#c49c94",
}
_SPARE = ("#637939", "#843c39", "#7b4173", "#3182bd", "#31a354", "#756bb1")
IDEAL_COLOUR = "#9a9a9a"
DPI = 110
WIDTH_IN = 10.0


class PlotError(RuntimeError):
    """Plotting cannot start (matplotlib missing); the message tells the user what to do."""


def model_colour(model: str) -> str:
    """The model's fixed colour; unknown (future) models get a stable spare one."""
    return MODEL_COLOURS.get(model) or _SPARE[zlib.crc32(model.encode()) % len(_SPARE)]


def _lighter(colour: str, amount: float = 0.45) -> tuple[float, float, float]:
    """Mix ``colour`` with white: alternate items in a timeline stay the model's hue."""
    h = colour.lstrip("#")
    rgb = [int(h[i : i + 2], 16) / 255 for i in (0, 2, 4)]
    return (
        rgb[0] + (1 - rgb[0]) * amount,
        rgb[1] + (1 - rgb[1]) * amount,
        rgb[2] + (1 - rgb[2]) * amount,
    )


def _mpl() -> Any:
    """Import matplotlib on first use: the benchmark itself must not need it."""
    try:
        import matplotlib
        from matplotlib.figure import Figure  # noqa: F401 - fail here, not mid-chart
    except ImportError:
        raise PlotError(PLOT_EXTRA_MSG) from None
    return matplotlib


def _figure(height: float = 5.0) -> Figure:
    """A blank full-width figure with constrained layout."""
    _mpl()
    from matplotlib.figure import Figure

    fig = Figure(figsize=(WIDTH_IN, height), dpi=DPI, layout="constrained")
    fig.get_layout_engine().set(w_pad=0.08, h_pad=0.08)
    return fig


def _grid(fig: Figure, n: int) -> list[Axes]:
    """``n`` subplots, two per row (one when alone); unused cells hidden."""
    cols = 1 if n == 1 else 2
    rows = math.ceil(n / cols)
    axes = fig.subplots(rows, cols, squeeze=False).ravel().tolist()
    for ax in axes[n:]:
        ax.set_visible(False)
    return axes[:n]


def _stacked(n: int) -> tuple[Figure, list[Axes]]:
    """A figure of ``n`` full-width subplots, one under another: bar charts whose many cells
    need the whole width."""
    fig = _figure(max(4.6, 3.3 * n))
    return fig, fig.subplots(n, 1, squeeze=False).ravel().tolist()


def _save(fig: Figure, out_dir: Path, stem: str) -> list[Path]:
    """Write ``<stem>.png`` and a reproducible ``<stem>.svg`` into ``out_dir``."""
    matplotlib = _mpl()
    out_dir.mkdir(parents=True, exist_ok=True)
    png, svg = out_dir / f"{stem}.png", out_dir / f"{stem}.svg"
    with matplotlib.rc_context({"svg.hashsalt": "cvbench", "svg.fonttype": "path"}):
        fig.savefig(png, dpi=DPI, facecolor="white")
        fig.savefig(svg, facecolor="white", metadata={"Date": None})
    return [png, svg]


def _legend_right(
    fig: Figure, axes: Sequence[Axes], loc: str = "outside right upper", max_rows: int = 0
) -> None:
    """One legend for all subplots, outside the axes, so no curve is hidden; ``max_rows``
    entries per column at most (0: one column)."""
    seen: dict[str, Any] = {}
    for ax in axes:
        for h, lab in zip(*ax.get_legend_handles_labels(), strict=True):
            seen.setdefault(lab, h)
    if seen:
        ncols = 1 if "right" in loc else min(len(seen), 3)
        if max_rows:
            ncols = max(ncols, math.ceil(len(seen) / max_rows))
        fig.legend(list(seen.values()), list(seen), loc=loc, fontsize=9, ncols=ncols)


def _style(model: str, data: Data) -> dict[str, Any]:
    """Line style of a model: its colour, dashed when it ran inline (one thread)."""
    inline = any(r.get("inline") for r in data.rows if r["model"] == model)
    return {
        "color": model_colour(model),
        "linestyle": "--" if inline else "-",
        "label": model + (" (1 thread)" if inline else ""),
    }


def _sequential_baseline(ax: Axes, throughput: float) -> None:
    """The sequential model's throughput as a horizontal line: what every model must beat."""
    ax.axhline(
        throughput,
        color=model_colour("sequential"),
        linestyle="-.",
        linewidth=1.2,
        label="sequential baseline",
    )


def _log_x(ax: Axes) -> None:
    """Log x with plain-number labels at 1-2-5 steps: '20', not '2×10¹', and no overlaps."""
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    ax.set_xscale("log")
    lo, hi = ax.get_xlim()
    subs = (1.0, 2.0, 5.0) if hi / max(lo, 1e-12) < 1e3 else (1.0,)
    ax.xaxis.set_major_locator(LogLocator(base=10, subs=subs))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    ax.xaxis.set_minor_formatter(NullFormatter())
