"""The results schema: one row per workload x model x workers x repetition.

One table of columns is the single source of truth: the CSV/JSON writers, the typed readers,
the summary, the regression gate, github-action-benchmark export and the charts all read it.
Column names are a contract with CI jobs and reports (README, "Results files"): add, never
rename.
Import-light on purpose (stdlib only): reading a results file must not load cv2 or psutil.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

SCHEMA_VERSION = 1

ColumnType = Literal["text", "int", "float", "bool"]


@dataclass(frozen=True)
class Column:
    """One column: its type, unit, which direction is better (+1/-1, 0 = not a metric) and
    whether the per-group summary aggregates it."""

    name: str
    type: ColumnType
    unit: str = ""
    better: int = 0
    summarised: bool = False

    @property
    def is_metric(self) -> bool:
        return self.better != 0

    @property
    def bigger_is_better(self) -> bool:
        return self.better > 0


def _t(name: str) -> Column:
    return Column(name, "text")


def _i(name: str) -> Column:
    return Column(name, "int")


def _b(name: str) -> Column:
    return Column(name, "bool")


def _up(name: str, unit: str, kind: ColumnType = "float", summarised: bool = True) -> Column:
    return Column(name, kind, unit, +1, summarised)


def _down(name: str, unit: str, kind: ColumnType = "float", summarised: bool = True) -> Column:
    return Column(name, kind, unit, -1, summarised)


# Order is the CSV's column order: round one's columns first, later additions appended.
ROW_COLUMNS: tuple[Column, ...] = (
    _t("workload"),
    _t("model"),
    _i("workers"),
    _i("repetition"),
    _i("items"),
    _b("ok"),
    _t("error"),
    _down("wall_s", "s"),
    _down("startup_s", "s"),
    _up("throughput_per_s", "items/s"),
    _up("speedup", "x"),
    _down("cpu_user_s", "s"),
    _down("cpu_sys_s", "s"),
    _down("ctx_voluntary", "count", "int"),
    _down("ctx_involuntary", "count", "int"),
    _down("user_switches", "count", "int"),
    _down("migrations", "count", "int"),
    _down("runqueue_wait_s", "s"),
    _down("latency_p50_ms", "ms"),
    _down("latency_p90_ms", "ms"),
    _down("latency_p99_ms", "ms"),
    _down("latency_max_ms", "ms"),
    _down("service_p50_ms", "ms"),
    _down("lag_p50_ms", "ms"),
    _down("lag_p99_ms", "ms"),
    _down("lag_max_ms", "ms"),
    _down("max_rss_mb", "MB"),
    _t("output_digest"),
    _t("cpus"),
    _i("nice"),
    _i("cv_threads"),
    _b("predicted"),
    # added by later work; still stable once here
    _down("latency_p999_ms", "ms"),
    _down("queue_p50_ms", "ms"),
    _down("queue_p99_ms", "ms", summarised=False),
    _down("service_p99_ms", "ms", summarised=False),
    _down("lag_p999_ms", "ms", summarised=False),
    _i("heartbeats"),
    _down("deadline_misses", "count", "int"),
    _i("faces_found"),
    _t("pin"),
    _b("inline"),
    _t("notes"),
    _down("preemptions", "count", "int"),
    _down("deferred_signals", "count", "int"),
    # round two: randomized interleaved rounds (RMIT) and honest non-results
    _i("round"),  # which round of the run (0-based); empty for warm-up failures
    _i("position"),  # where in that round's shuffled order the cell ran
    _i("seed"),  # the seed that shuffled every round's order
    _t("status"),  # ok | failed | unsupported (unsupported rows have an empty ok)
    _down("placement_s", "s", summarised=False),  # processes+shm: copying items to shared memory
    _i("dask_workers"),  # dask: the workers the cluster really had
    _i("chunksize"),  # items per task handed to a pool (1 = one future per item)
    # round three: load from other processes, measured per round
    Column("others_cpu", "float", "CPUs"),  # CPUs other processes used during the round
    _b("disturbed"),  # the round ran beside load that competes for the CPUs
    _b("heartbeat"),  # the responsiveness probe ran (even rounds; odd ones measure without it)
    # round three: `cvbench ab` writes both sides' rows into one file
    _t("side"),  # base | head (empty for `cvbench run`)
    _i("ab_round"),  # the A/B job's round (the side's own round column counts its requests)
    # round three (issue 21): the costs of the run itself, split by who paid them
    _down("parent_cpu_s", "s", summarised=False),  # this process, all threads (getrusage)
    _down("parent_sys_s", "s", summarised=False),
    _down("parent_faults", "count", "int", summarised=False),  # minor + major (getrusage)
    _down("workers_cpu_s", "s", summarised=False),  # worker processes (user + sys)
    _down("workers_sys_s", "s", summarised=False),
    _down("workers_faults", "count", "int", summarised=False),  # /proc/<pid>/stat of workers
    _down("worker_threads_cpu_s", "s", summarised=False),  # schedstat run time of workers
    _down("worker_wait_s", "s", summarised=False),  # workers runnable, waiting for a core
    _down("main_cpu_s", "s", summarised=False),  # the dispatching (main) thread, schedstat
    _down("busy_s", "s", summarised=False),  # sum over items of start -> finish in the worker
    _down("released_s", "s", summarised=False),  # sum over items of GIL-released time
    _i("bytes_per_item"),  # what a process pool pickles for an item's argument (mean)
    # where the time went (issue 21): per worker lane, seconds; they add up to wall_s
    _down("budget_compute_gil_s", "s", summarised=False),
    _down("budget_compute_released_s", "s", summarised=False),
    _down("budget_gil_wait_s", "s", summarised=False),
    _down("budget_contention_s", "s", summarised=False),
    _down("budget_transfer_s", "s", summarised=False),
    _down("budget_dispatch_s", "s", summarised=False),
    _down("budget_idle_s", "s", summarised=False),
    _down("budget_harness_s", "s", summarised=False),
    Column("budget_closure", "float"),  # sum of the budget over wall_s (1.0 = closes)
    # the compute's share of the sequential reference's item costs: < 1 where the cell's items
    # took less than those in all (the machine faster during this cell: its speed drifts)
    Column("budget_compute_scale", "float"),
    _t("cost_source"),  # predicted rows: where the costs came from (a measured cell, calibration)
    Column("prediction_error_pct", "float"),  # predicted rows: vs the measured median
)
META: tuple[Column, ...] = (
    _t("python"),
    _t("opencv"),
    _t("kernel"),  # the Linux release (uname -r), not the emulated kernel
    _t("cpu_model"),
    _i("host_cores"),
    _t("cvbench_version"),
    _t("timestamp"),
    _i("schema_version"),
)
# Columns of other documents cvbench reads with the same reader (simulator and trace output).
OTHER: tuple[Column, ...] = (_t("policy"), _i("cores"))

COLUMNS: tuple[str, ...] = tuple(c.name for c in ROW_COLUMNS)
META_COLUMNS: tuple[str, ...] = tuple(c.name for c in META)
ALL_COLUMNS: tuple[str, ...] = COLUMNS + META_COLUMNS
BY_NAME: dict[str, Column] = {c.name: c for c in (*ROW_COLUMNS, *META, *OTHER)}

#: Metrics with a known good direction: what the gate, history and github-action-benchmark take.
METRICS: dict[str, Column] = {c.name: c for c in ROW_COLUMNS if c.is_metric}
#: Metrics the per-group summary aggregates, in table order.
SUMMARY_METRICS: tuple[str, ...] = tuple(c.name for c in ROW_COLUMNS if c.summarised)
DEFAULT_METRIC = "throughput_per_s"


def columns_of(kind: ColumnType) -> frozenset[str]:
    return frozenset(c.name for c in BY_NAME.values() if c.type == kind)


def metric_info(metric: str) -> Column:
    """The column of a gateable metric; ValueError naming the choices otherwise."""
    try:
        return METRICS[metric]
    except KeyError:
        raise ValueError(
            f"unknown metric {metric!r}; choose one of {', '.join(sorted(METRICS))}"
        ) from None


def blank_row(**fields: Any) -> dict[str, Any]:
    row: dict[str, Any] = dict.fromkeys(COLUMNS)
    row.update(fields)
    return row


def format_cell(value: Any) -> str:
    """CSV cell: empty for missing, plain numbers, lowercase booleans."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)
