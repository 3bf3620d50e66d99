"""Click commands ``plot`` and ``report`` (registered on the ``cvbench`` group by cli.py).

RESULTS is a run's JSON (everything) or CSV (rows only: charts that need per-item records are
skipped with a note).  A missing or unreadable file is one line on stderr and exit code 2,
never a traceback; so is a missing matplotlib.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from cvbench.readers import ResultsError
from cvbench.report.plots import PlotError, load_results, make_plots

__all__ = ["make_plots", "plot_cmd", "report_cmd"]


class _Bad(click.ClickException):
    """One line ("Error: ..."), exit 2: bad input, as click's own usage errors."""

    exit_code = 2


def _load(path: Path) -> dict[str, Any]:
    try:
        return load_results(path)
    except ResultsError as e:
        raise _Bad(str(e)) from None


def _print_notes(notes: list[str]) -> None:
    for n in notes:
        click.echo(f"note: {n}", err=True)


@click.command("plot")
@click.argument("results", type=click.Path(path_type=Path, dir_okay=False))
@click.option(
    "--out",
    "-o",
    "out_dir",
    type=click.Path(path_type=Path, file_okay=False),
    default=None,
    help="Directory for the PNG and SVG charts (default: RESULTS without suffix + '-plots').",
)
def plot_cmd(results: Path, out_dir: Path | None) -> None:
    """Draw the charts of a results file (JSON, or CSV for the row-based ones) as PNG + SVG."""
    doc = _load(results)
    out = out_dir or results.with_name(results.stem + "-plots")
    try:
        paths, notes = make_plots(doc, out)
    except PlotError as e:
        raise _Bad(str(e)) from None
    except OSError as e:
        raise _Bad(f"cannot write {out}: {e.strerror or e}") from None
    _print_notes(notes)
    for p in paths:
        click.echo(str(p))
    if not paths:
        click.echo("no charts drawn (see the notes above)", err=True)


@click.command("report")
@click.argument("results", type=click.Path(path_type=Path, dir_okay=False))
@click.option(
    "--out",
    "-o",
    "out_html",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help="HTML file to write (default: RESULTS with the suffix .html).",
)
def report_cmd(results: Path, out_html: Path | None) -> None:
    """Write one self-contained HTML report (tables, charts, notes) of a results file."""
    from cvbench.report.html import write_report

    out = out_html or results.with_suffix(".html")
    if out.resolve() == results.resolve():
        raise _Bad(f"{out}: the report would overwrite the results file")
    try:
        path, notes = write_report(results, out)
    except ResultsError as e:
        raise _Bad(str(e)) from None
    except PlotError as e:
        raise _Bad(str(e)) from None
    except OSError as e:
        raise _Bad(f"cannot write {out}: {e.strerror or e}") from None
    _print_notes(notes)
    click.echo(str(path))
