"""The sweep: workload x model x workers x repetition, with warm-up, digest checks and rows
handed out as soon as each repetition completes (so nothing measured is lost)."""

from __future__ import annotations

import contextlib
import dataclasses
import os
import statistics
import time
from dataclasses import dataclass, field
from typing import Any

from cvbench.config import RunConfig
from cvbench.emulated_kernel import predict
from cvbench.measure import env as envmod
from cvbench.measure import procfs
from cvbench.measure.affinity import restrict_process
from cvbench.measure.probes import Probes
from cvbench.measure.row import measured_row
from cvbench.models import Model
from cvbench.results.schema import SCHEMA_VERSION, blank_row
from cvbench.work.job import Job
from cvbench.workloads.sources import JobOptions, build_job


@dataclass
class RunResult:
    rows: list[dict[str, Any]] = field(default_factory=list)
    items: list[dict[str, Any]] = field(default_factory=list)
    env: dict[str, Any] = field(default_factory=dict)
    overhead: dict[str, Any] = field(default_factory=dict)
    prep_s: dict[str, float] = field(default_factory=dict)
    interrupted: bool = False


class Callbacks:
    """Hooks for the CLI's progress bar and incremental exports; all optional."""

    def cell(self, workload: str, model: str, workers: int, runs: int) -> None: ...
    def advance(self) -> None: ...
    def row(self, row: dict[str, Any], result: RunResult) -> None: ...


class _MainThreadState:
    """Affinity and nice of the main thread, restored after inline models changed them."""

    def __init__(self) -> None:
        self.cpus = os.sched_getaffinity(0)
        self.nice = os.getpriority(os.PRIO_PROCESS, 0)

    def restore(self) -> None:
        os.sched_setaffinity(0, self.cpus)
        # an unprivileged process cannot lower its nice again; the row records the nice asked
        with contextlib.suppress(PermissionError):
            os.setpriority(os.PRIO_PROCESS, 0, self.nice)


def run_once(model: Model, job: Job, workers: int, probes: Probes) -> tuple[list, str | None]:
    """One repetition; a failure of the model becomes an error string, not an exception."""
    state = _MainThreadState()
    try:
        records = model.run(job, workers, probes)
    except (KeyboardInterrupt, SystemExit):
        raise
    except BaseException as exc:  # noqa: BLE001 - any model failure is a failed row
        text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        return [], f"{type(exc).__name__}: {text}" if text else type(exc).__name__
    finally:
        state.restore()
    indices = sorted(r.index for r in records)
    if indices != list(range(job.items)):
        return records, f"model returned {len(records)} of {job.items} items"
    return records, None


def bare_loop_s(job: Job) -> float:
    """The same kernel over the same items with no model and no probes: the overhead yardstick."""
    fn = job.fn
    fn.prepare()
    t0 = time.perf_counter_ns()
    for i, payload in enumerate(job.payloads):
        fn(i, payload)
    return (time.perf_counter_ns() - t0) / 1e9


def _items_doc(base: dict[str, Any], records: list, probes: Probes) -> dict[str, Any]:
    t0 = probes.begun_ns
    return {
        **{k: base[k] for k in ("workload", "model", "workers", "repetition")},
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
    }


@dataclass
class _WorkloadState:
    """What later rows of one workload need from earlier ones."""

    reference: str | None = None  # the first model's output digest
    seq_throughput: list[float] = field(default_factory=list)
    seq_wall: list[float] = field(default_factory=list)
    bare_wall: list[float] = field(default_factory=list)
    trace: dict[str, Any] | None = None


class Runner:
    def __init__(self, config: RunConfig, callbacks: Callbacks | None = None) -> None:
        self.config = config
        self.cb = callbacks or Callbacks()
        self.result = RunResult()

    def run(self) -> RunResult:
        cfg = self.config
        self.result.env = envmod.collect(cfg.command)
        self.result.env["procfs_unavailable"] = procfs.available()
        restrict_process(os.getpid(), list(cfg.placement.cpus))
        try:
            for spec in cfg.workloads:
                t0 = time.perf_counter()
                opts = JobOptions(cfg.preset, cfg.cv_threads, cfg.fps, cfg.input_path)
                with build_job(spec, opts) as job:
                    self.result.prep_s[spec.name] = time.perf_counter() - t0
                    self._workload(job)
        except KeyboardInterrupt:
            self.result.interrupted = True
        return self.result

    def _columns(self, workload: str) -> dict[str, Any]:
        """Columns every row of this workload shares: placement, cv threads, environment."""
        cfg = self.config
        return dict(
            workload=workload,
            cpus=" ".join(map(str, cfg.placement.cpus)),
            nice=cfg.placement.nice,
            cv_threads=cfg.cv_threads,
            pin=cfg.placement.pin,
            **envmod.meta_columns(self.result.env, SCHEMA_VERSION),
        )

    def _emit(self, row: dict[str, Any]) -> None:
        self.result.rows.append(row)
        self.cb.row(row, self.result)

    def _predict(self, job: Job, state: _WorkloadState) -> None:
        """Trace file and the emulated kernel's processes rows, from the sequential records."""
        cfg = self.config
        if state.trace is None:
            return
        if cfg.trace_path is not None:
            path = cfg.trace_path
            if len(cfg.workloads) > 1:
                path = path.with_name(f"{path.stem}-{job.workload}{path.suffix}")
            predict.write_trace(path, state.trace)
        if job.arrivals_ns is not None or not any(m.name == "processes" for m in cfg.models):
            return  # a stream's pace is set by its arrivals, not by the pool
        base = dict(self._columns(job.workload), error=None, inline=False)
        seq = statistics.median(state.seq_throughput)
        for workers in cfg.workers:
            cores = len(cfg.placement.cpus)
            self._emit(predict.predicted_row(state.trace, workers, cores, base, seq))

    def _workload(self, job: Job) -> None:
        cfg = self.config
        state = _WorkloadState()
        for model in cfg.models:
            model_job = job
            if cfg.fault is not None and cfg.fault_model == model.name:
                fn = dataclasses.replace(job.fn, fault=cfg.fault)
                model_job = dataclasses.replace(job, fn=fn)
            for workers in cfg.workers if model.sweeps_workers else [1]:
                self.cb.cell(job.workload, model.name, workers, cfg.warmup + cfg.repeat)
                for rep in range(-cfg.warmup, cfg.repeat):
                    if not self._repetition(model, model_job, workers, rep, state):
                        break  # a broken model: one failed row, then on to the next cell
            if model.name == "sequential" and state.seq_throughput:
                # its own rows were written against a running median: use the final one
                final = statistics.median(state.seq_throughput)
                for row in self.result.rows:
                    mine = row["workload"] == job.workload and row["model"] == "sequential"
                    if mine and row["ok"] and row["throughput_per_s"]:
                        row["speedup"] = row["throughput_per_s"] / final
        self._predict(job, state)
        if state.bare_wall:
            bare, seq = statistics.median(state.bare_wall), statistics.median(state.seq_wall)
            self.result.overhead[job.workload] = {
                "bare_loop_s": bare,
                "sequential_s": seq,
                "overhead_pct": 100 * (seq - bare) / bare,
                "samples": len(state.bare_wall),
            }

    def _repetition(
        self, model: Model, job: Job, workers: int, rep: int, state: _WorkloadState
    ) -> bool:
        """Run once; emit its row unless it is a successful warm-up. False: the model broke."""
        probes = Probes(self.config.placement, int(self.config.heartbeat_ms * 1e6))
        records, error = run_once(model, job, workers, probes)
        self.cb.advance()
        if rep < 0 and error is None:
            return True  # warm-up: measured, discarded
        base = dict(
            self._columns(job.workload),
            model=model.name,
            workers=workers,
            repetition=max(rep, 0),
            ok=error is None,
            error=error,
            predicted=False,
            inline=model.inline,
        )
        if error is not None:
            self._emit(blank_row(**base, items=job.items))
            return False
        row = measured_row(base, job, records, probes)
        digest = row["output_digest"]
        if state.reference is None:
            state.reference = digest
        elif digest != state.reference:
            row["ok"] = False
            row["error"] = (
                f"output digest {digest} differs from the first model's {state.reference}"
            )
        if model.name == "sequential" and row["ok"]:
            state.trace = state.trace or predict.trace_doc(job.workload, records)
            state.seq_throughput.append(row["throughput_per_s"])
            state.seq_wall.append(row["wall_s"])
            if job.arrivals_ns is None:
                state.bare_wall.append(bare_loop_s(job))
        if state.seq_throughput and row["throughput_per_s"]:
            row["speedup"] = row["throughput_per_s"] / statistics.median(state.seq_throughput)
        self.result.items.append(_items_doc(base, records, probes))
        self._emit(row)
        return True
