"""`cvbench compare BASE CURRENT`: the CI regression gate.

Exit codes are the contract with CI: 0 no regression, 1 at least one regression (named in the
last line), 2 bad input (one line on stderr, never a traceback).
"""

from __future__ import annotations

import math
import os
import sys
from pathlib import Path

import click

from cvbench.analysis.gate import NORMALIZE, compare
from cvbench.commands.options import file_option, force_option
from cvbench.commands.output import check_output, one_line_errors
from cvbench.commands.parsing import Percent
from cvbench.report.compare import comparison_table, describe_rule, markdown_text, summary_line
from cvbench.report.console import make_console
from cvbench.results import gab
from cvbench.results.read import ResultsError, load_results
from cvbench.results.schema import DEFAULT_METRIC, METRICS
from cvbench.results.write import atomic_write

AUTO_MINIMUM = 0.10  # --threshold auto never goes below 10 %


class ThresholdParam(Percent):
    """``auto`` -> (10 %, True); a percent -> (it, False)."""

    name = "auto|percent"

    def convert(
        self, value: object, param: click.Parameter | None, ctx: click.Context | None
    ) -> tuple[float, bool]:
        if isinstance(value, tuple):
            return value
        if str(value).strip().lower() == "auto":
            return AUTO_MINIMUM, True
        return super().convert(value, param, ctx), False


def _is_step_summary(path: str | Path | None) -> bool:
    summary = os.environ.get("GITHUB_STEP_SUMMARY")
    return bool(summary and path and Path(path).resolve() == Path(summary).resolve())


def _write_markdown(path: Path, text: str) -> None:
    """Append to the job summary (the step may write more there), replace any other file."""
    if _is_step_summary(path):
        with path.open("a", encoding="utf-8") as fh:
            fh.write(text)
    else:
        atomic_write(path, text)


@click.command("compare", context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("base", type=click.Path(dir_okay=False))
@click.argument("current", type=click.Path(dir_okay=False))
@click.option(
    "--metric",
    type=click.Choice(sorted(METRICS)),
    metavar="METRIC",
    default=DEFAULT_METRIC,
    show_default=True,
    help="Column to compare, e.g. throughput_per_s, wall_s, speedup, latency_p99_ms, "
    "lag_p99_ms, ctx_involuntary, max_rss_mb (each knows whether bigger or smaller is better).",
)
@click.option(
    "--threshold",
    type=ThresholdParam(),
    default="auto",
    show_default=True,
    help="Smallest change that can count as a regression: a percent (e.g. 10 or 10%), or "
    "auto = 10 % raised per group to its noise floor (the spread of its own rounds in both "
    "files, and the drift an A/A --noise file shows).",
)
@file_option(
    "--noise",
    "noise_path",
    help="An A/A results file (the same code as BASE, measured again): its drift from BASE "
    "raises --threshold auto's floor.",
)
@click.option(
    "--alpha",
    type=click.FloatRange(0, 1, min_open=True, max_open=True),
    default=0.05,
    show_default=True,
    help="Mann-Whitney U significance level.",
)
@click.option(
    "--normalize",
    type=click.Choice(NORMALIZE),
    default="none",
    show_default=True,
    help="sequential: compare each model's ratio to its own file's sequential model "
    "(makes a baseline from another machine meaningful).",
)
@file_option(
    "--markdown",
    "markdown_path",
    help="Write the table as Markdown (appends when FILE is $GITHUB_STEP_SUMMARY).",
)
@file_option(
    "--gab",
    "gab_path",
    help="Write CURRENT's medians in github-action-benchmark's custom JSON format.",
)
@force_option()
def compare_cmd(
    base: str,
    current: str,
    metric: str,
    threshold: tuple[float, bool],
    noise_path: str | None,
    alpha: float,
    normalize: str,
    markdown_path: str | None,
    gab_path: str | None,
    force: bool,
) -> None:
    """Compare CURRENT results with BASE; exit 1 if any group regressed.

    Groups are workload x model x workers; a regression must exceed --threshold AND be
    significant (Mann-Whitney p < --alpha, or the bootstrap CI of the ratio of medians
    entirely beyond the threshold). Exit 0: no regression, 1: regression, 2: bad input.
    """
    if not math.isfinite(alpha):  # FloatRange lets nan through (every comparison is False)
        raise click.BadParameter("must be a number between 0 and 1", param_hint="--alpha")
    inputs = [base, current, *([noise_path] if noise_path else [])]
    check_output("--markdown", markdown_path, inputs, force or _is_step_summary(markdown_path))
    check_output("--gab", gab_path, inputs, force)
    with one_line_errors(ResultsError):
        # only the columns the gate (and --gab) read: memory follows what is kept
        keep = [metric]
        base_rows = load_results(base, required=[metric], keep=keep)
        current_rows = load_results(current, required=[metric], keep=keep)
        noise_rows = load_results(noise_path, required=[metric], keep=keep) if noise_path else None
        minimum, auto = threshold
        result = compare(
            base_rows, current_rows, metric, minimum, alpha, normalize, auto, noise_rows
        )
    console = make_console()
    console.print(comparison_table(result))
    console.print(describe_rule(result), style="dim")
    if markdown_path:
        with one_line_errors(writing=markdown_path):
            _write_markdown(Path(markdown_path), markdown_text(result, base, current))
    if gab_path:
        with one_line_errors(writing=gab_path):
            gab.write_gab(gab_path, current_rows, metric)
    line = summary_line(result)
    if result.regressions:
        console.print(line, style="bold red", soft_wrap=True, markup=False)
        sys.exit(1)
    console.print(line, style="green", soft_wrap=True, markup=False)
