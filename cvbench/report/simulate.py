"""How `cvbench simulate` reads: the summary of one simulated run, a sweep over core counts,
the per-task table, and the predicted concurrency models of a trace."""

from __future__ import annotations

import math

from rich.console import Console
from rich.table import Table

from cvbench.emulated_kernel.predict.pool_models import ModelPrediction
from cvbench.emulated_kernel.predict.trace import Trace
from cvbench.emulated_kernel.sim import SimResult
from cvbench.report.console import fmt_time


def summary_table(title: str, r: SimResult) -> Table:
    tab = Table(title=title, show_header=False)
    tab.add_column("stat")
    tab.add_column("value", justify="right")
    w = r.wait_percentiles_ns
    for k, v in (
        ("policy", ", ".join(f"{k}={v}" for k, v in r.policy.items() if k != "policy")),
        ("cores / tasks / finished", f"{r.cores} / {len(r.tasks)} / {r.finished}"),
        ("makespan", fmt_time(r.makespan_ns)),
        ("utilization", f"{r.utilization:.1%}"),
        ("run-queue wait p50 / p90 / p99 / max",
         " / ".join(fmt_time(w[p]) for p in ("p50", "p90", "p99", "max"))),
        ("switches vol / invol, migrations",
         f"{sum(t.voluntary for t in r.tasks):,} / {sum(t.involuntary for t in r.tasks):,}, "
         f"{sum(t.migrations for t in r.tasks):,}"),
        ("events, events/s (simulator speed)", f"{r.events:,}, {r.events_per_s:,.0f}"),
    ):  # fmt: skip
        tab.add_row(k, v)
    return tab


def sweep_table(title: str, results: list[SimResult]) -> Table:
    base = results[0]
    tab = Table(title=title)
    for col in ("cores", "makespan", "speedup", "ideal", "effic.", "util", "wait p99",
                "events/s"):  # fmt: skip
        tab.add_column(col, justify="right")
    for r in results:
        sp = base.makespan_ns / r.makespan_ns if r.makespan_ns else 0.0
        ideal = r.cores / base.cores
        tab.add_row(
            str(r.cores), fmt_time(r.makespan_ns), f"{sp:.2f}x", f"{ideal:.0f}x",
            f"{sp / ideal:.0%}", f"{r.utilization:.0%}", fmt_time(r.wait_percentiles_ns["p99"]),
            f"{r.events_per_s:,.0f}",
        )  # fmt: skip
    return tab


def task_table(r: SimResult, top: int) -> Table:
    tab = Table(title=f"per task (first {min(top, len(r.tasks))} of {len(r.tasks)})")
    for col in ("task", "nice", "cpu", "share", "turnaround", "wait", "vol", "invol",
                "migr", "slices"):  # fmt: skip
        tab.add_column(col, justify="left" if col == "task" else "right")
    for t in r.tasks[:top]:
        tab.add_row(
            t.name, str(t.nice), fmt_time(t.cpu_ns), f"{t.cpu_share:.1%}",
            fmt_time(t.turnaround_ns), fmt_time(t.wait_ns), str(t.voluntary),
            str(t.involuntary), str(t.migrations), str(t.timeslices),
        )  # fmt: skip
    return tab


def model_table(title: str, base_s: float, preds: list[ModelPrediction]) -> Table:
    tab = Table(title=title)
    for col in ("model", "cores", "workers", "wall", "items/s", "speedup", "bottleneck",
                "GIL busy", "parent busy", "GIL forced"):  # fmt: skip
        tab.add_column(col, justify="left" if col in ("model", "bottleneck") else "right")
    for p in preds:
        tab.add_row(
            p.model, str(p.cores), str(p.workers), fmt_time(round(p.makespan_s * 1e9)),
            f"{p.throughput_per_s:,.1f}", f"{base_s / p.makespan_s:.2f}x", p.bottleneck,
            "" if p.gil_busy is None else f"{p.gil_busy:.0%}",
            "" if p.parent_busy is None else f"{p.parent_busy:.0%}",
            "" if p.gil_forced_switches is None else f"{p.gil_forced_switches:,}",
        )  # fmt: skip
    return tab


def print_predictions(
    console: Console, trace: Trace, policy: str, base_s: float, preds: list[ModelPrediction],
    notes: list[str],
) -> None:  # fmt: skip
    console.print(model_table(
        f"predicted models: trace {trace.workload} ({len(trace.items)} items), policy "
        f"{policy}; speedup vs sequential {base_s:.4f} s", base_s, preds))  # fmt: skip
    for note in notes:
        console.print(f"note: {note}")


def print_simulation(
    console: Console, results: list[SimResult], policy: str, top: int, tasks: int,
    trace: Trace | None, workers: int | None,
) -> None:  # fmt: skip
    """One run: its summary and tasks; several core counts: the sweep; a trace: the pool."""
    what = (
        f"trace {trace.workload} ({len(trace.items)} items, {workers or 'one per core'} workers)"
        if trace
        else f"{tasks} tasks"
    )
    title = f"simulate: {what}, policy {policy}"
    if len(results) > 1:
        console.print(sweep_table(f"{title}: speedup vs {results[0].cores} cores", results))
    else:
        console.print(summary_table(title, results[0]))
        console.print(task_table(results[0], top))
    if trace:
        for r in results:
            mk = r.makespan_ns / 1e9
            thr = len(trace.items) / mk if mk else math.inf
            console.print(
                f"predicted processes model: {workers or r.cores} workers on {r.cores} cores: "
                f"wall {mk:.4f} s, throughput {thr:,.1f} items/s (lower bound: no pool start-up)"
            )
