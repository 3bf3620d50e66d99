"""The sweep as randomized multiple interleaved trials (Abedi & Brecht, ICPE 2017).

A cell is workload x model x workers. After one warm-up per cell, a run is a sequence of
rounds; each round runs every active cell once in a freshly shuffled (seeded) order, so slow
drift of a shared machine spreads evenly over the cells instead of landing on whichever ran
last. A row's speedup is paired: its throughput over the sequential throughput of the *same
round*. With ``--repeat auto`` rounds continue until every cell's throughput CI is within the
target (converged cells drop out; sequential stays as the pairing reference) or the time
budget runs out. Rows are handed out as soon as each repetition completes, so an interrupted
run keeps every completed row.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import random
import statistics
import time
from dataclasses import dataclass, field
from typing import Any

from cvbench.config import RunConfig
from cvbench.emulated_kernel import predict
from cvbench.emulated_kernel.predict import pool_models
from cvbench.emulated_kernel.predict.trace import trace_with_costs
from cvbench.measure import env as envmod
from cvbench.measure import noise, procfs
from cvbench.measure.affinity import restrict_process
from cvbench.measure.costs import calibrate
from cvbench.measure.probes import Probes
from cvbench.measure.row import measured_row
from cvbench.measure.watchdog import Watchdog, deadline_s
from cvbench.models import Model
from cvbench.results.schema import SCHEMA_VERSION, blank_row
from cvbench.results.summary import drift_note, summarize_rows
from cvbench.stats import relative_ci_halfwidth
from cvbench.work import lifeline
from cvbench.work.item import auto_chunksize
from cvbench.work.job import Job
from cvbench.workloads.sources import JobOptions, build_job

# Pool models the emulated kernel predicts from measured costs (inline ones are trivially 1x).
PREDICTABLE = frozenset(pool_models.MODELS) - frozenset(pool_models.INLINE_MODELS)
ITEM_EXTRAS = ("task_stream", "schedule")  # probes.extra kept in the JSON's per-run items
NOISE_SAMPLE_S = 0.3  # what `cvbench doctor` checks, sampled before the first repetition


@dataclass
class RunResult:
    rows: list[dict[str, Any]] = field(default_factory=list)
    items: list[dict[str, Any]] = field(default_factory=list)
    env: dict[str, Any] = field(default_factory=dict)
    overhead: dict[str, Any] = field(default_factory=dict)
    prep_s: dict[str, float] = field(default_factory=dict)
    interrupted: bool = False
    rounds: int = 0
    seed: int = 0
    not_converged: list[str] = field(default_factory=list)
    stop_reason: str = ""
    noise_warnings: list[str] = field(default_factory=list)


class Callbacks:
    """Hooks for the CLI's progress bar and incremental exports; all optional."""

    def cell(self, label: str) -> None: ...
    def advance(self) -> None: ...
    def row(self, row: dict[str, Any], result: RunResult) -> None: ...
    def round_done(self, result: RunResult) -> None: ...


@dataclass
class Cell:
    """One workload x model x workers and what its repetitions measured so far."""

    workload: str
    model: Model
    workers: int
    job: Job
    throughputs: list[float] = field(default_factory=list)
    broken: bool = False
    converged: bool = False
    last_cost_s: float = 0.0  # start-up + timed region of its latest repetition

    @property
    def name(self) -> str:
        return f"{self.workload}/{self.model.name}/{self.workers}w"

    @property
    def is_reference(self) -> bool:
        return self.model.name == "sequential"


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
    """The same op over the same items with no model and no probes: the overhead yardstick."""
    fn = job.fn
    fn.prepare()
    t0 = time.perf_counter_ns()
    for i, payload in enumerate(job.payloads):
        fn(i, payload)
    return (time.perf_counter_ns() - t0) / 1e9


def _items_doc(base: dict[str, Any], records: list, probes: Probes) -> dict[str, Any]:
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


@dataclass
class _WorkloadState:
    """What later rows of one workload need from earlier ones."""

    job: Job
    reference: str | None = None  # the first model's output digest
    reference_items: list[str] = field(default_factory=list)  # its per-item digests
    pending: list[tuple[dict[str, Any], list[str]]] = field(default_factory=list)
    seq_wall: list[float] = field(default_factory=list)
    seq_records: list[list] = field(default_factory=list)  # every ok sequential repetition
    bare_wall: list[float] = field(default_factory=list)
    trace: dict[str, Any] | None = None
    costliest_s: float = 0.0  # longest repetition so far: a new cell's first deadline


class Runner:
    def __init__(self, config: RunConfig, callbacks: Callbacks | None = None) -> None:
        self.config = config
        self.cb = callbacks or Callbacks()
        self.result = RunResult(seed=config.seed)
        self.states: dict[str, _WorkloadState] = {}
        self.calibration = None
        self.calibration_error = ""

    def run(self) -> RunResult:
        cfg = self.config
        lifeline.mark_main()  # every process started from here on dies with this one
        for model in cfg.models:
            model.configure(cfg)
        restrict_process(os.getpid(), list(cfg.placement.cpus))  # before any child exists
        lifeline.quiet_resource_tracker()
        self.result.env = envmod.collect(cfg.command)
        self.result.env["procfs_unavailable"] = procfs.available()
        try:
            with contextlib.ExitStack() as stack:
                for spec in cfg.workloads:
                    t0 = time.perf_counter()
                    opts = JobOptions(
                        cfg.preset, cfg.cv_threads, cfg.fps, cfg.input_path, grid=cfg.grid
                    )
                    job = stack.enter_context(build_job(spec, opts))
                    self.result.prep_s[spec.name] = time.perf_counter() - t0
                    self.states[spec.name] = _WorkloadState(job)
                cells = self._cells()
                self._calibrate()
                before = noise.collect_noise(NOISE_SAMPLE_S)
                window = noise.NoiseWindow()
                try:
                    self._warmup(cells)
                    self._rounds(cells)
                finally:
                    during = window.finish()
                    self.result.env["noise"] = {"before": before, "during": during}
                    self.result.noise_warnings = [
                        *(f"before the run: {w}" for w in noise.warnings(before)),
                        *(f"during the run: {w}" for w in noise.warnings(during)),
                    ]
        except KeyboardInterrupt:
            self.result.interrupted = True
            self.result.stop_reason = "interrupted"
        finally:
            for model in cfg.models:
                with contextlib.suppress(Exception):
                    model.close()
        self._finish()
        return self.result

    # -- set-up ------------------------------------------------------------------------------
    def _columns(self, workload: str) -> dict[str, Any]:
        """Columns every row of this workload shares: placement, cv threads, environment."""
        cfg = self.config
        return dict(
            workload=workload,
            cpus=" ".join(map(str, cfg.placement.cpus)),
            nice=cfg.placement.nice,
            cv_threads=cfg.cv_threads,
            pin=cfg.placement.pin,
            seed=cfg.seed,
            **envmod.meta_columns(self.result.env, SCHEMA_VERSION),
        )

    def _emit(self, row: dict[str, Any]) -> None:
        self.result.rows.append(row)
        self.cb.row(row, self.result)

    def _cells(self) -> list[Cell]:
        """Every workload x model x workers that can run here; unsupported models get a row."""
        cfg = self.config
        cells = []
        for workload, state in self.states.items():
            for model in cfg.models:
                reason = model.unavailable()
                if reason:
                    self._emit(
                        blank_row(
                            **self._columns(workload),
                            model=model.name,
                            workers=1,
                            repetition=0,
                            items=0,
                            ok=None,
                            status="unsupported",
                            error=reason,
                            predicted=False,
                            inline=model.inline,
                        )
                    )
                    continue
                job = state.job
                if cfg.fault is not None and cfg.fault_model == model.name:
                    job = dataclasses.replace(job, fn=dataclasses.replace(job.fn, fault=cfg.fault))
                swept = model.sweeps_workers and not model.external
                for workers in cfg.workers if swept else [1]:
                    size = self._chunksize(model, job, workers)
                    cells.append(
                        Cell(workload, model, workers, dataclasses.replace(job, chunksize=size))
                    )
        return cells

    def _chunksize(self, model: Model, job: Job, workers: int) -> int:
        """Items per pool task: --chunksize, else Pool.map's rule; 1 for models that do not
        batch, and for a stream (one item per task is the latency-fair choice)."""
        if not model.batches or job.arrivals_ns is not None:
            return 1
        return self.config.chunksize or auto_chunksize(job.items, workers)

    # -- warm-up and rounds --------------------------------------------------------------------
    def _warmup(self, cells: list[Cell]) -> None:
        """One unmeasured repetition per cell (per --warmup), in shuffled order too."""
        rng = random.Random(f"{self.config.seed}-warmup")
        for _ in range(self.config.warmup):
            order = cells[:]
            rng.shuffle(order)
            for cell in order:
                if not cell.broken:
                    self._repetition(cell, round_index=-1, position=-1)

    def _rounds(self, cells: list[Cell]) -> None:
        cfg = self.config
        fixed = cfg.repeat is not None
        last = cfg.repeat if fixed else cfg.max_rounds
        rng = random.Random(cfg.seed)
        started = time.monotonic()
        for r in range(last):
            active = self._active(cells, fixed)
            if not active:
                self.result.stop_reason = "every cell converged"
                break
            order = active[:]
            rng.shuffle(order)
            for position, cell in enumerate(order):
                self._repetition(cell, r, position)
            self._pair_round(r)
            self.result.rounds = r + 1
            self.cb.round_done(self.result)
            if fixed:
                continue
            if r + 1 >= cfg.min_rounds:
                for cell in cells:
                    cell.converged = (
                        len(cell.throughputs) >= cfg.min_rounds
                        and relative_ci_halfwidth(cell.throughputs) <= cfg.target_ci
                    )
            elapsed = time.monotonic() - started
            upcoming = sum(c.last_cost_s for c in self._active(cells, fixed))
            if r + 1 >= cfg.min_rounds and elapsed + upcoming > cfg.max_time_s:
                self.result.stop_reason = f"time budget of {cfg.max_time_s:g} s"
                break
        else:
            self.result.stop_reason = f"{last} rounds" if fixed else f"at most {last} rounds"
        if not fixed:
            self.result.not_converged = [
                c.name for c in cells if not c.broken and c.throughputs and not c.converged
            ]

    def _active(self, cells: list[Cell], fixed: bool) -> list[Cell]:
        """Cells to run this round: all of them (fixed), or the unconverged ones plus each
        workload's sequential reference, which pairs their speedups."""
        live = [c for c in cells if not c.broken]
        if fixed:
            return live
        todo = [c for c in live if not c.converged]
        needed = {c.workload for c in todo if not c.is_reference}
        refs = [c for c in live if c.is_reference and c.converged and c.workload in needed]
        return todo + refs

    def _repetition(self, cell: Cell, round_index: int, position: int) -> None:
        """Run once; emit its row unless it is a successful warm-up. A failure breaks the cell."""
        cfg = self.config
        state = self.states[cell.workload]
        self.cb.cell(
            f"{'warm-up' if round_index < 0 else f'round {round_index + 1}'} · {cell.name}"
        )
        probes = Probes(cfg.placement, int(cfg.heartbeat_ms * 1e6))
        limit = deadline_s(cell.last_cost_s, cfg.item_timeout_s, state.costliest_s)
        dog = Watchdog(probes, limit)
        with dog.armed():
            records, error = run_once(cell.model, cell.job, cell.workers, probes)
        if dog.fired:
            error = (
                f"{dog.reason}; then {error}"
                if error and dog.reason not in error and "RepetitionTimeout" not in error
                else dog.reason
            )
        cell.last_cost_s = probes.startup_s + probes.wall_s
        state.costliest_s = max(state.costliest_s, cell.last_cost_s)
        self.cb.advance()
        if round_index < 0 and error is None:
            return  # warm-up: measured, discarded
        base = dict(
            self._columns(cell.workload),
            model=cell.model.name,
            workers=cell.workers,
            repetition=len(cell.throughputs),
            round=round_index if round_index >= 0 else None,
            position=position if position >= 0 else None,
            ok=error is None,
            status="ok" if error is None else "failed",
            error=error,
            predicted=False,
            inline=cell.model.inline,
            chunksize=cell.job.chunksize,
        )
        if error is not None:
            cell.broken = True  # one failed row, then the cell is out of the run
            self._emit(blank_row(**base, items=cell.job.items))
            return
        row = measured_row(base, cell.job, records, probes)
        if row.get("dask_workers") and cell.model.external:
            row["workers"] = row["dask_workers"]  # an existing cluster: its own worker count
        items = [r.digest for r in sorted(records, key=lambda r: r.index)]
        if state.reference is None and cell.model is self.config.models[0]:
            # the reference is the first model's output (sequential: resolve_models puts it
            # first), whatever order the shuffled round ran them in
            state.reference, state.reference_items = row["output_digest"], items
        self._check_digest(row, items, state)
        if row["ok"] and row["throughput_per_s"]:
            cell.throughputs.append(row["throughput_per_s"])
        if cell.is_reference and row["ok"]:
            state.trace = state.trace or predict.trace_doc(cell.workload, records)
            state.seq_wall.append(row["wall_s"])
            state.seq_records.append(records)
            if cell.job.arrivals_ns is None and len(state.bare_wall) < cfg.min_rounds:
                state.bare_wall.append(bare_loop_s(cell.job))
        self.result.items.append(_items_doc(base, records, probes))
        self._emit(row)

    def _check_digest(self, row: dict[str, Any], items: list[str], state: _WorkloadState) -> None:
        """Mark a row whose output differs from the reference; rows that ran before the
        reference existed are checked when it arrives (see _pair_round)."""
        state.pending.append((row, items))
        if state.reference is None:
            return
        for pending, digests in state.pending:
            if pending["output_digest"] != state.reference and pending["ok"]:
                differ = [
                    i
                    for i, (a, b) in enumerate(zip(digests, state.reference_items, strict=False))
                    if a != b
                ]
                shown = ", ".join(map(str, differ[:5])) + (" …" if len(differ) > 5 else "")
                pending.update(ok=False, status="failed")
                pending["error"] = (
                    f"output differs from the reference model's at {len(differ)} of "
                    f"{len(digests)} items ({shown}): digest {pending['output_digest']} vs "
                    f"{state.reference}; a non-deterministic op, or a model that did other work"
                )
        state.pending.clear()

    def _pair_round(self, round_index: int) -> None:
        """speedup = throughput / the same round's sequential throughput, per workload."""
        rows = [r for r in self.result.rows if r.get("round") == round_index]
        reference = {
            r["workload"]: r["throughput_per_s"]
            for r in rows
            if r["model"] == "sequential" and r["ok"] and r["throughput_per_s"]
        }
        for row in rows:
            ref = reference.get(row["workload"])
            if ref and row["ok"] and row["throughput_per_s"]:
                row["speedup"] = row["throughput_per_s"] / ref

    # -- after the rounds ------------------------------------------------------------------------
    def _finish(self) -> None:
        """Rows in sweep order, drift notes, the emulated kernel's predictions, overhead.

        Rows ran in shuffled order (their round and position columns keep it); files and
        tables list them by workload, model and workers, as a reader looks for them.
        """
        workloads = list(self.states)
        models = [m.name for m in self.config.models]

        def sweep_order(row: dict[str, Any]) -> tuple:
            w, m = row["workload"], row["model"]
            return (
                workloads.index(w) if w in workloads else len(workloads),
                models.index(m) if m in models else len(models),
                row["workers"],
                -1 if row.get("round") is None else row["round"],
            )

        self.result.rows.sort(key=sweep_order)
        self.result.items.sort(key=sweep_order)
        for s in summarize_rows(self.result.rows):
            note = drift_note(s)
            if note is None:
                continue
            for row in self.result.rows:
                same = (row["workload"], row["model"], row["workers"])
                if same == (s["workload"], s["model"], s["workers"]) and not row.get("predicted"):
                    row["notes"] = "; ".join(filter(None, [row.get("notes"), note]))
        for workload, state in self.states.items():
            self._predict(workload, state)
            if state.bare_wall and state.seq_wall:
                bare, seq = statistics.median(state.bare_wall), statistics.median(state.seq_wall)
                self.result.overhead[workload] = {
                    "bare_loop_s": bare,
                    "sequential_s": seq,
                    "overhead_pct": 100 * (seq - bare) / bare,
                    "samples": len(state.bare_wall),
                }

    def _calibrate(self) -> None:
        """The machine's transfer and offload costs, when a pool model will be predicted."""
        if not any(m.name in PREDICTABLE for m in self.config.models):
            return
        try:
            self.calibration = calibrate()
            self.result.env["calibration"] = self.calibration.to_dict()
        except Exception as exc:  # noqa: BLE001 - no calibration: predictions say why
            self.calibration_error = f"calibration failed: {type(exc).__name__}: {exc}"
            self.result.env["calibration"] = {"error": self.calibration_error}

    def _predict(self, workload: str, state: _WorkloadState) -> None:
        """Trace file and the emulated kernel's rows for every pool model, from the sequential
        records (per-item medians over its repetitions) and this run's calibration."""
        cfg = self.config
        if state.trace is None:
            return
        items = predict.median_item_costs(
            [predict.item_costs(r, state.job.payloads) for r in state.seq_records]
        )
        if cfg.trace_path is not None:
            path = cfg.trace_path
            if len(cfg.workloads) > 1:
                path = path.with_name(f"{path.stem}-{workload}{path.suffix}")
            costs = predict.machine_costs(self.calibration) if self.calibration else None
            predict.write_trace(path, trace_with_costs(workload, items, costs))
        if state.job.arrivals_ns is not None:
            return  # a stream's pace is set by its arrivals, not by the pool
        seq = [
            r["throughput_per_s"]
            for r in self.result.rows
            if r["workload"] == workload and r["model"] == "sequential" and r["ok"]
        ]
        if not seq:
            return
        base = dict(self._columns(workload), error=None, inline=False, status="ok")
        cores = len(cfg.placement.cpus)
        for model in cfg.models:
            if model.name not in PREDICTABLE:
                continue
            for workers in cfg.workers:
                size = self._chunksize(model, state.job, workers)
                costs = predict.machine_costs(self.calibration, size) if self.calibration else None
                row = predict.predicted_model_row(
                    model.name, items, costs, workers, cores, base, statistics.median(seq)
                )
                row["chunksize"] = size
                if self.calibration_error:
                    row["notes"] = f"{row['notes']}; {self.calibration_error}"
                self.result.rows.append(row)
