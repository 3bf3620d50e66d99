"""`cvbench run`: the options as RunOptions, the pipeline (cvbench/pipeline), the rendering
(cvbench/report/run_output.py). Everything is validated before the first measurement: bad
input exits 2 with one line.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
from typing import Any

import click
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from cvbench.commands.options import file_option, folder_option, force_option
from cvbench.commands.parsing import FiniteFloat
from cvbench.commands.signals import stop_on_signals
from cvbench.config import ConfigError, RunConfig, RunOptions, build_config
from cvbench.measure.affinity import PIN_MODES
from cvbench.pipeline import RunSession
from cvbench.report.console import make_console
from cvbench.report.run_output import print_run
from cvbench.results.schema import METRICS
from cvbench.runner import Callbacks
from cvbench.workloads import BUILTIN_NAMES

console = make_console()
err_console = make_console(stderr=True)


class _Progress(Callbacks):
    """The progress bar on a terminal (nothing elsewhere)."""

    def __init__(self, progress: Progress) -> None:
        self.progress = progress
        self.task = progress.add_task("starting", total=None)

    def cell(self, label: str) -> None:
        self.progress.update(self.task, description=label, refresh=True)

    def advance(self) -> None:
        self.progress.advance(self.task)
        self.progress.refresh()

    def note(self, text: str) -> None:
        self.progress.console.print(text, markup=False, highlight=False)


def make_progress() -> Progress:
    """The bar on a terminal, redrawn between repetitions only: rich's own refresh thread
    (10 Hz) would take the GIL inside the timed regions, from the main process's threads,
    on every run in a terminal (and never in the files these numbers were measured with)."""
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err_console,
        transient=True,
        auto_refresh=False,
        disable=not err_console.is_terminal,
    )


def config_from_options(opts: dict[str, Any]) -> RunConfig:
    """click's values -> RunOptions -> RunConfig; a ConfigError is click's usage error (exit 2)."""
    try:
        return build_config(
            RunOptions.from_mapping({**opts, "command": ("cvbench", *sys.argv[1:])})
        )
    except ConfigError as exc:
        raise click.UsageError(str(exc)) from None


@click.command("run")
@click.option(
    "--workload",
    "-w",
    "workload",
    default=None,
    help=f"Comma list of {', '.join(BUILTIN_NAMES)}, all, or a .toml definition "
    "[default: threshold,faces].",
)
@click.option(
    "--models",
    "-m",
    default=None,
    help="Comma list of model names, or all (see `cvbench models`) [default: all; one model "
    "of each family with --quick, --op or --input].",
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
    help="Time budget of the whole run (warm-up included), e.g. 90s or 2min: after the "
    "warm-up the rounds are planned to fit and the plan is printed [default: 90s, 15s with "
    "--quick].",
)
@click.option(
    "--cpus", default=None, help="Restrict every thread and child to these CPUs, e.g. 0-1."
)
@click.option(
    "--pin",
    type=click.Choice(PIN_MODES),
    default="spread",
    show_default=True,
    help="Pin worker i to one CPU of the set (compact: in order; spread: one per core first); "
    "none lets the kernel move them.",
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
    "killed (a stuck thread abandoned) and its row fails [default: 20x the longest "
    "repetition of the workload so far, at least 30 s; 120 s for its very first].",
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
    default="results",
    show_default=True,
    type=click.Path(file_okay=False),
    help="Folder for the default CSV/JSON files.",
)
@file_option("--csv", help="CSV file [default: OUT/<timestamp>.csv].")
@file_option(
    "--json",
    help="JSON: rows, summary, per-item records, environment [default: OUT/<timestamp>.json].",
)
@file_option("--markdown", help="Markdown summary for a CI job summary.")
@file_option(
    "--trace",
    help="Write the sequential model's per-item service/I-O times for `cvbench simulate`.",
)
@folder_option(
    "--plots",
    help="Also draw the charts (PNG and SVG) into this folder (needs the plot extra).",
)
@file_option(
    "--gab", help="github-action-benchmark custom JSON of --gab-metric (medians per group)."
)
@click.option(
    "--gab-metric",
    type=click.Choice(sorted(METRICS)),
    default="throughput_per_s",
    show_default=True,
    help="Metric for --gab (bigger- or smaller-is-better: see README).",
)
@file_option("--html", help="The offline HTML report with charts (needs the plot extra).")
@force_option()
@click.option("--brief", is_flag=True, help="Only the findings and the throughput table.")
@click.option(
    "--inject-fault",
    default=None,
    hidden=True,
    help="Testing: MODEL:ITEM:exit|kill makes that model's worker die at that item.",
)
def run(**opts: Any) -> None:
    """Run workloads under concurrency models; print tables; write CSV/JSON as rows complete."""
    brief = opts.pop("brief")
    cfg = config_from_options(opts)
    logging.getLogger("curio").setLevel(logging.CRITICAL)  # failures become rows, not logs
    progress = make_progress()
    callbacks = _Progress(progress)
    cells = sum(len(cfg.workers) if m.sweeps_workers else 1 for m in cfg.models) * len(
        cfg.workloads
    )
    if cfg.repeat is not None:
        progress.update(callbacks.task, total=cells * (cfg.warmup + cfg.repeat))
    session = RunSession(cfg, callbacks, lambda line: err_console.print(line, markup=False))
    try:
        with stop_on_signals() as stop, progress:
            result = session.run()
            if result.interrupted and stop.signum is None:
                stop.signum = signal.SIGINT
    except KeyboardInterrupt:  # a signal after the runner returned: keep what it measured
        result = session.result
        result.interrupted = True
        session.write(result)
    except Exception as exc:
        if os.environ.get("CVBENCH_DEBUG"):
            raise
        session.write()
        err_console.print(
            f"cvbench: stopped by {type(exc).__name__}: {exc} "
            f"({len(session.result.rows)} completed rows kept; CVBENCH_DEBUG=1 shows the trace)"
        )
        sys.exit(1)
    print_run(console, err_console, result, cfg, session.final_document(), brief=brief)
    written = session.exports.written()
    if cfg.plots_dir is not None and result.rows:
        written.append(_plots(result, cfg, session.exports.errors))
    console.print(f"results: {', '.join(written)}", markup=False, highlight=False)
    if result.interrupted:
        err_console.print(
            f"interrupted by {stop.name}: the {len(result.rows)} rows completed so far are in "
            "the files above (the JSON says interrupted: true)"
        )
        sys.exit(stop.exit_code)
    if session.exports.errors:
        err_console.print(f"not written: {', '.join(session.exports.errors)}", markup=False)
        sys.exit(1)
    failed = [r for r in result.rows if r.get("status") == "failed"]
    if failed:
        err_console.print(f"{len(failed)} row(s) failed (their error column says why)")
        sys.exit(1)


def _plots(result: Any, cfg: RunConfig, errors: dict[str, str]) -> str:
    """Charts of this run; a plotting failure is reported, never loses the results, and a
    chart that could not be written (a full disk) counts as a file not written (exit 1)."""
    from cvbench.pipeline.document import run_document
    from cvbench.report.charts import PlotError

    out = cfg.plots_dir
    try:
        from cvbench.report.charts import make_plots

        paths, notes = make_plots(run_document(result), out)
    except PlotError as exc:
        err_console.print(f"no charts: {exc}")
        return f"{out}/ (no charts)"
    for note in notes:
        err_console.print(f"charts: {note}", markup=False)
    failed = [n for n in notes if "chart failed (" in n]
    if failed:
        errors["--plots"] = f"{len(failed)} chart(s) failed: {failed[0]}"
    return f"{out}/ ({len(paths)} chart files)"
