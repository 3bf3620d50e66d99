"""`cvbench ab`: did this change make it slower? Base (A) and head (B) measured interleaved in
one job, each side in its own long-lived process (cvbench/ab/).

Shared `run` options are passed to both sides as they are; per-side options say what differs.
Exit 0: no cell slower; 1: a cell slower (or a cell failed, or a file not written); 2: bad
input, found before any measurement (one line); 128+N: stopped by signal N.
"""

from __future__ import annotations

import os
import random
import sys
from pathlib import Path
from typing import Any

import click

from cvbench.commands.options import file_option
from cvbench.commands.parsing import as_param, parse_duration, parse_percent
from cvbench.commands.signals import stop_on_signals

# A quick job's models: the three families that matter most for a pipeline (the inline
# reference, a thread pool, a process pool), so that a --quick job stays within ~60 s here.
DEFAULT_MODELS = "sequential,threads,processes"
QUICK_MAX_TIME_S = 30.0
DEFAULT_MAX_TIME_S = 120.0

# option name -> how it is passed on to `cvbench run` in both sides (value options)
SHARED = {
    "workload": "-w", "models": "-m", "workers": "--workers", "input": "--input",
    "grid": "--grid", "preset": "--preset", "cpus": "--cpus", "pin": "--pin", "nice": "--nice",
    "cv_threads": "--cv-threads", "chunksize": "--chunksize", "warmup": "--warmup",
    "item_timeout": "--item-timeout", "heartbeat_ms": "--heartbeat-ms", "fps": "--fps",
    "op": "--op",
}  # fmt: skip
# declared here because their meaning or default differs in a job; the rest of SHARED are
# `run`'s own options, declared once in commands/run.py and passed through as text
OWN = ("workload", "models")


def _shared_run_options(fn: Any) -> Any:
    """`run`'s options that both sides share, taken from the `run` command itself (its flags
    and help), each a plain string here: a side validates it exactly as `run` does."""
    from cvbench.commands.run import run as run_cmd

    by_name = {p.name: p for p in run_cmd.params}
    for name in reversed([n for n in SHARED if n not in OWN]):
        p = by_name[name]
        fn = click.option(*p.opts, name, default=None, metavar=p.metavar, help=p.help)(fn)
    return fn


def _side_options(side: str) -> list:
    return [
        click.option(f"--{side}", f"{side}_ref", default=None, metavar="REF",
                     help=f"Git ref of the {side} side, checked out into a temporary worktree"
                     + (" [default: the working tree as it is]." if side == "head" else ".")),
        click.option(f"--{side}-python", default=None, metavar="PATH",
                     help=f"Interpreter or virtualenv of the {side} side (cvbench installed)."),
        click.option(f"--{side}-pythonpath", multiple=True, metavar="DIR",
                     help=f"Folder put on the {side} side's PYTHONPATH (repeatable)."),
        click.option(f"--{side}-workload", default=None, metavar="TOML|NAME|MOD:FN",
                     help=f"Workload (or op) of the {side} side instead of -w/--op."),
        click.option(f"--{side}-env", multiple=True, metavar="K=V",
                     help=f"Environment variable of the {side} side (repeatable)."),
        click.option(f"--{side}-option", multiple=True, metavar='"--OPT VALUE"',
                     help=f"A `cvbench run` option for the {side} side only (repeatable)."),
    ]  # fmt: skip


def _apply(options: list, fn: Any) -> Any:
    for option in reversed(options):
        fn = option(fn)
    return fn


def _fail(message: str) -> None:
    """Bad input: one line on stderr, exit 2, before any work."""
    click.echo(f"cvbench ab: error: {message}", err=True)
    sys.exit(2)


@click.command("ab")
@click.option(
    "--workload",
    "-w",
    default=None,
    help="Comma list of built-in workloads or a .toml [default: threshold,faces].",
)
@click.option(
    "--models",
    "-m",
    default=None,
    help=f"Models [default: {DEFAULT_MODELS}: a quick job stays within ~60 s].",
)
@click.option("--quick", is_flag=True, help="Small sizes (each side's `run --quick` sizes).")
@_shared_run_options
@click.option(
    "--pythonpath",
    multiple=True,
    metavar="DIR",
    help="Folder on both sides' PYTHONPATH (repeatable).",
)
@click.option("--seed", default=None, type=int, help="Seed of the schedule [default: random].")
@click.option(
    "--max-time",
    default=None,
    help=f"Budget of the measured rounds [default: {QUICK_MAX_TIME_S:g}s with --quick, "
    f"{DEFAULT_MAX_TIME_S:g}s]; start-up and warm-up come on top.",
)
@click.option(
    "--threshold",
    default="3%",
    show_default=True,
    help="Practical threshold on head/base time: smaller changes count as same.",
)
@click.option(
    "--confidence",
    default=0.99,
    show_default=True,
    type=click.FloatRange(0.5, 0.999),
    help="Confidence of the paired interval (checked after every round).",
)
@click.option("--max-rounds", default=60, show_default=True, type=click.IntRange(8, 10000))
@click.option(
    "--side-timeout",
    default=None,
    help="A side that does not answer a request in this long is hung [default: "
    "40x the cell's warm-up, at least 60 s].",
)
@file_option("--csv", "csv_path", help="Both sides' rows, with side and ab_round columns.")
@file_option("--json", "json_path", help="Verdicts, sides, rows.")
@file_option("--markdown", "markdown_path", help="Job summary (e.g. $GITHUB_STEP_SUMMARY).")
@file_option("--gab", "gab_path", help="github-action-benchmark JSON of the head side.")
@click.option("--gab-metric", default="throughput_per_s", show_default=True)
@lambda fn: _apply(_side_options("base") + _side_options("head"), fn)
def ab_cmd(**opts: Any) -> None:
    """Did this change make it slower? Base and head measured interleaved in one job.

    \b
    Each round runs every cell on both sides back to back (in a counterbalanced random order),
    and a cell's verdict comes from the paired per-round ratios head/base:
      same / slower / faster, or inconclusive when the budget ran out.
    Examples:
      cvbench ab --base origin/main --quick                (head = the working tree)
      cvbench ab --base HEAD~1 --op mymod:pipeline --input photos/
      cvbench ab --base-python /opt/py311/bin/python --head-python /opt/py313/bin/python
      cvbench ab --head-option "--cv-threads 4"
    """
    from cvbench.ab.job import AbSettings, Job
    from cvbench.ab.sides import BadInput, SideSpec, parse_env, parse_options

    if opts["op"] and opts["workload"]:
        _fail("give --op or --workload, not both")
    try:
        specs = [
            SideSpec(
                label=side,
                ref=opts[f"{side}_ref"],
                python=opts[f"{side}_python"],
                pythonpath=tuple(opts[f"{side}_pythonpath"]),
                workload=opts[f"{side}_workload"],
                env=parse_env(opts[f"{side}_env"], f"--{side}-env"),
                options=parse_options(opts[f"{side}_option"], f"--{side}-option"),
            )
            for side in ("base", "head")
        ]
        threshold = as_param(parse_percent, opts["threshold"], "--threshold", high=100.0)
        max_time = (
            as_param(parse_duration, opts["max_time"], "--max-time") / 1e9
            if opts["max_time"]
            else (QUICK_MAX_TIME_S if opts["quick"] else DEFAULT_MAX_TIME_S)
        )
        timeout = (
            as_param(parse_duration, opts["side_timeout"], "--side-timeout") / 1e9
            if opts["side_timeout"]
            else None
        )
    except (BadInput, click.BadParameter) as exc:
        _fail(exc.format_message() if isinstance(exc, click.ClickException) else str(exc))
    if opts["input"]:
        opts["input"] = os.path.abspath(opts["input"])  # the same data for both sides
    if not opts["models"]:
        opts["models"] = DEFAULT_MODELS
    seed = opts["seed"] if opts["seed"] is not None else random.SystemRandom().randrange(1, 2**31)
    shared: list[str] = ["--quick"] if opts["quick"] else []
    workload: list[str] = []
    for name, flag in SHARED.items():
        value = opts[name]
        if value is None:
            continue
        (workload if name in ("workload", "op") else shared).extend([flag, str(value)])
    for folder in opts["pythonpath"]:
        shared += ["--pythonpath", os.path.abspath(folder)]
    shared += ["--seed", str(seed)]
    for option in ("csv_path", "json_path", "markdown_path", "gab_path"):
        if opts[option]:
            from cvbench.commands.output import check_writable

            try:
                check_writable(f"--{option.removesuffix('_path')}", opts[option])
            except click.UsageError as exc:
                _fail(exc.format_message())
    settings = AbSettings(
        threshold=threshold,
        confidence=opts["confidence"],
        max_rounds=opts["max_rounds"],
        max_time_s=max_time,
        seed=seed,
        request_timeout_s=timeout,
    )
    tty = sys.stderr.isatty()

    def status(text: str) -> None:
        click.echo(f"\r\033[K{text}", err=True, nl=False)

    job = Job(specs, shared, workload, settings, on_event=status if tty else None)
    try:
        with stop_on_signals() as stop:
            result = job.run()
            if stop.signum is not None:  # one that landed in an import: recorded, not raised
                result.interrupted = True
    except BadInput as exc:
        if tty:
            click.echo("\r\033[K", err=True, nl=False)
        _fail(str(exc))
    except KeyboardInterrupt:  # a signal after the job returned: it has cleaned up already
        result = job.result
        result.interrupted = True
    if tty:
        click.echo("\r\033[K", err=True, nl=False)
    lost = _exports(opts, result)
    _print(result)
    if result.interrupted:
        click.echo(f"cvbench ab: interrupted by {stop.name}; no side process or worktree left",
                   err=True)  # fmt: skip
        sys.exit(stop.exit_code)
    failed = [c.name for c in result.cells.values() if c.label == "failed"]
    if failed:
        click.echo(f"cvbench ab: {len(failed)} cell(s) failed: {', '.join(failed)}", err=True)
    if lost:
        click.echo(f"cvbench ab: not written: {', '.join(lost)}", err=True)
    sys.exit(1 if result.slower or failed or lost else 0)


def _exports(opts: dict[str, Any], result: Any) -> list[str]:
    from cvbench.ab import export
    from cvbench.results.write import atomic_write

    lost = []
    for option, make in (
        ("csv_path", lambda: export.csv_text(result)),
        ("json_path", lambda: export.json_text(result)),
        ("markdown_path", lambda: export.markdown_text(result)),
        ("gab_path", lambda: export.gab_text(result, opts["gab_metric"])),
    ):
        path = opts[option]
        if not path:
            continue
        try:
            atomic_write(Path(path), make())
        except (OSError, ValueError) as exc:
            lost.append(f"{path} ({exc})")
    return lost


def _print(result: Any) -> None:
    from rich.table import Table

    from cvbench.ab.export import ICONS, ratio_text
    from cvbench.report.console import make_console

    console = make_console()
    s = result.settings
    table = Table(title=f"head/base wall time per cell (threshold ±{s.threshold:.1%}, "
                  f"{s.confidence:.0%} CI)")  # fmt: skip
    for col in ("cell", "ratio", "CI", "verdict", "rounds", "note"):
        table.add_column(col, justify="right" if col in ("ratio", "rounds") else "left")
    for c in result.cells.values():
        ratio, ci = ratio_text(c)
        table.add_row(c.name, ratio, ci, f"{ICONS.get(c.label, '')} {c.label}",
                      str(len(c.log_ratios)), c.note)  # fmt: skip
    console.print(table)
    for label, side in result.sides.items():
        env = side.get("environment", {})
        console.print(
            f"{label}: {side.get('description')} — Python {env.get('python', '?')}, "
            f"OpenCV {env.get('opencv', '?')}, cvbench from {env.get('cvbench_path', '?')}",
            markup=False, highlight=False,
        )  # fmt: skip
    speed = result.speed or {}
    if speed.get("status") == "warn":
        make_console(stderr=True).print(
            f"WARNING: CPU speed: {speed['message']} ({speed['advice']})",
            markup=False, highlight=False,
        )  # fmt: skip
    slower = result.slower
    console.print(
        f"{len(slower)} slower; {result.rounds} round(s), seed {s.seed}, stopped: "
        f"{result.stop_reason}; job {result.wall_s:.1f} s (start-up {result.startup_s:.1f} s)",
        markup=False, highlight=False,
    )  # fmt: skip
