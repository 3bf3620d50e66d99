"""`cvbench report RESULTS`: one self-contained HTML report (tables, charts, notes)."""

from __future__ import annotations

from pathlib import Path

import click

from cvbench.commands.output import BadInput
from cvbench.commands.plot import print_notes
from cvbench.report.charts import PlotError
from cvbench.results.read import ResultsError


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
        raise BadInput(f"{out}: the report would overwrite the results file")
    try:
        path, notes = write_report(results, out)
    except ResultsError as e:
        raise BadInput(str(e)) from None
    except PlotError as e:
        raise BadInput(str(e)) from None
    except OSError as e:
        raise BadInput(f"cannot write {out}: {e.strerror or e}") from None
    print_notes(notes)
    click.echo(str(path))
