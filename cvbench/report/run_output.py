"""What `cvbench run` prints after the rounds: findings, tables, predictions, warnings and the
harness overhead. Rendering only: every number comes from the RunResult."""

from __future__ import annotations

import re
from typing import Any

from rich.console import Console

from cvbench.overhead import observer_line, overhead_note
from cvbench.report import tables
from cvbench.report.ceiling import ceiling_line
from cvbench.report.words import count
from cvbench.results.summary import unsupported


def print_run(
    console: Console, err: Console, result: Any, cfg: Any, doc: dict[str, Any], brief: bool = False
) -> None:
    """The end of a run on the terminal (``result`` a RunResult, ``cfg`` its RunConfig,
    ``doc`` its final results document: the summary and findings come from there)."""
    summary, lines = doc["summary"], doc["findings"]
    if lines:
        console.print("[bold]Findings[/] (claims only where 95 % CIs separate)")
        for line in lines:
            console.print(f"  • {line}", markup=False, highlight=False)
    measured = [g for g in summary if g["ok"] or g["metrics"].get("throughput_per_s")]
    if measured:
        tables.print_all(console, measured, detail=not brief)
        predicted = None if brief else tables.prediction_table(result.rows)
        if predicted is not None:
            console.print(predicted)
    unstable = [
        f"{s['workload']}/{s['model']}/{s['workers']}w"
        for s in summary
        if (m := s["metrics"].get("throughput_per_s")) is not None and m.unstable
    ]
    if unstable:
        # the workers are pinned by default: then only a quieter CPU set is left to advise
        pin = (
            "pin the workers with --pin spread"
            if cfg.placement.pin == "none"
            else "give the run quieter CPUs with --cpus"
        )
        err.print(
            f"WARNING: throughput is unstable (⚠) in {len(unstable)} of {len(summary)} results: "
            f"{', '.join(unstable[:6])}{' …' if len(unstable) > 6 else ''}. Rerun with more "
            f"--repeat, on an idle machine, or {pin} (as pyperf advises).",
            markup=False,
        )
    for line in failure_lines(summary):
        err.print(line, markup=False, highlight=False)
    for model, reason in unsupported(result.rows).items():
        console.print(f"unsupported here: {model}: {reason}", markup=False, highlight=False)
    console.print(
        f"{result.rounds} round(s), seed {result.seed}"
        + (f", stopped: {result.stop_reason}" if result.stop_reason else ""),
        markup=False,
    )
    if result.budget_note:
        err.print(f"WARNING: {result.budget_note}", markup=False)
    for line in result.noise_warnings:
        err.print(f"WARNING: {line}", markup=False)
    if result.not_converged:
        err.print(
            f"not converged to ±{cfg.target_ci:.0%} (more rounds or a quieter machine): "
            f"{', '.join(result.not_converged)}",
            markup=False,
        )
    for workload, o in result.overhead.items():
        for line in overhead_lines(workload, o, cfg.heartbeat_ms):
            console.print(line, markup=False, highlight=False)
    for workload, c in (getattr(result, "ceiling", {}) or {}).items():
        console.print(ceiling_line(workload, c), markup=False, highlight=False)
    line = observer_line(getattr(result, "observer", {}) or {})
    if line:
        console.print(line, markup=False, highlight=False)


def _ci(ci: list[float] | None) -> str:
    return f"95 % CI {ci[0]:+.2f} to {ci[1]:+.2f} %" if ci else "no CI"


def overhead_lines(workload: str, o: dict[str, Any], heartbeat_ms: float) -> list[str]:
    """The harness overhead of one workload: within each repetition (the headline: drift
    cancels), then end to end against a bare loop (the check that sees what the harness
    does to the op itself, within this machine's drift between repetitions)."""
    lines = []
    if o.get("outside_items_pct") is not None:
        lines.append(
            f"harness overhead on {workload}: {o['outside_items_pct']:+.2f} % "
            f"({_ci(o.get('outside_items_ci_pct'))}, "
            f"{count(o.get('outside_items_pairs', 0), 'pair')}, "
            f"the {heartbeat_ms:g} ms probe off: time around the items, within each repetition"
            f" — the sequential model's {o.get('sequential_outside_pct', 0):+.2f} % less a "
            f"bare loop's {o.get('bare_loop_outside_pct', 0):+.2f} %)"
        )
    if o.get("overhead_pct") is not None:
        note = overhead_note(o)
        head = "  end to end" if lines else f"harness overhead on {workload}, end to end"
        lines.append(
            f"{head} against a bare loop of the op: {o['overhead_pct']:+.2f} % "
            f"({_ci(o.get('ci_pct'))}, {count(o.get('pairs', 0), 'adjacent pair')}, "
            f"{o['sequential_s']:.3f} s vs {o['bare_loop_s']:.3f} s: it also sees what the "
            "harness does to the op itself, within the drift between repetitions)"
            + (f" — {note}" if note else "")
        )
    return lines


MAX_FAILURE_LINES = 8
ITEM = re.compile(r"item (\d+): ")  # where a user op failed, as ItemError words it


def failure_lines(summary: list[dict[str, Any]]) -> list[str]:
    """Failed groups on one screen: one line per distinct error, naming the cells it broke
    (a broken op fails every model the same way: one line, not forty table rows)."""
    by_error: dict[str, list[str]] = {}
    items: dict[str, set[str]] = {}
    for g in summary:
        if g["ok"] or g.get("status") == "unsupported" or not g.get("errors"):
            continue
        error = g["errors"][0]
        found = next(reversed(list(ITEM.finditer(error))), None)  # the innermost
        key = error[found.end() :] if found else error  # the same failure at another item
        by_error.setdefault(key, []).append(f"{g['model']}/{g['workers']}w")
        if found:
            items.setdefault(key, set()).add(found.group(1))
    if not by_error:
        return []
    cells = sum(len(v) for v in by_error.values())
    lines = [f"{cells} cell(s) failed (full tracebacks in the JSON's failures):"]
    for error, names in list(by_error.items())[:MAX_FAILURE_LINES]:
        shown = ", ".join(names[:6]) + (f" and {len(names) - 6} more" if len(names) > 6 else "")
        at = sorted(items.get(error, ()), key=int)
        where = f"item {', '.join(at[:5])}: " if at else ""
        lines.append(f"  {where}{error}  [{shown}]")
    if len(by_error) > MAX_FAILURE_LINES:
        lines.append(f"  … and {len(by_error) - MAX_FAILURE_LINES} other error(s)")
    return lines
