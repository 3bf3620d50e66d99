"""`cvbench history FILES|DIR`: each group's trend over many results files and its change points.

Exit codes, as for `compare`: 0 no regression, 1 the newest segment of a gated group is worse
than the one before by more than --threshold, 2 bad input (one line, never a traceback).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click
from rich.console import Console

from cvbench.analysis.history import History, build_history, discover
from cvbench.commands.options import file_option, folder_option, force_option
from cvbench.commands.output import check_output, one_line_errors, write_or_fail
from cvbench.commands.parsing import Percent
from cvbench.report.console import make_console
from cvbench.report.history import print_history, print_notes, summary_line
from cvbench.results.read import ResultsError
from cvbench.results.schema import DEFAULT_METRIC


@click.command("history", context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("paths", nargs=-1, metavar="FILES|DIR")
@click.option(
    "--metric",
    default=DEFAULT_METRIC,
    show_default=True,
    help="Column to follow (each knows whether bigger or smaller is better).",
)
@click.option(
    "--threshold",
    type=Percent(),
    default="10",
    show_default=True,
    help="Exit 1 when the newest segment is worse than the one before by more (percent).",
)
@click.option(
    "--group",
    "groups",
    multiple=True,
    metavar="GLOB",
    help='Only groups whose "workload/model/Nw" matches, e.g. "threshold/threads/*" (repeatable).',
)
@click.option(
    "--last",
    type=click.IntRange(min=2),
    default=None,
    help="Only the newest N files (PELT's L1 cost grows about quadratically with files).",
)
@file_option("--json", "json_path", help="Write the history.")
@folder_option(
    "--plots", "plots_dir", help="Write trend.png and trend.svg into DIR (needs the plot extra)."
)
@force_option()
def history_cmd(
    paths: tuple[str, ...],
    metric: str,
    threshold: float,
    groups: tuple[str, ...],
    last: int | None,
    json_path: str | None,
    plots_dir: str | None,
    force: bool,
) -> None:
    """Trend and change points of every group over many results files (or a folder of them).

    Files are ordered by the timestamp in their metadata (file time where it is missing); each
    gives one value per workload x model x workers: the median of its ok rows. Change points:
    ruptures' PELT with an L1 cost, penalty scaled by a robust noise estimate.
    Exit 0: no regression, 1: the newest segment regressed, 2: bad input.
    """
    check_output("--json", json_path, _inputs(paths), force)
    with one_line_errors(ResultsError, ValueError):
        history = build_history(paths, metric, threshold, groups, last)
    console = make_console()
    print_history(console, history)
    if json_path:
        write_or_fail(json_path, json.dumps(history.to_dict(), indent=2) + "\n")
    if plots_dir:
        _plot(history, plots_dir, console)
    line = summary_line(history)
    if history.regressions:
        console.print(line, style="bold red", soft_wrap=True, markup=False)
        sys.exit(1)
    console.print(line, style="green", soft_wrap=True, markup=False)


def _inputs(paths: tuple[str, ...]) -> list[Path]:
    """The files history would read (none when it cannot: it then says why itself)."""
    try:
        return discover(paths)
    except ResultsError:
        return []


def _plot(history: History, plots_dir: str, console: Console) -> None:
    from cvbench.report.charts.style import PlotError
    from cvbench.report.charts.trend import plot_trend

    with one_line_errors(PlotError, writing=f"--plots {plots_dir}"):
        written, notes = plot_trend(history, plots_dir)
    print_notes(console, notes)
    if written:
        console.print(f"trend chart: {', '.join(str(p) for p in written)}", markup=False)
