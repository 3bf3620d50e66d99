"""What `cvbench run` prints after the rounds: findings, tables, predictions, warnings and the
harness overhead. Rendering only: every number comes from the RunResult."""

from __future__ import annotations

from typing import Any

from rich.console import Console

from cvbench.report import tables
from cvbench.report.findings import findings
from cvbench.results.summary import summarize_rows, unsupported


def print_run(console: Console, err: Console, result: Any, cfg: Any, brief: bool = False) -> None:
    """The end of a run on the terminal (``result`` a RunResult, ``cfg`` its RunConfig)."""
    summary = summarize_rows(result.rows)
    lines = findings(result.rows, getattr(result, "predictions", None))
    if lines:
        console.print("[bold]Findings[/] (claims only where 95 % CIs separate)")
        for line in lines:
            console.print(f"  • {line}", markup=False, highlight=False)
    if summary:
        tables.print_all(console, summary, detail=not brief)
        predicted = None if brief else tables.prediction_table(result.rows)
        if predicted is not None:
            console.print(predicted)
    unstable = [
        f"{s['workload']}/{s['model']}/{s['workers']}w"
        for s in summary
        if (m := s["metrics"].get("throughput_per_s")) is not None and m.unstable
    ]
    if unstable:
        err.print(
            f"WARNING: throughput is unstable (⚠) in {len(unstable)} of {len(summary)} results: "
            f"{', '.join(unstable[:6])}{' …' if len(unstable) > 6 else ''}. Rerun with more "
            "--repeat, on an idle machine, or pin with --cpus/--pin (as pyperf advises).",
            markup=False,
        )
    for model, reason in unsupported(result.rows).items():
        console.print(f"unsupported here: {model}: {reason}", markup=False, highlight=False)
    console.print(
        f"{result.rounds} round(s), seed {result.seed}"
        + (f", stopped: {result.stop_reason}" if result.stop_reason else ""),
        markup=False,
    )
    for line in result.noise_warnings:
        err.print(f"WARNING: {line}", markup=False)
    if result.not_converged:
        err.print(
            f"not converged to ±{cfg.target_ci:.0%} (more rounds or a quieter machine): "
            f"{', '.join(result.not_converged)}",
            markup=False,
        )
    for workload, o in result.overhead.items():
        console.print(
            f"harness overhead on {workload}: {o['overhead_pct']:+.2f} % "
            f"(sequential model {o['sequential_s']:.3f} s vs bare loop {o['bare_loop_s']:.3f} s)",
            markup=False,
        )
