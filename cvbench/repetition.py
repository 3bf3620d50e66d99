"""One repetition of one cell, and what is recorded around it: the model run with its failure
turned into a line, the main thread's placement restored, the bare loop that measures the
harness, the per-item records for the JSON."""

from __future__ import annotations

import contextlib
import os
import time
from typing import Any

from cvbench.measure import failure
from cvbench.measure.affinity import Placement
from cvbench.measure.probes import Probes, main_tid
from cvbench.models import Model
from cvbench.work.job import Job

ITEM_EXTRAS = ("task_stream", "schedule")  # probes.extra kept in the JSON's per-run items


class MainThreadState:
    """Affinity and nice of the main thread, restored after inline models changed them."""

    def __init__(self) -> None:
        self.cpus = os.sched_getaffinity(0)
        self.nice = os.getpriority(os.PRIO_PROCESS, 0)

    def restore(self) -> None:
        os.sched_setaffinity(0, self.cpus)
        # an unprivileged process cannot lower its nice again; the row records the nice asked
        with contextlib.suppress(PermissionError):
            os.setpriority(os.PRIO_PROCESS, 0, self.nice)


def run_once(
    model: Model, job: Job, workers: int, probes: Probes, traces: list[str] | None = None
) -> tuple[list, str | None]:
    """One repetition; a failure of the model becomes an error line, not an exception (and
    its traceback goes to ``traces``, for the JSON)."""
    state = MainThreadState()
    try:
        records = model.run(job, workers, probes)
    except (KeyboardInterrupt, SystemExit):
        raise
    except BaseException as exc:  # noqa: BLE001 - any model failure is a failed row
        line, trace = failure.describe(exc)
        if traces is not None:
            traces.append(trace)
        return [], line
    finally:
        # a model that raised inside its region never reached probes.end(): its heartbeat
        # thread would tick every 1 ms for the rest of the run
        probes.stop_heartbeat()
        state.restore()
    indices = sorted(r.index for r in records)
    if indices != list(range(job.items)):
        return records, f"model returned {len(records)} of {job.items} items"
    return records, None


def repetition_times_s(
    model: Model, job: Job, workers: int, placement: Placement, heartbeat_ns: int
) -> tuple[float, float]:
    """One repetition that makes no row (the overhead's extra pairs): its wall time and its
    items' own time (``items_s``)."""
    probes = Probes(placement, heartbeat_ns)
    records, error = run_once(model, job, workers, probes, [])
    if error is not None:
        raise RuntimeError(error)
    return probes.wall_s, items_s(records)


def items_s(records: list) -> float:
    """The items' own time, summed: each timed by the work function around the op and its
    digest (the same call the bare loop makes). A one-thread model's wall time beyond it is
    what its loop and the harness add around the items, measured in the same repetition."""
    return sum(r.finished_ns - r.started_ns for r in records) / 1e9


def estimate_s(job: Job) -> float:
    """One item timed (the first, the op prepared, an injected fault left out), x the items,
    or the last item's arrival if later: what a first repetition's deadline is scaled by."""
    fn = job.fn.without_fault()
    fn.prepare()
    t0 = time.perf_counter()
    fn(0, job.payloads[0])
    one = time.perf_counter() - t0
    return max(one * job.items, job.arrival_ns(job.items - 1) / 1e9)


def bare_loop_times_s(job: Job, placement: Placement | None = None) -> tuple[float, float]:
    """The same op over the same items with no model and no probes: the overhead yardstick.
    Its wall time, and its items' own (``items_s``): a plain loop's time around the items.

    On the sequential model's CPU and nice (worker 0 of ``placement``): under ``--pin`` the
    sequential model cannot move away from a busy CPU and an unpinned loop could, which read
    as +1.6-2.4 % of "overhead" that was placement, not harness."""
    fn = job.fn
    fn.prepare()
    state = MainThreadState()
    if placement is not None:
        placement.apply_worker(0, [main_tid()])
    try:
        t0 = time.perf_counter_ns()
        results = [fn(i, payload) for i, payload in enumerate(job.payloads)]
        return (time.perf_counter_ns() - t0) / 1e9, items_s(results)
    finally:
        state.restore()


def items_doc(base: dict[str, Any], records: list, probes: Probes) -> dict[str, Any]:
    t0 = probes.begun_ns
    return {
        **{k: base[k] for k in ("workload", "model", "workers", "repetition", "round")},
        "fields": ["index", "worker", "arrival_us", "submitted_us", "started_us", "finished_us"],
        "records": [
            [
                r.index,
                r.worker,
                (r.arrival_ns - t0) // 1000,
                (r.submitted_ns - t0) // 1000,
                (r.started_ns - t0) // 1000,
                (r.finished_ns - t0) // 1000,
            ]
            for r in sorted(records, key=lambda r: r.index)
        ],
        "lags_us": [lag // 1000 for lag in probes.heartbeat.lags_ns],
        # what a model logged beyond its columns: dask's task stream, kernel-proc's schedule
        **{k: v for k, v in probes.extra.items() if k in ITEM_EXTRAS},
    }
