"""`cvbench validate`: the emulated kernel's CFS/EEVDF CPU shares against this Linux kernel.

Default: the simulator's prediction against busy spin loops.  ``--real-work``: the live
process kernel (the ``kernel-proc`` model) against Linux, both running real cv2 workers.
Exit 0 when every share is within tolerance, 1 when one is not, 2 on bad input, 3 when this
machine cannot run it.
"""

from __future__ import annotations

import json
import math
import sys
from typing import Any

import click
from rich.console import Console
from rich.table import Table

from cvbench.commands.options import force_option
from cvbench.commands.output import check_output, write_or_fail
from cvbench.report.console import fmt_ms, make_console

MAX_SECONDS = 3600.0  # one scenario's window: an hour is already a long validation


@click.command("validate")
@click.option(
    "--seconds", type=float, default=3.0, show_default=True, help="Measured window per scenario."
)
@click.option(
    "--tolerance",
    type=float,
    default=None,
    help="Allowed CPU-share error, in percentage points [default: 1; 2 with --real-work].",
)
@click.option("--cpu", type=int, default=None, help="Core to pin to (default: the last usable).")
@click.option(
    "--policy",
    "policies",
    type=click.Choice(["cfs", "eevdf"]),
    multiple=True,
    help="Policies to predict with (default: cfs and eevdf).",
)
@click.option("--json", "json_file", metavar="FILE", help="Write the report as JSON.")
@click.option(
    "--real-work",
    is_flag=True,
    help="Check the live kernel-proc kernel (cv2 workers, nice 0 vs 5, one emulated CPU) "
    "against Linux on the same cv2 workers, instead of the simulator against spin loops.",
)
@force_option()
def validate_cmd(
    seconds: float, tolerance: float | None, cpu: int | None, policies: tuple[str, ...],
    json_file: str | None, real_work: bool, force: bool,
) -> None:  # fmt: skip
    """Check simulated CFS/EEVDF CPU shares against this Linux kernel (busy children, 1 core)."""
    from cvbench.emulated_kernel.validate.sim_vs_linux import run_validation

    if tolerance is None:
        tolerance = 2.0 if real_work else 1.0
    if seconds <= 0:
        raise click.BadParameter("must be > 0", param_hint="--seconds")
    if not math.isfinite(tolerance) or tolerance < 0:
        raise click.BadParameter("must be a number >= 0", param_hint="--tolerance")
    if not math.isfinite(seconds) or seconds > MAX_SECONDS:
        raise click.BadParameter(
            f"must be a finite number of seconds, at most {MAX_SECONDS:g}", param_hint="--seconds"
        )
    if json_file:
        check_output("--json", json_file, (), force)  # before minutes of measuring, not after
    console = make_console()
    if real_work:
        _real_work(console, seconds, tolerance, cpu, policies or ("cfs", "eevdf"), json_file)
        return
    rep = _measure(console, run_validation, seconds, tolerance, cpu, policies or ("cfs", "eevdf"))

    tab = Table(
        title=f"measured vs predicted, cpu {rep.cpu}, {rep.seconds:g} s, kernel {rep.kernel} "
        f"({rep.kernel_policy}), HZ {rep.hz}, slice {fmt_ms(rep.slice_ns)} ms"
    )
    tab.add_column("scenario")
    tab.add_column("nice", justify="right")
    tab.add_column("share %", justify="right")
    for pol in rep.policies:
        tab.add_column(f"{pol} %", justify="right")
        tab.add_column("err pts", justify="right")
    tab.add_column("slices", justify="right")
    for pol in rep.policies:
        tab.add_column(f"{pol} (err %)", justify="right")
    tab.add_column("rq wait ms", justify="right")
    for pol in rep.policies:
        tab.add_column(f"{pol} (err %)", justify="right")

    def pct(x: float | None) -> str:
        return "-" if x is None else f"{x:+.0f}%"

    for row in rep.rows:
        cells = [row.scenario, str(row.nice), f"{row.measured_share:.2f}"]
        for pol in rep.policies:
            p = row.predicted[pol]
            err = p["share_err_pts"] or 0.0
            style = "green" if abs(err) <= rep.tolerance else "red"
            cells += [f"{p['share']:.2f}", f"[{style}]{err:+.2f}[/{style}]"]
        cells.append(str(row.measured_slices))
        cells += [f"{row.predicted[p]['slices']} ({pct(row.predicted[p]['slices_err_pct'])})"
                  for p in rep.policies]  # fmt: skip
        cells.append(f"{row.measured_wait_ms:,.1f}")
        cells += [f"{row.predicted[p]['wait_ms']:,.1f} ({pct(row.predicted[p]['wait_err_pct'])})"
                  for p in rep.policies]  # fmt: skip
        tab.add_row(*cells)
    console.print(tab)
    _finish(console, rep, json_file)


def _finish(console: Console, rep: Any, json_file: str | None) -> None:
    """The verdict line, the JSON, and the exit code: 0 within the tolerance, 1 outside."""
    verdict = "within" if rep.ok else "OUTSIDE"
    console.print(
        f"worst share error {rep.worst_error:.2f} pts: {verdict} tolerance {rep.tolerance:g} pts"
    )
    if json_file:
        # "tool" first: the mark by which a later run knows the file is ours to replace
        doc = {"tool": "cvbench validate", **rep.to_dict()}
        write_or_fail(json_file, json.dumps(doc, indent=2) + "\n")
    sys.exit(0 if rep.ok else 1)


def _measure(
    console: Console, run: Any, seconds: float, tolerance: float, cpu: int | None,
    policies: tuple[str, ...],
) -> Any:  # fmt: skip
    """Run one validation; a machine that cannot run it exits 3, bad values exit 2."""
    from cvbench.emulated_kernel.validate.sim_vs_linux import ValidateError

    try:
        return run(seconds, tolerance, cpu=cpu, policies=policies,
                   progress=lambda m: console.print(f"[dim]{m}[/dim]"))  # fmt: skip
    except ValidateError as e:
        console.print(f"validate: cannot run here: {e}")
        sys.exit(3)
    except ValueError as e:
        raise click.UsageError(str(e)) from None


def _real_work(
    console: Console, seconds: float, tolerance: float, cpu: int | None,
    policies: tuple[str, ...], json_file: str | None,
) -> None:  # fmt: skip
    """``--real-work``: Linux and kernel-proc side by side on the same cv2 workers."""
    from cvbench.emulated_kernel.validate.proc_vs_linux import run_real_work_validation

    rep = _measure(console, run_real_work_validation, seconds, tolerance, cpu, policies)
    tab = Table(
        title=f"cv2 workers (faces), cpu {rep.cpu}, {rep.seconds:g} s, kernel {rep.kernel} "
        f"({rep.kernel_policy}), HZ {rep.hz}, slice {fmt_ms(rep.slice_ns)} ms; "
        "kernel-proc: one emulated CPU, SIGSTOP/SIGCONT"
    )
    for col in ("scheduler", "nice", "share %", "weights %", "err pts", "slices",
                "rq wait ms", "emulated slices", "emulated wait ms"):  # fmt: skip
        tab.add_column(col, justify="left" if col == "scheduler" else "right")
    for r in rep.rows:
        style = "green" if abs(r.share_err_pts) <= rep.tolerance else "red"
        tab.add_row(
            r.mode, str(r.nice), f"{r.share:.2f}", f"{r.expected:.2f}",
            f"[{style}]{r.share_err_pts:+.2f}[/{style}]", str(r.slices), f"{r.wait_ms:,.1f}",
            "-" if r.emulated_dispatches is None else str(r.emulated_dispatches),
            "-" if r.emulated_wait_ms is None else f"{r.emulated_wait_ms:,.1f}",
        )  # fmt: skip
    console.print(tab)
    console.print(
        "slices and rq wait: Linux's schedstat; under kernel-proc a stopped worker is not "
        "runnable for Linux, so its wait is the emulated one (last column)"
    )
    _finish(console, rep, json_file)
