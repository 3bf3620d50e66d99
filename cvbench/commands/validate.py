"""`cvbench validate`: the emulated kernel's CFS/EEVDF CPU shares against this Linux kernel.

Exit 0 when every predicted share is within tolerance, 1 when one is not, 2 on bad input,
3 when this machine cannot run it.
"""

from __future__ import annotations

import json
import math
import sys

import click
from rich.table import Table

from cvbench.commands.output import check_writable, write_or_fail
from cvbench.report.console import fmt_ms, make_console


@click.command("validate")
@click.option(
    "--seconds", type=float, default=3.0, show_default=True, help="Measured window per scenario."
)
@click.option(
    "--tolerance",
    type=float,
    default=1.0,
    show_default=True,
    help="Allowed CPU-share error, in percentage points.",
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
def validate_cmd(
    seconds: float, tolerance: float, cpu: int | None, policies: tuple[str, ...],
    json_file: str | None,
) -> None:  # fmt: skip
    """Check simulated CFS/EEVDF CPU shares against this Linux kernel (busy children, 1 core)."""
    from cvbench.emulated_kernel.validate import ValidateError, run_validation

    if seconds <= 0:
        raise click.BadParameter("must be > 0", param_hint="--seconds")
    if not math.isfinite(tolerance) or tolerance < 0:
        raise click.BadParameter("must be a number >= 0", param_hint="--tolerance")
    if not math.isfinite(seconds):
        raise click.BadParameter("must be a finite number", param_hint="--seconds")
    if json_file:
        check_writable("--json", json_file)  # before minutes of measuring, not after
    console = make_console()
    try:
        rep = run_validation(seconds, tolerance, cpu=cpu, policies=policies or ("cfs", "eevdf"),
                             progress=lambda m: console.print(f"[dim]{m}[/dim]"))  # fmt: skip
    except ValidateError as e:
        console.print(f"validate: cannot run here: {e}")
        sys.exit(3)
    except ValueError as e:
        raise click.UsageError(str(e)) from None

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
    verdict = "within" if rep.ok else "OUTSIDE"
    console.print(
        f"worst share error {rep.worst_error:.2f} pts: {verdict} tolerance {rep.tolerance:g} pts"
    )
    if json_file:
        write_or_fail(json_file, json.dumps(rep.to_dict(), indent=2) + "\n")
    sys.exit(0 if rep.ok else 1)
