"""Charts of one results file (issue #6): scaling, latency and lag CDFs, context switches,
timelines beside the emulated kernel's schedule, and measured vs predicted throughput.

Every chart function takes the loaded JSON document (or CSV rows, or a ``Data`` from
``prepare``) and an output directory, writes ``<stem>.png`` and ``<stem>.svg``, and returns
``(paths, notes)``: notes say, in one line each, what was skipped and why, so a report can show
them instead of silently drawing less.  matplotlib is optional (the ``plot`` extra) and is
imported only when a chart is drawn.

One module per chart; adding a chart is a new module here and one line in ``CHARTS``.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from cvbench.report.charts.budget import plot_budget
from cvbench.report.charts.data import Data, load_results, prepare
from cvbench.report.charts.lag import plot_lag
from cvbench.report.charts.latency import plot_latency
from cvbench.report.charts.predicted import plot_predicted
from cvbench.report.charts.scaling import plot_scaling
from cvbench.report.charts.style import (
    MODEL_COLOURS,
    PLOT_EXTRA_MSG,
    PlotError,
    _mpl,
    model_colour,
)
from cvbench.report.charts.switches import plot_switches
from cvbench.report.charts.timeline import plot_timeline, sequential_trace, simulated_schedule

__all__ = [
    "CHARTS",
    "MODEL_COLOURS",
    "PLOT_EXTRA_MSG",
    "Data",
    "PlotError",
    "load_results",
    "make_plots",
    "model_colour",
    "plot_budget",
    "plot_lag",
    "plot_latency",
    "plot_predicted",
    "plot_scaling",
    "plot_switches",
    "plot_timeline",
    "prepare",
    "sequential_trace",
    "simulated_schedule",
]

#: Chart name → function, in report order.
CHARTS: dict[str, Callable[[Any, str | Path], tuple[list[Path], list[str]]]] = {
    "scaling": plot_scaling,
    "latency": plot_latency,
    "lag": plot_lag,
    "switches": plot_switches,
    "timeline": plot_timeline,
    "predicted": plot_predicted,
    "budget": plot_budget,
}


def make_plots(doc: Any, out_dir: str | Path) -> tuple[list[Path], list[str]]:
    """Every chart of a results document into ``out_dir``: (files written, notes).

    PlotError when matplotlib is missing; any other failure of one chart becomes a note so a
    finished benchmark run never loses its results to a plotting bug.
    """
    _mpl()
    data = prepare(doc)
    paths: list[Path] = []
    notes = list(data.notes)
    for name, fn in CHARTS.items():
        try:
            p, n = fn(data, out_dir)
        except Exception as e:  # noqa: BLE001 - reported, never fatal
            notes.append(f"{name}: chart failed ({type(e).__name__}: {e})")
            continue
        paths += p
        notes += n
    return paths, notes
