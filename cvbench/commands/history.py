"""`cvbench history FILES|DIR`: each group's trend over many results files and its change points.

Exit codes, as for `compare`: 0 no regression, 1 the newest segment of a gated group is worse
than the one before by more than --threshold, 2 bad input (one line, never a traceback).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from pathlib import Path

import click
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from cvbench.analysis.history import History, Trend, build_history
from cvbench.commands.output import BadInput, check_writable, write_or_fail
from cvbench.commands.parsing import Percent
from cvbench.report.console import make_console
from cvbench.results.read import ResultsError
from cvbench.results.schema import DEFAULT_METRIC

_BLOCKS = "▁▂▃▄▅▆▇█"
SPARK_WIDTH = 40


def sparkline(values: Sequence[float | None], width: int = SPARK_WIDTH) -> str:
    """One block per file (files pooled by median past ``width``); a gap where one is missing."""
    if len(values) > width:
        edges = [round(i * len(values) / width) for i in range(width + 1)]
        pooled: list[float | None] = []
        for a, b in zip(edges, edges[1:], strict=False):
            present = sorted(v for v in values[a:b] if v is not None)
            pooled.append(present[len(present) // 2] if present else None)
        values = pooled
    present = [v for v in values if v is not None]
    if not present:
        return ""
    lo, hi = min(present), max(present)
    span = hi - lo
    top = len(_BLOCKS) - 1
    return "".join(
        " " if v is None else _BLOCKS[0 if span == 0 else round((v - lo) / span * top)]
        for v in values
    )


def _num(value: float) -> str:
    return f"{value:,.4g}"


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{value:+.1f} %"


def _changes_cell(trend: Trend) -> str:
    return "\n".join(
        f"#{c.file.index + 1} {Path(c.file.source).name} {_pct(c.change_pct)}"
        for c in trend.changes
    )


_VERDICT_STYLE = {"regression": "bold red", "improvement": "green", "same": ""}


def history_table(history: History) -> Table:
    """Compact: one row per group with its sparkline; change points as file + percent."""
    table = Table(
        title=f"{history.metric} ({history.unit}, "
        f"{'bigger' if history.bigger_is_better else 'smaller'} is better) over "
        f"{len(history.files)} files, oldest → newest",
        title_justify="left",
    )
    for name, kw in (
        ("group", {}),
        ("files", {"justify": "right"}),
        ("first → last", {"justify": "right"}),
        ("trend", {"no_wrap": True}),
        ("change points (file #, name, change)", {}),
        ("newest segment", {}),
    ):
        table.add_column(name, **kw)  # type: ignore[arg-type]
    for t in history.trends:
        vals = t.present
        table.add_row(
            escape(t.name),  # a model named "[/]" is text, not Rich markup
            str(len(vals)),
            f"{_num(vals[0])} → {_num(vals[-1])}",
            sparkline(t.values),
            _changes_cell(t) or "none",
            t.verdict,
            style=_VERDICT_STYLE.get(t.verdict, "dim"),
        )
    return table


def change_lines(history: History) -> list[str]:
    """Where each change starts: file, timestamp, the levels before and after."""
    lines = []
    for t in history.trends:
        for c in t.changes:
            lines.append(
                f"{t.name}: from {c.file.source} ({c.file.timestamp}, file "
                f"{c.file.index + 1}/{len(history.files)}): {_num(c.before)} → {_num(c.after)} "
                f"{history.unit} ({_pct(c.change_pct)}, {'worse' if c.worse else 'better'})"
            )
    return lines


def summary_line(history: History) -> str:
    gated = sum(t.gated for t in history.trends)
    scope = f"{gated} gated group(s) over {len(history.files)} files"
    limit = f"threshold {history.threshold * 100:g} %"
    if not history.regressions:
        return f"history: no regression in the newest segment of {scope} ({limit})"
    named = ", ".join(
        f"{t.name} {_pct(t.changes[-1].change_pct)} since {Path(t.changes[-1].file.source).name}"
        for t in history.regressions
    )
    return f"history: {len(history.regressions)} regression(s) in {scope} ({limit}): {named}"


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
@click.option("--json", "json_path", type=click.Path(dir_okay=False), help="Write the history.")
@click.option(
    "--plots",
    "plots_dir",
    type=click.Path(file_okay=False),
    default=None,
    help="Write trend.png and trend.svg into DIR (needs the plot extra).",
)
def history_cmd(
    paths: tuple[str, ...],
    metric: str,
    threshold: float,
    groups: tuple[str, ...],
    last: int | None,
    json_path: str | None,
    plots_dir: str | None,
) -> None:
    """Trend and change points of every group over many results files (or a folder of them).

    Files are ordered by the timestamp in their metadata (file time where it is missing); each
    gives one value per workload x model x workers: the median of its ok rows. Change points:
    ruptures' PELT with an L1 cost, penalty scaled by a robust noise estimate.
    Exit 0: no regression, 1: the newest segment regressed, 2: bad input.
    """
    check_writable("--json", json_path)
    try:
        history = build_history(paths, metric, threshold, groups, last)
    except (ResultsError, ValueError) as exc:
        raise BadInput(str(exc)) from None
    console = make_console()
    console.print(history_table(history))
    for line in change_lines(history):
        console.print(line, soft_wrap=True, markup=False, highlight=False)
    for note in history.notes:
        console.print(f"note: {note}", style="dim", soft_wrap=True, markup=False)
    if json_path:
        write_or_fail(json_path, json.dumps(history.to_dict(), indent=2) + "\n")
    if plots_dir:
        _plot(history, plots_dir, console)
    line = summary_line(history)
    if history.regressions:
        console.print(line, style="bold red", soft_wrap=True, markup=False)
        sys.exit(1)
    console.print(line, style="green", soft_wrap=True, markup=False)


def _plot(history: History, plots_dir: str, console: Console) -> None:
    from cvbench.report.charts.style import PlotError
    from cvbench.report.charts.trend import plot_trend

    try:
        written, notes = plot_trend(history, plots_dir)
    except PlotError as exc:
        raise BadInput(str(exc)) from None
    except OSError as exc:
        raise BadInput(f"--plots {plots_dir}: cannot write: {exc.strerror or exc}") from None
    for note in notes:
        console.print(f"note: {note}", style="dim", soft_wrap=True, markup=False)
    if written:
        console.print(f"trend chart: {', '.join(str(p) for p in written)}", markup=False)
