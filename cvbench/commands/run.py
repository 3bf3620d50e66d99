"""`cvbench run`: parse and validate the options into a RunConfig, call the runner, render.

Everything is validated before the first measurement: bad input exits 2 with one line.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import random
import re
import signal
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from cvbench.commands.output import check_writable
from cvbench.commands.parsing import (
    FiniteFloat,
    as_param,
    parse_cpu_list,
    parse_duration,
    parse_percent,
    parse_workers,
)
from cvbench.commands.signals import stop_on_signals
from cvbench.config import ConfigError, RunConfig
from cvbench.measure.affinity import (
    PIN_MODES,
    Placement,
    PlacementError,
    allowed_cpus,
    check_cpus,
    check_nice,
)
from cvbench.models import ModelError, resolve_models
from cvbench.report import tables
from cvbench.report.charts import PlotError
from cvbench.report.console import make_console
from cvbench.report.findings import findings
from cvbench.results import gab, write
from cvbench.results.schema import METRICS, SCHEMA_VERSION
from cvbench.results.summary import summarize_rows, unsupported
from cvbench.runner import Callbacks, Runner, RunResult
from cvbench.work.item import Fault
from cvbench.work.user_op import UserOpError, add_paths
from cvbench.work.user_op import resolve as resolve_user_op
from cvbench.workloads import BUILTIN_NAMES, resolve_workloads
from cvbench.workloads.sources import parse_grid, read_inputs
from cvbench.workloads.spec import WorkloadError, user_spec

console = make_console()
err_console = make_console(stderr=True)


class _Exports(Callbacks):
    """Progress bar plus files rewritten atomically after every row."""

    def __init__(self, cfg: RunConfig, progress: Progress | None) -> None:
        self.cfg = cfg
        self.progress = progress
        self.task = progress.add_task("starting", total=None) if progress else None
        self.last_full = time.monotonic()

    def cell(self, label: str) -> None:
        if self.progress is not None:
            self.progress.update(self.task, description=label)

    def advance(self) -> None:
        if self.progress is not None:
            self.progress.advance(self.task)

    def row(self, row: dict[str, Any], result: RunResult) -> None:
        # The CSV after every row; the JSON (which holds every item's timestamps and grows
        # large) at most every few seconds, and always at the end.
        now = time.monotonic()
        full = now - self.last_full >= JSON_EVERY_S
        if full:
            self.last_full = now
        write_exports(self.cfg, result, full=full, final=False)

    def round_done(self, result: RunResult) -> None:
        write_exports(self.cfg, result, full=False, final=False)  # the round's paired speedups


JSON_EVERY_S = 3.0


# Files that could not be written (disk full, I/O error): named once, never fatal.
_write_errors: dict[str, str] = {}


def _try_write(path: Path, make: Callable[[], str], option: str) -> None:
    """One output; an OSError is reported once (one line naming the file), and every other
    output is still written: a full disk for the CSV must not lose the JSON bound elsewhere."""
    try:
        write.atomic_write(path, make())
    except OSError as exc:
        reason = exc.strerror or str(exc)
        if _write_errors.get(option) != reason:
            _write_errors[option] = reason
            err_console.print(f"cvbench: cannot write {option} {path}: {reason}", markup=False)
    else:
        _write_errors.pop(option, None)


def write_exports(cfg: RunConfig, result: RunResult, full: bool = True, final: bool = True) -> None:
    """The CSV (always), the JSON (``full``), and with ``final`` the summary, findings,
    Markdown and github-action-benchmark files: those bootstrap every group, which is too
    slow to redo every few seconds of a run (it cost a quick run half its time)."""
    if cfg.csv_path:
        _try_write(cfg.csv_path, lambda: write.csv_text(result.rows), "--csv")
    if not full:
        return
    summary = summarize_rows(result.rows) if final else []
    lines = findings(result.rows) if final else []
    if cfg.json_path:
        extra = {
            "harness_overhead": result.overhead,
            "prep_s": result.prep_s,
            "interrupted": result.interrupted,
            "seed": result.seed,
            "rounds": result.rounds,
            "stop_reason": result.stop_reason,
            "not_converged": result.not_converged,
            "findings": lines,
            "complete": final,  # false: written during the run, summary and findings to come
        }
        _try_write(
            cfg.json_path,
            lambda: write.json_text(result.rows, summary, result.env, result.items, extra),
            "--json",
        )
    if not final:
        return
    if cfg.gab_path:
        _try_write(cfg.gab_path, lambda: gab.gab_text(result.rows, cfg.gab_metric), "--gab")
    if cfg.markdown_path:
        _try_write(
            cfg.markdown_path,
            lambda: write.markdown_text(summary, result.env, lines, unsupported(result.rows)),
            "--markdown",
        )


def failed_outputs() -> list[str]:
    return list(_write_errors)


def _fail(message: str) -> None:
    """One clear line, exit 2, before any work starts."""
    raise click.UsageError(message)


@click.command("run")
@click.option(
    "--workload",
    "-w",
    "workload",
    default="threshold,faces",
    show_default=True,
    help=f"Comma list of {', '.join(BUILTIN_NAMES)}, all, or a .toml definition.",
)
@click.option(
    "--models",
    "-m",
    default="all",
    show_default=True,
    help="Comma list of model names, or all (see `cvbench models`).",
)
@click.option(
    "--workers",
    default=None,
    help="Worker counts to sweep, e.g. 1,2 or 1-4 [default: 1..allowed CPUs].",
)
@click.option(
    "--repeat",
    default="auto",
    show_default=True,
    help="Rounds: auto adds rounds until every cell's throughput CI is within --target-ci "
    "or --max-time runs out (at least 3); N forces N rounds.",
)
@click.option(
    "--warmup",
    default=1,
    show_default=True,
    type=click.IntRange(0, 100),
    help="Unmeasured repetitions of every cell before the first round.",
)
@click.option(
    "--seed",
    default=None,
    help="Seed of the shuffled cell order of every round [default: a random one, recorded].",
)
@click.option(
    "--target-ci",
    default="3%",
    show_default=True,
    help="--repeat auto: stop when every cell's 95 % CI half-width of throughput is within "
    "this percent of its median.",
)
@click.option(
    "--max-time",
    default=None,
    help="--repeat auto: time budget for the measured rounds, e.g. 90s or 2min "
    "[default: 75s, 12s with --quick].",
)
@click.option(
    "--cpus", default=None, help="Restrict every thread and child to these CPUs, e.g. 0-1."
)
@click.option(
    "--pin",
    type=click.Choice(PIN_MODES),
    default="none",
    show_default=True,
    help="Pin worker i to one CPU of the set (compact: in order; spread: one per core).",
)
@click.option("--nice", type=int, default=None, help="Nice value of the workers (-20..19).")
@click.option(
    "--cv-threads",
    default=1,
    show_default=True,
    type=click.IntRange(0, 256),
    help="cv2.setNumThreads in every worker (0 and 1 both mean no OpenCV threads).",
)
@click.option(
    "--input",
    "input_path",
    default=None,
    help="Your own images (a folder: each image one item) or a video file (each frame one "
    "item) instead of the built-in data.",
)
@click.option(
    "--grid",
    default=None,
    metavar="RxC",
    help="Cut each --input image into R x C tiles (e.g. 20x20, the book's grid).",
)
@click.option(
    "--item-timeout",
    default=None,
    help="Stop a repetition that makes no progress for this long (e.g. 60s): its workers are "
    "killed and its row fails [default: 20x the cell's warm-up, at least 30 s].",
)
@click.option(
    "--dask-scheduler",
    envvar="CVBENCH_DASK_SCHEDULER",
    default=None,
    metavar="tcp://HOST:PORT",
    help="Run the dask model on an existing cluster (its worker count is the cluster's) "
    "instead of a LocalCluster of --workers processes.",
)
@click.option(
    "--chunksize",
    default="auto",
    show_default=True,
    help="Items per task for the pool models that batch (threads, processes, the offload "
    "variants): auto = Pool.map's rule (about 4 chunks per worker), 1 = one future per item. "
    "The frames stream always uses 1 (latency-fair).",
)
@click.option(
    "--op",
    default=None,
    metavar="MODULE:FUNCTION",
    help="Benchmark your own function: it takes one BGR image and returns an array, numbers "
    "or boxes (see examples/). Runs on --input, or on the built-in frames.",
)
@click.option(
    "--pythonpath",
    multiple=True,
    type=click.Path(file_okay=False),
    help="Folder to import --op (and op = in a TOML) from; the current folder always is.",
)
@click.option(
    "--quick",
    is_flag=True,
    help="Small sizes, a short time budget and one model of each family (unless --models "
    "says otherwise): a CI run in ~20 s.",
)
@click.option(
    "--preset",
    type=click.Choice(["default", "quick", "ch8"]),
    default=None,
    help="Size preset; ch8 is the book's geometry (20x20 tiles of ~1577x1118).",
)
@click.option(
    "--fps",
    type=FiniteFloat(0.1, 10000),
    default=None,
    help="Frame rate of the frames stream [default: from the workload, 30].",
)
@click.option(
    "--heartbeat-ms",
    type=FiniteFloat(0, 1000),
    default=1.0,
    show_default=True,
    help="Heartbeat period for the responsiveness probe (0 turns it off).",
)
@click.option(
    "--out",
    "out_dir",
    default="results",
    show_default=True,
    type=click.Path(file_okay=False),
    help="Folder for the default CSV/JSON files.",
)
@click.option(
    "--csv",
    "csv_path",
    type=click.Path(dir_okay=False),
    default=None,
    help="CSV file [default: OUT/<timestamp>.csv].",
)
@click.option(
    "--json",
    "json_path",
    type=click.Path(dir_okay=False),
    default=None,
    help="JSON: rows, summary, per-item records, environment [default: OUT/<timestamp>.json].",
)
@click.option(
    "--markdown",
    "markdown_path",
    type=click.Path(dir_okay=False),
    default=None,
    help="Markdown summary for a CI job summary.",
)
@click.option(
    "--trace",
    "trace_path",
    type=click.Path(dir_okay=False),
    default=None,
    help="Write the sequential model's per-item service/I-O times for `cvbench simulate`.",
)
@click.option(
    "--plots",
    "plots_dir",
    type=click.Path(file_okay=False),
    default=None,
    help="Also draw the charts (PNG and SVG) into this folder (needs the plot extra).",
)
@click.option(
    "--gab",
    "gab_path",
    type=click.Path(dir_okay=False),
    default=None,
    help="github-action-benchmark custom JSON of --gab-metric (medians per group).",
)
@click.option(
    "--gab-metric",
    type=click.Choice(sorted(METRICS)),
    default="throughput_per_s",
    show_default=True,
    help="Metric for --gab (bigger- or smaller-is-better: see README).",
)
@click.option("--brief", is_flag=True, help="Only the findings and the throughput table.")
@click.option(
    "--inject-fault",
    default=None,
    hidden=True,
    help="Testing: MODEL:ITEM:exit|kill makes that model's worker die at that item.",
)
def run(**opts: Any) -> None:
    """Run workloads under concurrency models; print tables; write CSV/JSON as rows complete."""
    cfg = build_config(opts)
    logging.getLogger("curio").setLevel(logging.CRITICAL)  # failures become rows, not logs
    progress = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err_console,
        transient=True,
        disable=not err_console.is_terminal,
    )
    callbacks = _Exports(cfg, progress)
    cells = sum(len(cfg.workers) if m.sweeps_workers else 1 for m in cfg.models) * len(
        cfg.workloads
    )
    if cfg.repeat is not None:
        progress.update(callbacks.task, total=cells * (cfg.warmup + cfg.repeat))
    runner = Runner(cfg, callbacks)
    try:
        with stop_on_signals() as stop, progress:
            result = runner.run()
            if result.interrupted and stop.signum is None:
                stop.signum = signal.SIGINT
    except KeyboardInterrupt:  # a signal after the runner returned: keep what it measured
        result = runner.result
        result.interrupted = True
    except Exception as exc:  # noqa: BLE001 - keep what was measured; one line, not a trace
        if os.environ.get("CVBENCH_DEBUG"):
            raise
        write_exports(cfg, runner.result)
        err_console.print(
            f"cvbench: stopped by {type(exc).__name__}: {exc} "
            f"({len(runner.result.rows)} completed rows kept; CVBENCH_DEBUG=1 shows the trace)"
        )
        sys.exit(1)
    write_exports(cfg, result)
    summary = summarize_rows(result.rows)
    lines = findings(result.rows)
    if lines:
        console.print("[bold]Findings[/] (claims only where 95 % CIs separate)")
        for line in lines:
            console.print(f"  • {line}", markup=False, highlight=False)
    if summary:
        tables.print_all(console, summary, detail=not opts["brief"])
        predicted = tables.prediction_table(result.rows)
        if predicted is not None:
            console.print(predicted)
    unstable = [
        f"{s['workload']}/{s['model']}/{s['workers']}w"
        for s in summary
        if (m := s["metrics"].get("throughput_per_s")) is not None and m.unstable
    ]
    if unstable:
        err_console.print(
            f"WARNING: throughput is unstable (⚠) in {len(unstable)} of {len(summary)} results: "
            f"{', '.join(unstable[:6])}{' …' if len(unstable) > 6 else ''}. Rerun with more "
            "--repeat, on an idle machine, or pin with --cpus/--pin (as pyperf advises)."
        )
    for model, reason in unsupported(result.rows).items():
        console.print(f"unsupported here: {model}: {reason}", markup=False, highlight=False)
    console.print(
        f"{result.rounds} round(s), seed {result.seed}"
        + (f", stopped: {result.stop_reason}" if result.stop_reason else ""),
        markup=False,
    )
    for line in result.noise_warnings:
        err_console.print(f"WARNING: {line}", markup=False)
    if result.not_converged:
        err_console.print(
            f"not converged to ±{cfg.target_ci:.0%} (more rounds or a quieter machine): "
            f"{', '.join(result.not_converged)}",
            markup=False,
        )
    for workload, o in result.overhead.items():
        console.print(
            f"harness overhead on {workload}: {o['overhead_pct']:+.2f} % "
            f"(sequential model {o['sequential_s']:.3f} s vs bare loop {o['bare_loop_s']:.3f} s)"
        )
    outputs = {"--csv": cfg.csv_path, "--json": cfg.json_path}
    outputs |= {"--markdown": cfg.markdown_path, "--gab": cfg.gab_path}
    lost = failed_outputs()
    written = [str(p) for o, p in outputs.items() if p and o not in lost]
    if opts["plots_dir"] and result.rows:
        written.append(_plots(result, Path(opts["plots_dir"])))
    console.print(f"results: {', '.join(written)}")
    if result.interrupted:
        err_console.print(
            f"interrupted by {stop.name}: the {len(result.rows)} rows completed so far are in "
            "the files above (the JSON says interrupted: true)"
        )
        sys.exit(stop.exit_code)
    if lost:
        err_console.print(f"not written: {', '.join(f'{o} {outputs[o]}' for o in lost)}")
        sys.exit(1)
    failed = [r for r in result.rows if r.get("status") == "failed"]
    if failed:
        err_console.print(f"{len(failed)} row(s) failed: see the error column")
        sys.exit(1)


def _plots(result: RunResult, out: Path) -> str:
    """Charts of this run; a plotting failure is reported, never loses the results."""
    doc = {
        "schema_version": SCHEMA_VERSION,
        "environment": result.env,
        "rows": result.rows,
        "items": result.items,
        "harness_overhead": result.overhead,
    }
    try:
        from cvbench.report.charts import make_plots

        paths, notes = make_plots(doc, out)
    except PlotError as exc:
        err_console.print(f"no charts: {exc}")
        return f"{out}/ (no charts)"
    for note in notes:
        err_console.print(f"charts: {note}")
    return f"{out}/ ({len(paths)} chart files)"


def _parse_fault(text: str) -> tuple[str, Fault]:
    """Testing only: MODEL:ITEM:exit|kill."""
    try:
        model, index, action = text.split(":")
        if action not in ("exit", "kill"):
            raise ValueError
        return model, Fault(int(index), action)
    except ValueError:
        _fail("--inject-fault: expected MODEL:ITEM:exit|kill")
        raise  # unreachable: _fail raises


DEFAULT_MAX_TIME_S = 75.0  # fitted so that the default run stays within ~2 minutes here
QUICK_MAX_TIME_S = 12.0  # --quick: a CI job's run within ~20 s


def reserve_result_names(out: Path, stamp: str) -> tuple[Path, Path]:
    """OUT/<stamp>.csv and .json, created exclusively so that two runs started in the same
    second into the same folder never share a name (the second gets <stamp>-2, ...)."""
    for n in range(1, 1000):
        stem = stamp if n == 1 else f"{stamp}-{n}"
        csv_path, json_path = out / f"{stem}.csv", out / f"{stem}.json"
        try:
            with open(csv_path, "x") as fh:
                fh.write(write.csv_text([]))  # a valid (empty) results file from the start
        except FileExistsError:
            continue
        except OSError as exc:
            _fail(f"--out {out}: cannot create {csv_path.name} ({exc.strerror or exc})")
        try:
            with open(json_path, "x") as fh:
                fh.write(
                    json.dumps({"schema_version": SCHEMA_VERSION, "rows": [], "started": True})
                )
        except FileExistsError:
            csv_path.unlink(missing_ok=True)
            continue
        return csv_path, json_path
    _fail(f"--out {out}: no free result name for {stamp}")
    raise AssertionError  # unreachable: _fail raises


# --quick's models: one of each family (a pool of threads, of processes with and without
# copies, each event loop inline and offloading, greenlets), so that a CI job's run stays
# within ~20 s; `--quick -m all` runs every model.
QUICK_MODELS = (
    "sequential", "threads", "processes", "processes+shm", "asyncio", "asyncio+threads",
    "asyncio+processes", "trio+threads", "greenlet", "gevent",
)  # fmt: skip


def ctx_source(name: str) -> str:
    """How an option got its value (DEFAULT, COMMANDLINE, ENVIRONMENT)."""
    ctx = click.get_current_context(silent=True)
    source = ctx.get_parameter_source(name) if ctx is not None else None
    return source.name if source is not None else "DEFAULT"


def _chunksize(text: str) -> int | None:
    """auto -> None (the runner applies Pool.map's rule per cell); N -> N."""
    if str(text).strip().lower() == "auto":
        return None
    try:
        size = int(text)
    except ValueError:
        _fail(f"--chunksize {text!r}: expected auto or a number of items")
    if not 1 <= size <= 1_000_000:  # type: ignore[operator]
        _fail(f"--chunksize {text!r}: must be between 1 and 1000000")
    return size  # type: ignore[return-value]


def _rounds_options(opts: dict[str, Any]) -> tuple[int | None, int, int]:
    """(rounds or None for auto, warm-up repetitions, seed), each validated."""
    text = str(opts["repeat"]).strip().lower()
    repeat: int | None = None
    if text != "auto":
        try:
            repeat = int(text)
        except ValueError:
            _fail(f"--repeat {opts['repeat']!r}: expected auto or a number of rounds")
        if not 1 <= repeat <= 1000:  # type: ignore[operator]
            _fail(f"--repeat {opts['repeat']!r}: rounds must be between 1 and 1000")
    seed_text = opts["seed"]
    if seed_text is None:
        seed = random.SystemRandom().randrange(1, 2**31)
    else:
        try:
            seed = int(str(seed_text).strip())
        except ValueError:
            _fail(f"--seed {seed_text!r}: expected an integer")
        if not 0 <= seed < 2**63:
            _fail(f"--seed {seed_text!r}: must be between 0 and 2**63-1")
    return repeat, opts["warmup"], seed


def build_config(opts: dict[str, Any]) -> RunConfig:
    """Validate everything up front: bad input exits 2 before any work starts."""
    try:
        add_paths(opts["pythonpath"])
        explicit = ctx_source("workload") != "DEFAULT"
        if opts["op"] and explicit:
            _fail("give --op or --workload, not both")
        if opts["op"] and ":" not in opts["op"]:
            _fail(f"--op {opts['op']!r}: expected package.module:function")
        workloads = [user_spec(opts["op"])] if opts["op"] else resolve_workloads(opts["workload"])
        if opts["quick"] and ctx_source("models") == "DEFAULT":
            opts = {**opts, "models": ",".join(QUICK_MODELS)}
        add_paths([*opts["pythonpath"], *(s.folder for s in workloads if s.folder and s.user_op)])
        for spec in workloads:
            if spec.user_op:
                resolve_user_op(spec.op)  # importable, callable, takes one image: or exit 2
        models = resolve_models(opts["models"])
        allowed = allowed_cpus()
        cpus = as_param(parse_cpu_list, opts["cpus"], "--cpus") if opts["cpus"] else allowed
        check_cpus(cpus)
        if opts["nice"] is not None:
            check_nice(opts["nice"])
        workers = (
            as_param(parse_workers, opts["workers"], "--workers")
            if opts["workers"]
            else list(range(1, len(cpus) + 1))
        )
        grid = as_param(parse_grid, opts["grid"], "--grid") if opts["grid"] else None
        if opts["input_path"]:
            read_inputs(opts["input_path"])  # fail fast, naming the bad file
        elif grid is not None:
            _fail("--grid cuts your --input images; the built-in data has its own grid")
        fault = fault_model = None
        if opts["inject_fault"]:
            fault_model, fault = _parse_fault(opts["inject_fault"])
    except (WorkloadError, ModelError, PlacementError, ConfigError, UserOpError) as exc:
        _fail(str(exc))
    preset = opts["preset"] or ("quick" if opts["quick"] else "default")
    repeat, warmup, seed = _rounds_options(opts)
    target_ci = as_param(parse_percent, opts["target_ci"], "--target-ci", high=50.0)
    max_time_s = (
        as_param(parse_duration, opts["max_time"], "--max-time") / 1e9
        if opts["max_time"] is not None
        else (QUICK_MAX_TIME_S if opts["quick"] else DEFAULT_MAX_TIME_S)
    )
    if max_time_s <= 0:
        _fail(f"--max-time {opts['max_time']!r}: must be > 0")
    item_timeout_s = None
    if opts["item_timeout"] is not None:
        item_timeout_s = as_param(parse_duration, opts["item_timeout"], "--item-timeout") / 1e9
        if not 0.1 <= item_timeout_s <= 86400:
            _fail(f"--item-timeout {opts['item_timeout']!r}: must be between 0.1 s and a day")

    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    out = Path(opts["out_dir"])
    for option, path in (
        ("--csv", opts["csv_path"] or out / "x.csv"),
        ("--json", opts["json_path"] or out / "x.json"),
        ("--markdown", opts["markdown_path"]),
        ("--gab", opts["gab_path"]),
        ("--trace", opts["trace_path"]),
        ("--plots", Path(opts["plots_dir"]) / "x.png" if opts["plots_dir"] else None),
    ):
        check_writable(option, path)
    outputs = [
        (o, os.path.realpath(p))
        for o, p in (
            ("--csv", opts["csv_path"]),
            ("--json", opts["json_path"]),
            ("--markdown", opts["markdown_path"]),
            ("--gab", opts["gab_path"]),
            ("--trace", opts["trace_path"]),
        )
        if p and not Path(p).is_char_device()
    ]
    for i, (option, path) in enumerate(outputs):
        clash = next((o for o, p in outputs[:i] if p == path), None)
        if clash:
            _fail(f"{option} and {clash} name the same file {path}: one would overwrite the other")
    if opts["trace_path"] and not any(m.name == "sequential" for m in models):
        _fail("--trace records the sequential model's items: add sequential to --models")
    if opts["dask_scheduler"]:
        address = str(opts["dask_scheduler"]).strip()
        if not re.fullmatch(r"(tcp|tls|ucx|inproc)://[^\s/]+", address):
            _fail(f"--dask-scheduler {address!r}: expected an address like tcp://HOST:PORT")
        os.environ["CVBENCH_DASK_SCHEDULER"] = address
    csv_default = json_default = None
    if not (opts["csv_path"] and opts["json_path"]):
        csv_default, json_default = reserve_result_names(out, stamp)
    return RunConfig(
        workloads=workloads,
        models=models,
        workers=workers,
        placement=Placement(tuple(cpus), opts["pin"], opts["nice"]),
        repeat=repeat,
        warmup=warmup,
        seed=seed,
        target_ci=target_ci,
        max_time_s=max_time_s,
        cv_threads=opts["cv_threads"],
        preset=preset,
        fps=opts["fps"],
        input_path=opts["input_path"],
        grid=grid,
        chunksize=_chunksize(opts["chunksize"]),
        item_timeout_s=item_timeout_s,
        heartbeat_ms=opts["heartbeat_ms"],
        csv_path=Path(opts["csv_path"]) if opts["csv_path"] else csv_default,
        json_path=Path(opts["json_path"]) if opts["json_path"] else json_default,
        markdown_path=Path(opts["markdown_path"]) if opts["markdown_path"] else None,
        trace_path=Path(opts["trace_path"]) if opts["trace_path"] else None,
        gab_path=Path(opts["gab_path"]) if opts["gab_path"] else None,
        gab_metric=opts["gab_metric"],
        fault=fault,
        fault_model=fault_model,
        command=["cvbench", *sys.argv[1:]],
    )
