"""The sweep as randomized multiple interleaved trials (Abedi & Brecht, ICPE 2017).

A cell is workload x model x workers. After one warm-up per cell, a run is a sequence of
rounds; each round runs every active cell once in a freshly shuffled (seeded) order, so slow
drift of a shared machine spreads evenly over the cells instead of landing on whichever ran
last. A row's speedup is paired: its throughput over the sequential throughput of the *same
round*. With ``--repeat auto`` rounds continue until every cell's throughput CI is within the
target (converged cells drop out; sequential stays as the pairing reference) or the time
budget runs out. Rows are handed out as soon as each repetition completes, so an interrupted
run keeps every completed row.

RunResult and Callbacks live in run_state.py, one repetition in repetition.py.
"""

from __future__ import annotations

import contextlib
import functools
import gc
import os
import random
import time
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

from cvbench.ceiling import Ceilings
from cvbench.cells import chunksize_for, make_cells
from cvbench.config import RunConfig
from cvbench.emulated_kernel import predict
from cvbench.emulated_kernel.predict.chunks import ship_sizes
from cvbench.emulated_kernel.predict.in_run import PREDICTABLE
from cvbench.measure import env as envmod
from cvbench.measure import failure, interrupts, noise, procfs
from cvbench.measure.affinity import restrict_process
from cvbench.measure.noise.round_load import RoundLoad
from cvbench.measure.probes import Probes
from cvbench.measure.row import measured_row
from cvbench.measure.watchdog import (
    FIRST_S,
    GRACE_S,
    RepetitionAbandoned,
    RepetitionTimeout,
    Watchdog,
    deadline_s,
)
from cvbench.models import Model
from cvbench.overhead import heartbeat_round, more_pairs, walls
from cvbench.profiled_pass import ProfiledPass
from cvbench.repetition import (
    bare_loop_times_s,
    estimate_s,
    items_doc,
    items_s,
    repetition_times_s,
    run_once,
)
from cvbench.results.schema import SCHEMA_VERSION, blank_row
from cvbench.round_marks import check_digest, mark_load, pair_round, plan_rounds
from cvbench.run_finish import calibration, finish_run, shipping
from cvbench.run_state import Callbacks, Cell, RunResult, WorkloadState
from cvbench.stats import relative_ci_halfwidth
from cvbench.work import lifeline
from cvbench.work.job import Job
from cvbench.work.own_workers import ensure_preloaded
from cvbench.work.strays import no_strays
from cvbench.work.user_op import import_paths
from cvbench.workloads.sources import JobOptions, build_job

NOISE_SAMPLE_S = 0.3  # what `cvbench doctor` checks, sampled before the first repetition
T = TypeVar("T")  # what a guarded call returns


def converged(throughputs: list[float], min_rounds: int, target_ci: float) -> bool:
    """Enough rounds, the CI narrow enough, and as many rounds with the responsiveness probe
    as without (they alternate): a cell stopping after 3 kept 2 with it, and its throughput
    carried two thirds of the probe's cost where a cell of 7 rounds carried 4/7 (the probe
    costs a 2-worker cell whose workers hold every CPU +1-3 %)."""
    n = len(throughputs)
    return n >= min_rounds and n % 2 == 0 and relative_ci_halfwidth(throughputs) <= target_ci


class Runner:
    def __init__(self, config: RunConfig, callbacks: Callbacks | None = None) -> None:
        self.config = config
        self.cb = callbacks or Callbacks()
        self.result = RunResult(seed=config.seed)
        self.states: dict[str, WorkloadState] = {}
        self.calibration = None
        self.calibration_error = ""
        #: workload -> its items shipped by chunk size before the rounds (run_finish.shipping)
        self.shipped: dict[str, tuple[dict[int, Any] | None, str]] = {}
        self.started = time.monotonic()  # the --max-time budget counts from here
        self.last_item_digests: list[str] = []  # the latest repetition's (ab/cell_runner.py)
        self.ceilings = Ceilings([], 0)
        self.abandoned = False  # a repetition's thread was given up on (stuck inside the op)
        self.cells: list[Cell] = []
        self.predicted: set[str] = set()  # workloads whose predictions are in the result
        self.profiled_pass = ProfiledPass(self)

    @contextlib.contextmanager
    def _session(self, ceiling: bool = True) -> Iterator[list[Cell]]:
        """What every run shares, the whole one and the A/B side's: the lifeline, the
        models configured, the process restricted, the jobs built, the cells made; the
        models closed and the jobs' temporary files removed on the way out."""
        cfg = self.config
        self.started = time.monotonic()
        lifeline.mark_main()  # every process started from here on dies with this one
        # forkserver children that fail only because the run went away say nothing
        ensure_preloaded("cvbench.work.quiet_child")
        for model in cfg.models:
            model.configure(cfg)
        restrict_process(os.getpid(), list(cfg.placement.cpus))  # before any child exists
        lifeline.quiet_resource_tracker()
        self.result.env = envmod.collect(cfg.command)
        self.result.env["procfs_unavailable"] = procfs.available()
        try:
            with contextlib.ExitStack() as stack:
                # processes the op forks and leaves behind end with the run (work/strays.py);
                # entered first, so it runs last: after the models closed their pools
                self.result.strays_killed = stack.enter_context(no_strays())
                stack.callback(self._close_models)
                top = max(cfg.workers, default=1) if ceiling else 0  # A/B sides: no ceiling
                self.ceilings = Ceilings(sorted(os.sched_getaffinity(0)), top)
                stack.callback(self.ceilings.close)
                # the op's folders on sys.path and PYTHONPATH while the run lasts: process
                # workers (forkserver, spawn, dask) import the op by name
                stack.enter_context(import_paths(cfg.pythonpath))
                for spec in cfg.workloads:
                    t0 = time.perf_counter()
                    opts = JobOptions(
                        cfg.preset, cfg.cv_threads, cfg.fps, cfg.input_path, grid=cfg.grid
                    )
                    job = stack.enter_context(build_job(spec, opts))
                    self.result.prep_s[spec.name] = time.perf_counter() - t0
                    self.states[spec.name] = WorkloadState(job)
                self.cells = self._cells()
                yield self.cells
        finally:
            self._close_models()  # idempotent: already done unless setting up failed

    def close_models(self) -> None:
        """End what the models keep (pools, clusters); safe to call more than once."""
        self._close_models()

    def _close_models(self) -> None:
        for model in self.config.models:
            with contextlib.suppress(Exception):
                model.close()

    def run(self) -> RunResult:
        finished = False
        interrupts.forget()  # a stop an earlier run in this process saw is not this run's
        try:
            with self._session() as cells:
                try:
                    self._measure(cells)
                except KeyboardInterrupt:
                    self.mark_interrupted()
                # inside the session: the predictions' profiled pass runs the op again, and
                # what it starts must end with the run too
                self._finish()
                finished = True
        except KeyboardInterrupt:  # a second signal, during the finish or the clean-up
            self.mark_interrupted()
        if not finished:
            self._finish()
        if self.result.interrupted:
            # what a stopped framework left half-run (trio's run loop, stopped inside) is
            # collected now, while its complaints go to the results' thread_errors, not onto
            # the terminal after the last line
            gc.collect()
        return self.result

    def mark_interrupted(self) -> None:
        self.result.interrupted = True
        self.result.stop_reason = "interrupted"

    def _measure(self, cells: list[Cell]) -> None:
        """Calibration, the noise checks around the warm-up and the rounds."""
        self._calibrate()
        before = noise.collect_noise(NOISE_SAMPLE_S)
        window = noise.NoiseWindow()
        try:
            self._estimate(cells)
            self._warmup(cells)
            self._rounds(cells)
        finally:
            during = window.finish()
            self.result.env["noise"] = {"before": before, "during": during}
            self.result.noise_warnings = [
                *(f"before the run: {w}" for w in noise.warnings(before)),
                *(f"during the run: {w}" for w in noise.warnings(during)),
            ]

    # -- set-up ------------------------------------------------------------------------------
    def columns(self, workload: str) -> dict[str, Any]:
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
        return make_cells(self.config, self.states, self.columns, self._emit, self.chunksize)

    def chunksize(self, model: Model, job: Job, workers: int) -> int:
        return chunksize_for(self.config, model, job, workers)

    # -- warm-up and rounds --------------------------------------------------------------------
    def _estimate(self, cells: list[Cell]) -> None:
        """Each workload's first deadline: one item timed (a hang there fails a cell)."""
        for workload, state in self.states.items():
            cell = next((c for c in cells if c.workload == workload and not c.broken), None)
            if cell is None or self.config.item_timeout_s is not None or not state.job.items:
                continue
            took = self._guarded(cell, -1, -1, FIRST_S, functools.partial(estimate_s, state.job))
            state.estimate_s = took or 0.0

    def _warmup(self, cells: list[Cell]) -> None:
        """One unmeasured repetition per cell (per --warmup), in shuffled order too."""
        rng = random.Random(f"{self.config.seed}-warmup")
        for _ in range(self.config.warmup):
            order = cells[:]
            rng.shuffle(order)
            for cell in order:
                interrupts.raise_if_requested()
                if not cell.broken:
                    self._repetition(cell, round_index=-1, position=-1)

    def _rounds(self, cells: list[Cell]) -> None:
        cfg = self.config
        fixed = cfg.repeat is not None
        left_s = cfg.max_time_s - (time.monotonic() - self.started)
        last, self.result.budget_note = plan_rounds(cells, cfg, left_s, self.cb.note)
        min_rounds = min(cfg.min_rounds, last)
        rng = random.Random(cfg.seed)
        for r in range(last):
            active = self._active(cells, fixed)
            if not active:
                every_failed = all(c.broken for c in cells)
                self.result.stop_reason = (
                    "every cell failed" if every_failed else "every cell converged"
                )
                break
            order = active[:]
            rng.shuffle(order)
            load = RoundLoad.start()
            for position, cell in enumerate(order):
                interrupts.raise_if_requested()
                self._repetition(cell, r, position)
            measured = load.finish()
            self.result.round_loads.append({"round": r, **measured})
            mark_load(self.result.rows, r, measured)
            pair_round(self.result.rows, r)
            self.result.rounds = r + 1
            self.cb.round_done(self.result)
            if fixed:
                continue
            if r + 1 >= min_rounds:
                for cell in cells:
                    cell.converged = converged(cell.throughputs, cfg.min_rounds, cfg.target_ci)
            elapsed = time.monotonic() - self.started
            upcoming = sum(c.last_cost_s for c in self._active(cells, fixed))
            if r + 1 >= min_rounds and elapsed + upcoming > cfg.max_time_s:
                self.result.stop_reason = f"time budget of {cfg.max_time_s:g} s"
                break
        else:
            self.result.stop_reason = (
                f"{last} rounds"
                if fixed
                else f"time budget of {cfg.max_time_s:g} s ({last} rounds)"
                if last < cfg.max_rounds
                else f"at most {last} rounds"
            )
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

    @staticmethod
    def _kept(into: list[tuple[float, float]], got: tuple[float, float] | None) -> float | None:
        """A part of an overhead pair: (wall s, its items' own s) kept, its wall returned;
        None if it failed or hung (the cell failed)."""
        if got is None:
            return None
        into.append(got)
        return got[0]

    def _repetition(self, cell: Cell, round_index: int, position: int) -> None:
        """Run once; emit its row unless it is a successful warm-up. A failure breaks the cell."""
        cfg = self.config
        state = self.states[cell.workload]
        self.cb.cell(
            f"{'warm-up' if round_index < 0 else f'round {round_index + 1}'} · {cell.name}"
        )
        heartbeat_ms = cfg.heartbeat_ms if heartbeat_round(round_index) else 0.0
        probes = Probes(cfg.placement, int(heartbeat_ms * 1e6))
        # the overhead's own pair: in the rounds without the probe (odd), bare loop first in
        # every other one of them (the extra pairs alternate too)
        bare_first = cell.is_reference and round_index >= 0 and round_index % 4 == 1
        limit = deadline_s(cell.last_cost_s, cfg.item_timeout_s, *state.deadline_basis)
        guard = functools.partial(self._guarded, cell, round_index, position, limit)
        bare = None  # (wall s, its items' own s)
        if bare_first and cell.job.arrivals_ns is None:
            bare = guard(lambda: bare_loop_times_s(cell.job, cfg.placement))
            if bare is None:
                return  # the op hung in the bare loop: the cell failed there
        dog = Watchdog(probes, limit)
        dog.on_stuck = lambda signum: self._abandon(cell, round_index, position, dog, signum)
        traces: list[str] = []
        with dog.armed():
            try:
                records, error = run_once(cell.model, cell.job, cell.workers, probes, traces)
            except RepetitionTimeout:  # the deadline's interrupt, landed just as the run ended
                records, error = [], dog.reason
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
        base = self._base(cell, round_index, position, heartbeat_ms > 0, error)
        if error is not None:
            self._fail(cell, base, error, traces)
            return
        row = measured_row(base, cell.job, records, probes)
        if row.get("dask_workers") and cell.model.external:
            row["workers"] = row["dask_workers"]  # an existing cluster: its own worker count
        items = [r.digest for r in sorted(records, key=lambda r: r.index)]
        self.last_item_digests = items
        if state.reference is None and cell.model is self.config.models[0]:
            # the reference is the first model's output (sequential: resolve_models puts it
            # first), whatever order the shuffled round ran them in
            state.reference, state.reference_items = row["output_digest"], items
        check_digest(row, items, state)
        if row["ok"] and row["throughput_per_s"]:
            cell.throughputs.append(row["throughput_per_s"])
        if cell.is_reference and row["ok"]:
            state.trace = state.trace or predict.trace_doc(cell.workload, records)
            state.seq_wall.append(row["wall_s"])
            state.seq_records.append(records)
            if cell.job.arrivals_ns is None:  # adjacent to this repetition, order alternating
                if heartbeat_ms == 0:  # the probe's cost is the observer effect, not the harness's
                    if bare is None:
                        bare = guard(lambda: bare_loop_times_s(cell.job, cfg.placement))
                        if bare is None:
                            return  # the op hung in the bare loop: the cell failed there
                    state.overhead_pairs.append(((row["wall_s"], items_s(records)), bare))
                self.ceilings.after_reference(
                    cell.workload, cell.job, round_index, limit, row["wall_s"]
                )
                seqs: list[tuple[float, float]] = []
                bares: list[tuple[float, float]] = []
                extra = more_pairs(  # the figure only: no row, and no probe
                    round_index,
                    lambda: self._kept(seqs, guard(lambda: repetition_times_s(
                        cell.model, cell.job, cell.workers, cfg.placement, 0
                    ))),
                    lambda: self._kept(bares, guard(lambda: bare_loop_times_s(
                        cell.job, cfg.placement
                    ))),
                    walls(state.overhead_pairs),
                )  # fmt: skip
                if extra is None:
                    return  # the op hung or failed there: the cell failed
                state.overhead_pairs.extend(zip(seqs, bares, strict=True))  # extra's parts
        self.result.items.append(items_doc(base, records, probes))
        self._emit(row)

    def _guarded(
        self, cell: Cell, round_index: int, position: int, limit: float, timed: Callable[[], T]
    ) -> T | None:
        """timed() under the repetition's deadline: it runs the op too, and an op that hangs
        there (or is stuck in C) must end like one that hangs in the repetition. None when it
        did, or failed: the cell has failed."""
        dog = Watchdog(Probes(self.config.placement, 0), limit)
        dog.on_stuck = lambda signum: self._abandon(cell, round_index, position, dog, signum)
        try:
            with dog.armed():
                return timed()
        except (KeyboardInterrupt, SystemExit, RepetitionAbandoned):
            raise
        except BaseException as exc:  # noqa: BLE001 - the op failed or hung: the cell fails
            line, trace = failure.describe(exc)
            error = dog.reason if dog.fired else line
            self._fail(cell, self._base(cell, round_index, position, False, error), error, [trace])
            return None

    def _base(
        self, cell: Cell, round_index: int, position: int, heartbeat: bool, error: str | None
    ) -> dict[str, Any]:
        """The columns of a repetition's row that do not come from its measurements."""
        return dict(
            self.columns(cell.workload),
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
            heartbeat=heartbeat,
        )

    def _fail(self, cell: Cell, base: dict[str, Any], error: str, traces: list[str]) -> None:
        """One failed row, then the cell is out of the run."""
        cell.broken = True
        self.result.failures.append({"cell": cell.name, "error": error, "traceback": traces})
        self._emit(blank_row(**base, items=cell.job.items))

    def _abandon(
        self, cell: Cell, round_index: int, position: int, dog: Watchdog, signum: int | None
    ) -> None:
        """The repetition's thread is stuck inside the op for good (measure/watchdog.py): from
        the watchdog's thread, the run ends without it. At the deadline its row fails with
        the reason; after a stop signal the run is interrupted."""
        self.abandoned = True
        self.result.stop_reason = f"{cell.name} stuck inside the op"
        if signum is not None:
            line = (
                f"{cell.name} ran: its thread did not come back to Python within "
                f"{GRACE_S:g} s (an op stuck in a call that does not return?)"
            )
            self.end_stuck(128 + signum, line, signum)
            return
        error = dog.stuck_reason()
        base = self._base(cell, round_index, position, False, error)
        self.end_stuck(1, f"{cell.name}: {error}", None, lambda: self._fail(cell, base, error, []))

    def end_stuck(
        self, status: int, line: str, signum: int | None, fail: Callable[[], None] | None = None
    ) -> None:
        """From the watchdog's thread, past a thread stuck inside the op: the failed row (or,
        after a stop signal, the interruption), the finish, then the files are written (and
        cvbench's own process ended) by the callbacks, whatever failed before."""
        try:
            if signum is not None:
                self.mark_interrupted()
            elif fail is not None:
                fail()
            self._finish()
        finally:
            self.cb.stuck(self.result, status, line)

    # -- after the rounds ------------------------------------------------------------------------
    def _finish(self) -> None:
        finish_run(self)

    def _calibrate(self) -> None:
        """The machine's transfer and offload costs, when a pool model will be predicted, and
        each workload's items shipped in the chunk sizes a process pool moves between."""
        if any(m.name in PREDICTABLE for m in self.config.models):
            self.calibration, self.calibration_error = calibration(self.result.env)
        for workload, state in self.states.items():
            sizes = ship_sizes(self.config, state.job, self.chunksize)
            if sizes:  # before the rounds: the parent's allocator as the rounds will have it
                self.shipped[workload] = shipping(state.job.payloads, sizes)
