"""RunOptions -> RunConfig: every check before the first measurement, for the CLI, the API and
an A/B side alike. Bad input is one ConfigError (a ValueError) whose message names the option;
nothing here knows about click, and nothing is left changed in the caller's process (paths
are only put on sys.path while the user's op is checked).
"""

from __future__ import annotations

import dataclasses
import inspect
import math
import random
from pathlib import Path

from cvbench.config import records
from cvbench.config.dask_address import AddressError, parse_address
from cvbench.config.options import (
    DEFAULT_MAX_TIME_S,
    DEFAULT_WORKLOAD,
    FAMILY_MODELS,
    PRESETS,
    QUICK_MAX_TIME_S,
    RunOptions,
)
from cvbench.config.outputs import OutputPaths, plan_outputs
from cvbench.config.run_config import ConfigError, RunConfig
from cvbench.config.values import parse_cpu_list, parse_duration, parse_percent, parse_workers
from cvbench.measure.affinity import (
    PIN_MODES,
    Placement,
    PlacementError,
    allowed_cpus,
    check_cpus,
    check_nice,
)
from cvbench.models import ModelError, resolve_models
from cvbench.results.schema import METRICS
from cvbench.work.item import Fault
from cvbench.work.user_op import UserOpError, import_paths, search_paths
from cvbench.work.user_op import resolve as resolve_user_op
from cvbench.workloads import resolve_workloads
from cvbench.workloads.sources import check_input, input_files, job_items, parse_grid
from cvbench.workloads.spec import WorkloadError, user_spec

__all__ = ["ConfigError", "build_config"]


def _parsed(option: str, parse, value: object, **kw):
    """A parser's ValueError as a ConfigError naming the option."""
    try:
        return parse(str(value), **kw)
    except ValueError as exc:
        raise ConfigError(f"{option}: {exc}") from None


def _int_in(option: str, value: object, low: int, high: int, what: str = "an integer") -> int:
    try:
        number = int(str(value).strip())
    except ValueError:
        raise ConfigError(f"{option} {value!r}: expected {what}") from None
    if not low <= number <= high:
        raise ConfigError(f"{option} {value!r}: must be between {low} and {high}")
    return number


def _float_in(option: str, value: object, low: float, high: float) -> float:
    try:
        number = float(str(value).strip())
    except ValueError:
        raise ConfigError(f"{option} {value!r}: expected a number") from None
    if not (math.isfinite(number) and low <= number <= high):
        raise ConfigError(f"{option} {value!r}: must be a number between {low:g} and {high:g}")
    return number


def _seconds(option: str, value: object) -> float:
    """'90s', '2min' or a number of seconds."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        value = f"{value}s"
    return _parsed(option, parse_duration, value) / 1e9


def _rounds(opts: RunOptions) -> tuple[int | None, int]:
    """(rounds or None for auto, seed)."""
    text = str(opts.repeat).strip().lower()
    repeat = (
        None
        if text == "auto"
        else _int_in("--repeat", opts.repeat, 1, 1000, "auto or a number of rounds")
    )
    if opts.seed is None or str(opts.seed).strip() == "":
        seed = random.SystemRandom().randrange(1, 2**31)
    else:
        seed = _int_in("--seed", opts.seed, 0, 2**63 - 1)
    return repeat, seed


def _chunksize(value: str | int) -> int | None:
    """auto -> None (the runner applies Pool.map's rule per cell); N -> N."""
    if str(value).strip().lower() == "auto":
        return None
    return _int_in("--chunksize", value, 1, 1_000_000, "auto or a number of items")


def _fault(text: str) -> tuple[str, Fault]:
    """Testing only: MODEL:ITEM:exit|kill."""
    try:
        model, index, action = text.split(":")
        if action not in ("exit", "kill"):
            raise ValueError
        return model, Fault(int(index), action)
    except ValueError:
        raise ConfigError("--inject-fault: expected MODEL:ITEM:exit|kill") from None


def _dask_scheduler(value: str | None) -> str | None:
    if value is None:
        return None
    try:
        return parse_address(str(value))
    except AddressError as exc:
        raise ConfigError(f"--dask-scheduler {exc}") from None


def _dask_answers(address: str) -> None:
    """A scheduler that is not there, or accepts and never answers, is bad input: one line
    before any work, never a wait without end (models/dask_calls.py bounds it)."""
    from cvbench.models.dask_ import Dask

    if Dask.unavailable() is not None:
        return  # the dask rows will say why dask cannot run here
    from cvbench.models.dask_calls import scheduler_problem

    problem = scheduler_problem(address)
    if problem is not None:
        raise ConfigError(f"--dask-scheduler: {problem}")


# The option each text field of RunOptions comes from, as the user typed it
_FLAGS = {"workload": "--workload", "models": "--models"}


def _no_empty_values(opts: RunOptions) -> None:
    """An empty value (`--csv ''`, `--workers ''`, `cvbench.run(op="")`) is a mistake, never
    "the default": one line naming the option."""
    for f in dataclasses.fields(opts):
        value = getattr(opts, f.name)
        values = value if f.name == "pythonpath" else (value,)
        if f.name == "command" or not isinstance(values, tuple | list):
            continue
        for v in values:
            if isinstance(v, str) and not v.strip():
                flag = _FLAGS.get(f.name, "--" + f.name.replace("_", "-"))
                raise ConfigError(f"{flag}: empty value")


def build_config(opts: RunOptions) -> RunConfig:
    """Validate everything up front; ConfigError (one line) on the first problem."""
    _no_empty_values(opts)
    if opts.op and opts.workload:
        raise ConfigError("give --op or --workload, not both")
    if opts.op and ":" not in opts.op:
        raise ConfigError(f"--op {opts.op!r}: expected package.module:function")
    if opts.pin not in PIN_MODES:
        raise ConfigError(f"--pin {opts.pin!r}: choose from {', '.join(PIN_MODES)}")
    if opts.preset is not None and opts.preset not in PRESETS:
        raise ConfigError(f"--preset {opts.preset!r}: choose from {', '.join(PRESETS)}")
    if opts.gab_metric not in METRICS:
        raise ConfigError(f"--gab-metric {opts.gab_metric!r}: not a metric column")
    paths = search_paths(opts.pythonpath)
    try:
        named = opts.workload or DEFAULT_WORKLOAD
        workloads = [user_spec(opts.op)] if opts.op else resolve_workloads(named)
        paths = search_paths(
            [*opts.pythonpath, *(s.folder for s in workloads if s.folder and s.user_op)]
        )
        sources = [Path(w) for w in (opts.workload or "").split(",") if w.endswith(".toml")]
        with import_paths(paths):
            for spec in workloads:
                if spec.user_op:  # importable, callable, takes one image: or ConfigError
                    sources += _source_file(resolve_user_op(spec.op))
        own_work = bool(opts.op or opts.input)
        default_models = ",".join(FAMILY_MODELS) if (opts.quick or own_work) else "all"
        models = resolve_models(opts.models or default_models)
        cpus = _parsed("--cpus", parse_cpu_list, opts.cpus) if opts.cpus else allowed_cpus()
        check_cpus(cpus)
        nice = None if opts.nice is None else _int_in("--nice", opts.nice, -20, 19)
        if nice is not None:
            check_nice(nice)
        workers = (
            _parsed("--workers", parse_workers, opts.workers)
            if opts.workers is not None
            else list(range(1, len(cpus) + 1))
        )
        grid = _parsed("--grid", parse_grid, opts.grid) if opts.grid else None
        if opts.input:
            check_input(opts.input, grid, workloads)  # fail fast, naming the bad file
        elif grid is not None:
            raise ConfigError("--grid cuts your --input images; the built-in data has its own grid")
        fault_model, fault = _fault(opts.inject_fault) if opts.inject_fault else (None, None)
    except (WorkloadError, ModelError, PlacementError, UserOpError) as exc:
        raise ConfigError(str(exc)) from None
    repeat, seed = _rounds(opts)
    target_ci = (
        float(opts.target_ci)
        if isinstance(opts.target_ci, float) and 0 < opts.target_ci <= 0.5
        else _parsed("--target-ci", parse_percent, opts.target_ci, high=50.0)
    )
    max_time_s = (
        _seconds("--max-time", opts.max_time)
        if opts.max_time is not None
        else (QUICK_MAX_TIME_S if opts.quick else DEFAULT_MAX_TIME_S)
    )
    if max_time_s <= 0:
        raise ConfigError(f"--max-time {opts.max_time!r}: must be > 0")
    item_timeout_s = None
    if opts.item_timeout is not None:
        item_timeout_s = _seconds("--item-timeout", opts.item_timeout)
        if not 0.1 <= item_timeout_s <= 86400:
            raise ConfigError(
                f"--item-timeout {opts.item_timeout!r}: must be between 0.1 s and a day"
            )
    if opts.trace and not any(m.name == "sequential" for m in models):
        raise ConfigError(
            "--trace records the sequential model's items: add sequential to --models"
        )
    # every value checked before plan_outputs reserves the result files: a bad value must not
    # leave an empty results file behind
    warmup = _int_in("--warmup", opts.warmup, 0, 100)
    cv_threads = _int_in("--cv-threads", opts.cv_threads, 0, 256)
    fps = None if opts.fps is None else _float_in("--fps", opts.fps, 0.1, 10000)
    chunksize = _chunksize(opts.chunksize)
    heartbeat_ms = _float_in("--heartbeat-ms", opts.heartbeat_ms, 0, 1000)
    dask_scheduler = _dask_scheduler(opts.dask_scheduler)
    preset = opts.preset or ("quick" if opts.quick else "default")
    try:
        items = sum(job_items(w, preset, opts.input, grid) for w in workloads)
    except WorkloadError as exc:
        raise ConfigError(str(exc)) from None
    max_rounds = records.max_rounds(items, len(models) * len(workers), repeat, RunConfig.max_rounds)
    if opts.input:
        sources += input_files(opts.input)  # the files it reads (checked above: no error)
    dask_scheduler = _dask_scheduler(opts.dask_scheduler)
    if dask_scheduler is not None and any(m.name == "dask" for m in models):
        _dask_answers(dask_scheduler)
    out: OutputPaths = plan_outputs(opts, sources)  # last: it reserves the results files
    return RunConfig(
        workloads=workloads,
        models=models,
        workers=workers,
        placement=Placement(tuple(cpus), opts.pin, nice),
        repeat=repeat,
        warmup=warmup,
        seed=seed,
        target_ci=target_ci,
        max_time_s=max_time_s,
        cv_threads=cv_threads,
        preset=preset,
        max_rounds=max_rounds,
        fps=fps,
        input_path=opts.input,
        grid=grid,
        chunksize=chunksize,
        item_timeout_s=item_timeout_s,
        heartbeat_ms=heartbeat_ms,
        csv_path=out.csv,
        json_path=out.json,
        markdown_path=out.markdown,
        trace_path=out.trace,
        gab_path=out.gab,
        plots_dir=out.plots,
        html_path=out.html,
        gab_metric=opts.gab_metric,
        fault=fault,
        fault_model=fault_model,
        dask_scheduler=dask_scheduler,
        pythonpath=paths,
        command=list(opts.command),
    )


def _source_file(fn: object) -> list[Path]:
    """The file that defines the user's op (an output must never replace it)."""
    try:
        found = inspect.getsourcefile(fn)
    except TypeError:
        return []
    return [Path(found)] if found else []
