"""`cvbench plot RESULTS`: the charts of a results file as PNG + SVG.

RESULTS is a run's JSON (everything) or CSV (rows only: charts that need per-item records are
skipped with a note). A missing or unreadable file is one line on stderr and exit code 2,
never a traceback; so is a missing matplotlib.
"""

from __future__ import annotations

from pathlib import Path

import click

from cvbench.commands.output import BadInput, echo_notes, one_line_errors
from cvbench.report.charts import PlotError, load_results, make_plots
from cvbench.results.read import ResultsError


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
    with one_line_errors(ResultsError):
        doc = load_results(results)
    out = out_dir or results.with_name(results.stem + "-plots")
    with one_line_errors(PlotError, writing=out):
        paths, notes = make_plots(doc, out)
    echo_notes(notes)
    for p in paths:
        click.echo(str(p))
    if not paths:
        raise BadInput(f"no charts drawn from {results} (see the notes above)")
