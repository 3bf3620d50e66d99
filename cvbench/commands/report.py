"""`cvbench report RESULTS`: one self-contained HTML report (tables, charts, notes)."""

from __future__ import annotations

from pathlib import Path

import click

from cvbench.commands.output import BadInput, echo_notes, one_line_errors
from cvbench.report.charts import PlotError
from cvbench.results.read import ResultsError


@click.command("report")
@click.argument("results", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option(
    "--out",
    "-o",
    "out_html",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help="HTML file to write (default: RESULTS with the suffix .html).",
)
def report_cmd(results: tuple[Path, ...], out_html: Path | None) -> None:
    """Write one self-contained HTML report (tables, charts, notes) of a results file.

    Given several files or a folder (a history, e.g. one file per commit), the report is of
    the newest one, with a trend chart of them all (see `cvbench history`).
    """
    from cvbench.report.html import write_report

    history = None
    newest = results[0]
    if len(results) > 1 or results[0].is_dir():
        from cvbench.analysis.history import build_history, discover

        with one_line_errors(ResultsError):
            history = build_history(discover(results))
        newest = Path(history.files[-1].source)
    out = out_html or newest.with_suffix(".html")
    if out.resolve() in {p.resolve() for p in (*results, newest)}:
        raise BadInput(f"{out}: the report would overwrite a results file")
    with one_line_errors(ResultsError, PlotError, writing=out):
        path, notes = write_report(newest, out, history)
    if history is not None:  # a folder: say which file the tables and charts are of
        notes = [
            f"the report is of the newest of {len(history.files)} files, {newest}; its trend "
            "chart covers them all",
            *notes,
        ]
    echo_notes(notes)
    click.echo(str(path))
