"""What a caller may ask of a run, as plain values: the `cvbench run` options, the API's
keyword arguments and an A/B side's options are all one RunOptions, validated by one builder
(config/build.py). Strings are accepted where the command line gives strings ("1-4", "90s",
"3%"), numbers where a number is natural, so `cvbench.run(workers=2, max_time=30)` works too.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass
from typing import Any

DEFAULT_WORKLOAD = "threshold,faces"
# --max-time bounds the whole run, warm-up included (round two bounded only the rounds, and a
# slow user op overran its "75 s" budget sevenfold): the default run stays within ~2 minutes
DEFAULT_MAX_TIME_S = 90.0
QUICK_MAX_TIME_S = 15.0  # --quick: a CI job's run within ~20 s

# One model of each family (a pool of threads, of processes with and without copies, each
# event loop inline and offloading, greenlets): --quick's models, and the default for your own
# --op or --input, where every extra model costs a minute of your function; `-m all` for all.
FAMILY_MODELS = (
    "sequential", "threads", "processes", "processes+shm", "asyncio", "asyncio+threads",
    "asyncio+processes", "trio+threads", "greenlet", "gevent",
)  # fmt: skip

PRESETS = ("default", "quick", "ch8")


@dataclass(frozen=True)
class RunOptions:
    """Every option of a run; None means "the default" (documented per field)."""

    workload: str | None = None  # comma list, all, or a .toml [default: threshold,faces]
    models: str | None = None  # comma list or all [default: all; one per family with
    #                            quick, op or input]
    workers: str | int | None = None  # "1,2", "1-4" or 2 [default: 1..allowed CPUs]
    repeat: str | int = "auto"  # rounds: auto (adaptive) or N
    warmup: int = 1  # unmeasured repetitions of every cell
    seed: str | int | None = None  # cell order of every round [default: random, recorded]
    target_ci: str | float = "3%"  # auto rounds stop at this CI half-width ("3%" or 0.03)
    max_time: str | float | None = None  # time budget ("90s" or seconds) [default: 75 s]
    cpus: str | None = None  # "0-1" [default: the CPUs this process may use]
    # spread: one worker per CPU, as the ceiling's copies run. Unpinned, 2 workers on 2 CPUs
    # lost 2-10 % to migrations and to the kernel stacking a woken thread on a busy CPU
    # (threads 1.56-1.76x against 1.79-1.92x pinned, on threshold in default runs)
    pin: str = "spread"  # none, compact or spread
    nice: int | None = None  # nice of the workers (-20..19)
    cv_threads: int = 1  # cv2.setNumThreads in every worker (0..256)
    input: str | None = None  # a folder of images or a video
    grid: str | None = None  # "20x20": cut each input image into tiles
    item_timeout: str | float | None = None  # "60s": a repetition without progress fails
    dask_scheduler: str | None = None  # "tcp://HOST:PORT": dask on an existing cluster
    chunksize: str | int = "auto"  # items per pool task: auto or N
    op: str | None = None  # "module:function": your own function
    pythonpath: tuple[str, ...] = ()  # folders to import op from (the cwd always is)
    quick: bool = False  # small sizes, short budget, one model per family
    preset: str | None = None  # default, quick or ch8
    fps: float | None = None  # frame rate of the frames stream [default: 30]
    heartbeat_ms: float = 1.0  # responsiveness probe period (0: off)
    out: str = "results"  # folder of the default CSV/JSON
    csv: str | None = None  # [default: OUT/<timestamp>.csv]
    json: str | None = None  # [default: beside the CSV]
    markdown: str | None = None
    trace: str | None = None
    plots: str | None = None
    gab: str | None = None
    html: str | None = None  # the offline HTML report with charts
    gab_metric: str = "throughput_per_s"
    force: bool = False  # replace an existing file that is not a cvbench result
    inject_fault: str | None = None  # testing: MODEL:ITEM:exit|kill
    command: tuple[str, ...] = ()  # the command line recorded in the environment

    @classmethod
    def from_mapping(cls, values: dict[str, Any]) -> RunOptions:
        """Known keys only: an unknown one is a one-line ValueError naming it (a typo such as
        ``worker=2`` must not be silently ignored)."""
        names = [f.name for f in dataclasses.fields(cls)]
        unknown = sorted(set(values) - set(names))
        if unknown:
            raise ValueError(f"unknown run option {unknown[0]!r}: choose from {', '.join(names)}")
        return cls(**{k: _plain(k, v) for k, v in values.items()})


LIST_OPTIONS = ("workload", "models", "workers", "cpus")  # comma lists on the command line
PATH_OPTIONS = ("input", "out", "csv", "json", "markdown", "trace", "plots", "gab", "html")


def _plain(name: str, value: Any) -> Any:
    """What Python callers naturally pass, as the command line's text: a list of models or
    worker counts (``workers=[1, 2]``) as a comma list, a pathlib.Path as its path; a path of
    another type is a one-line ValueError, not a TypeError from deep inside."""
    if name in LIST_OPTIONS and isinstance(value, list | tuple):
        return ",".join(str(v) for v in value)
    if name == "pythonpath" and isinstance(value, str | os.PathLike):
        return (os.fspath(value),)
    if name == "pythonpath" and isinstance(value, list | tuple):
        return tuple(os.fspath(v) for v in value)
    if name in PATH_OPTIONS and value is not None:
        if not isinstance(value, str | os.PathLike):
            raise ValueError(f"{name}: expected a path (str or pathlib.Path), not {value!r}")
        return os.fspath(value)
    return value
