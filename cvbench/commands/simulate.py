"""`cvbench simulate`: tasks or a run's trace on N emulated cores under fifo, rr, cfs or eevdf.

With `--trace FILE --model NAMES` it predicts concurrency models from the trace's measured
costs (emulated_kernel/predict/pool_models.py: the GIL and pickling simulated), for a what-if over
`--cores 64..1024`: the speedup column shows where threads stop (bottleneck GIL) and where
processes stop (bottleneck parent: transfer).

Bad input is exit code 2, never a traceback: a bad option is click's usage error, a bad trace
file one line.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import random
import sys
from typing import Any

import click

from cvbench.commands.output import one_line_errors, write_or_fail
from cvbench.commands.parsing import as_param, parse_cores, parse_cpu_list, parse_duration
from cvbench.emulated_kernel.policies import POLICIES
from cvbench.emulated_kernel.predict.costs import MachineCosts
from cvbench.emulated_kernel.predict.pool_models import (
    INLINE_MODELS,
    MODELS,
    ModelPrediction,
    predict_model,
)
from cvbench.emulated_kernel.predict.trace import Trace, TraceError, load_trace, pool_spec
from cvbench.emulated_kernel.sim import SimResult, TaskSpec, simulate
from cvbench.report.console import make_console
from cvbench.report.simulate import print_predictions, print_simulation

MAX_TASKS = 1_000_000  # checked before anything is allocated (10 M tasks took 12 GB)
MAX_BURSTS = 100_000
MAX_WORK = 50_000_000  # tasks x bursts x cores: what the simulation's memory and time grow with


def _parse_models(text: str) -> list[str]:
    names = list(MODELS) if text.strip() == "all" else [m.strip() for m in text.split(",")]
    for m in names:
        if m not in MODELS:
            raise click.BadParameter(
                f"{m!r} has no prediction; choose from all, {', '.join(MODELS)}",
                param_hint="--model",
            )
    return list(dict.fromkeys(names))


def _apply_costs(base: MachineCosts | None, overrides: tuple[str, ...]) -> MachineCosts | None:
    """The trace's costs with `--cost key=value` overrides (seconds; shm_ref_bytes bytes)."""
    if not overrides:
        return base
    vals = dataclasses.asdict(base or MachineCosts())
    for kv in overrides:
        key, eq, val = kv.partition("=")
        key = key.strip()
        if not eq or key not in vals:
            raise click.BadParameter(
                f"{kv!r}: want key=value with key one of {', '.join(vals)}", param_hint="--cost"
            )
        try:
            x = float(val)
        except ValueError:
            raise click.BadParameter(
                f"{kv!r}: {val!r} is not a number", param_hint="--cost"
            ) from None
        if not math.isfinite(x) or x < 0 or (key == "switch_interval_s" and x == 0):
            raise click.BadParameter(f"{kv!r}: must be a finite number >= 0", param_hint="--cost")
        vals[key] = int(x) if key == "shm_ref_bytes" else x
    return MachineCosts(**vals)


def _predict_models(
    trace: Trace, models: list[str], explicit: bool, cores_list: list[int], workers: int | None,
    costs: MachineCosts | None, policy: str, kw: dict[str, Any],
) -> tuple[float, list[ModelPrediction], list[str]]:  # fmt: skip
    """Sequential baseline makespan, one prediction per model x cores, and notes."""
    seq_items = trace.item_costs("sequential")
    base = predict_model("sequential", seq_items, costs, 1, 1, policy, **kw).makespan_s
    preds: list[ModelPrediction] = []
    notes: list[str] = []
    skipped: list[str] = []
    for m in models:
        try:
            items = trace.item_costs(m)
        except TraceError as e:
            if explicit:
                raise click.UsageError(str(e)) from None
            skipped.append(m)
            continue
        # an inline model runs on one thread: more cores change nothing, one row says so
        for n in cores_list[:1] if m in INLINE_MODELS else cores_list:
            preds.append(predict_model(m, items, costs, workers or n, n, policy, **kw))
        notes += trace.notes(m, costs_given=costs is not None)
    if skipped:
        notes.append(f"skipped {', '.join(skipped)}: no gil_s/released_s in the trace")
    return base, preds, list(dict.fromkeys(notes))


def _report_models(
    trace: Trace, models: list[str], explicit: bool, cores_list: list[int], workers: int | None,
    costs: MachineCosts | None, policy: str, kw: dict[str, Any], json_file: str | None,
) -> None:  # fmt: skip
    """Print (and with --json write) the predictions of `--model` for every core count."""
    base_s, preds, notes = _predict_models(
        trace, models, explicit, cores_list, workers, costs, policy, kw
    )
    print_predictions(make_console(), trace, policy, base_s, preds, notes)
    if json_file:
        payload = {"command": "simulate", "argv": sys.argv[1:], "policy": policy,
                   "trace": trace.source, "sequential_s": base_s, "notes": notes,
                   "predictions": [p.to_dict() for p in preds]}  # fmt: skip
        write_or_fail(json_file, json.dumps(payload, indent=2) + "\n")


@click.command("simulate")
@click.option("--trace", "trace_file", metavar="FILE", help="Replay a `cvbench run --trace` file "
              "as a process pool (predicts the processes model).")  # fmt: skip
@click.option("--workers", type=int, help="Pool size for --trace (default: one per core, "
              "as ProcessPoolExecutor sizes itself).")  # fmt: skip
@click.option("--model", "models_s", metavar="NAMES", help="With --trace: predict these "
              "models (comma list or 'all') from the trace's costs, GIL and pickling "
              "included.")  # fmt: skip
@click.option("--cost", "cost_kv", multiple=True, metavar="KEY=VALUE", help="With --model: "
              "override one of the trace's costs, e.g. pickle_pipe_s_per_byte=5e-10.")  # fmt: skip
@click.option("--tasks", type=int, default=4, show_default=True, help="Synthetic task count.")
@click.option(
    "--cores",
    "cores_s",
    default=None,
    help="Cores: N, or a doubling sweep like 64..1024 (default: usable CPUs).",
)
@click.option(
    "--burst",
    "burst_s",
    default="10ms",
    show_default=True,
    help="CPU burst per task: 10ms, 2s, or inf (needs --duration).",
)
@click.option("--bursts", type=int, default=1, show_default=True, help="Bursts per task.")
@click.option(
    "--io",
    "io_s",
    default="0",
    show_default=True,
    help="Blocking wait between bursts (0 = sched_yield).",
)
@click.option(
    "--dist",
    type=click.Choice(["fixed", "exp"]),
    default="fixed",
    show_default=True,
    help="Burst/io lengths: fixed, or exponential around the given mean (--seed).",
)
@click.option(
    "--nice",
    "nice_s",
    default="0",
    show_default=True,
    help="Comma list of nice values given to tasks in turn.",
)
@click.option(
    "--affinity",
    "affinity_s",
    default=None,
    help="CPU list for every task (0-3,8), or lists separated by '/' given in turn.",
)
@click.option(
    "--policy",
    type=click.Choice(POLICIES, case_sensitive=False),
    default="eevdf",
    show_default=True,
)
@click.option(
    "--slice",
    "slice_s",
    default=None,
    help="rr quantum / eevdf base slice / cfs min granularity (default: Linux's).",
)
@click.option("--hz", type=int, default=250, show_default=True, help="Timer tick frequency.")
@click.option(
    "--ctx-switch",
    "cs_s",
    default="0",
    show_default=True,
    help="Cost of one context switch (e.g. 2us).",
)
@click.option("--seed", type=int, default=0, show_default=True, help="Seed for --dist exp.")
@click.option("--duration", "duration_s", default=None, help="Stop the virtual clock (e.g. 5s).")
@click.option("--top", type=int, default=20, show_default=True, help="Per-task rows to show.")
@click.option("--json", "json_file", metavar="FILE", help="Write per-task and overall stats.")
def simulate_cmd(
    trace_file: str | None,
    workers: int | None,
    models_s: str | None,
    cost_kv: tuple[str, ...],
    tasks: int,
    cores_s: str | None,
    burst_s: str,
    bursts: int,
    io_s: str,
    dist: str,
    nice_s: str,
    affinity_s: str | None,
    policy: str,
    slice_s: str | None,
    hz: int,
    cs_s: str,
    seed: int,
    duration_s: str | None,
    top: int,
    json_file: str | None,
) -> None:
    """Simulate tasks on N cores under fifo, rr, cfs or eevdf (deterministic, virtual clock)."""
    policy = policy.lower()
    cores_list = (
        as_param(parse_cores, cores_s, "--cores")
        if cores_s is not None
        else [len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 1]
    )
    if not 0 < tasks <= MAX_TASKS:
        raise click.BadParameter(f"must be between 1 and {MAX_TASKS:,}", param_hint="--tasks")
    if not 0 < bursts <= MAX_BURSTS:
        raise click.BadParameter(f"must be between 1 and {MAX_BURSTS:,}", param_hint="--bursts")
    if tasks * bursts * max(cores_list) > MAX_WORK:  # each bounded, the product too
        raise click.BadParameter(
            f"tasks x bursts x cores = {tasks * bursts * max(cores_list):,} is above {MAX_WORK:,}",
            param_hint="--tasks/--bursts/--cores",
        )
    if hz <= 0:
        raise click.BadParameter("must be > 0", param_hint="--hz")
    burst = as_param(parse_duration, burst_s, "--burst", allow_inf=True)
    io = as_param(parse_duration, io_s, "--io")
    cs = int(as_param(parse_duration, cs_s, "--ctx-switch"))
    slice_ns = None
    if slice_s is not None:
        slice_ns = int(as_param(parse_duration, slice_s, "--slice"))
        if slice_ns <= 0:
            raise click.BadParameter("must be > 0", param_hint="--slice")
    duration = None
    if duration_s is not None:
        duration = int(as_param(parse_duration, duration_s, "--duration"))
        if duration <= 0:
            raise click.BadParameter("must be > 0", param_hint="--duration")
    if math.isinf(burst) and duration is None:
        raise click.UsageError("--burst inf runs forever: give --duration too")
    try:
        nices = [int(x) for x in nice_s.split(",") if x.strip()]
    except ValueError:
        raise click.BadParameter(f"{nice_s!r} is not a comma list of integers",
                                 param_hint="--nice") from None  # fmt: skip
    if not nices or any(not -20 <= n <= 19 for n in nices):
        raise click.BadParameter("nice values must be in -20..19", param_hint="--nice")
    masks: list[frozenset[int] | None] = [None]
    if affinity_s:
        masks = [
            frozenset(as_param(parse_cpu_list, m, "--affinity")) for m in affinity_s.split("/")
        ]
        for m in masks:
            if m is not None and min(m) >= min(cores_list):
                raise click.BadParameter(
                    f"{sorted(m)} names no core in 0..{min(cores_list) - 1}",
                    param_hint="--affinity",
                )

    specs: list[TaskSpec] = []
    pools = []
    trace = None
    if (models_s or cost_kv) and not trace_file:
        raise click.UsageError("--model and --cost predict from a trace: give --trace FILE")
    if cost_kv and not models_s:
        raise click.UsageError("--cost changes what --model predicts: give --model too")
    models = _parse_models(models_s) if models_s else None
    if trace_file:
        with one_line_errors(TraceError, ValueError):  # the file, or --workers against it
            trace = load_trace(trace_file)
            pool_spec(trace, workers or 1)
        if models is not None:
            kw = {"hz": hz, "ctx_switch_ns": cs, "slice_ns": slice_ns}
            _report_models(trace, models, models_s.strip() != "all", cores_list, workers,
                           _apply_costs(trace.costs, cost_kv), policy, kw, json_file)  # fmt: skip
            return
    else:
        rng = random.Random(seed)

        def draw(mean: float) -> float:
            if dist == "fixed" or mean == 0 or math.isinf(mean):
                return mean
            return max(1.0, rng.expovariate(1.0 / mean))

        for i in range(tasks):
            specs.append(
                TaskSpec(
                    bursts=[draw(burst) for _ in range(bursts)],
                    ios=[draw(io) for _ in range(bursts - 1)],
                    nice=nices[i % len(nices)],
                    affinity=masks[i % len(masks)],
                    name=f"t{i}",
                )
            )

    console = make_console()
    results: list[SimResult] = []
    for n in cores_list:
        if trace is not None:
            pools = [pool_spec(trace, workers or n)]
        try:
            r = simulate(specs, n, policy, pools=pools, slice_ns=slice_ns, hz=hz,
                         ctx_switch_ns=cs, duration_ns=duration)  # fmt: skip
        except ValueError as e:
            raise click.UsageError(str(e)) from None
        results.append(r)

    print_simulation(console, results, policy, top, tasks, trace, workers)
    if json_file:
        payload: dict[str, Any] = {
            "command": "simulate",
            "argv": sys.argv[1:],
            "policy": policy,
            "trace": trace_file,
            "runs": [r.to_dict() for r in results],
        }
        write_or_fail(json_file, json.dumps(payload, indent=2) + "\n")
