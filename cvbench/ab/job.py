"""An A/B job: both sides started once, then rounds of paired repetitions until every cell
has a verdict or the budget is spent.

The parent owns the schedule (schedule.py), the paired log-ratios and the stopping rule
(verdict.py); the sides only measure (side_process.py). A side that crashes or hangs fails the
cell it was measuring (with the reason and the tail of its log) and is started again; the job
goes on. Whatever happens - Ctrl-C, SIGTERM, an exception - the sides are stopped, their
process groups killed and the worktrees removed before this returns or raises.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from cvbench.ab import verdict as V
from cvbench.ab.protocol import ProtocolError
from cvbench.ab.schedule import A, B, Schedule
from cvbench.ab.sides import (
    BadInput,
    Placed,
    SideProcess,
    SideSpec,
    Worktrees,
    job_folder,
    resolve_python,
    resolve_ref,
)
from cvbench.measure import interrupts
from cvbench.measure.noise.speed import speed_check, spin_slices

READY_TIMEOUT_S = 600.0  # start-up and warm-up of a side (a full-size job can take minutes)
MAX_RESTARTS = 2  # per side: a side that keeps dying ends the job
SPEED_SAMPLE_S = 0.3  # the CPU-speed check before the sides start, as `run`'s noise sample


@dataclass
class AbSettings:
    threshold: float = V.DEFAULT_THRESHOLD
    confidence: float = V.DEFAULT_CONFIDENCE
    min_rounds: int = V.MIN_ROUNDS
    max_rounds: int = 60
    max_time_s: float = 40.0  # the measured rounds; start-up and warm-up come on top
    seed: int = 0
    request_timeout_s: float | None = None  # None: from the cell's warm-up cost


@dataclass
class CellState:
    name: str
    log_ratios: list[float] = field(default_factory=list)
    verdict: V.Verdict | None = None
    output_changed: str = ""  # why, when the sides' outputs differ
    failed: str = ""  # why, when a side failed on it
    missing: str = ""  # only one side has it
    done: bool = False
    cost_s: float = 0.0  # both sides' latest repetition, for the time budget

    @property
    def label(self) -> str:
        if self.missing:
            return V.MISSING
        if self.failed:
            return V.FAILED
        if self.output_changed:
            return V.OUTPUT_CHANGED
        return self.verdict.verdict if self.verdict else V.INCONCLUSIVE

    @property
    def note(self) -> str:
        return (
            self.missing
            or self.failed
            or self.output_changed
            or (self.verdict.note if self.verdict else "")
        )


@dataclass
class AbResult:
    cells: dict[str, CellState] = field(default_factory=dict)
    rows: list[dict[str, Any]] = field(default_factory=list)
    sides: dict[str, dict[str, Any]] = field(default_factory=dict)  # label -> env, description
    settings: AbSettings = field(default_factory=AbSettings)
    rounds: int = 0
    stop_reason: str = ""
    interrupted: bool = False
    startup_s: float = 0.0
    wall_s: float = 0.0
    restarts: dict[str, int] = field(default_factory=dict)
    #: the CPU-speed check (measure/noise/speed.py) before the sides start, JSON-ready: a
    #: machine whose speed swings makes every cell inconclusive, and the job says why
    speed: dict[str, Any] = field(default_factory=dict)

    @property
    def slower(self) -> list[str]:
        return [n for n, c in self.cells.items() if c.label == V.SLOWER]


def _side_argv(shared: list[str], workload: list[str], spec: SideSpec) -> list[str]:
    if spec.workload:
        is_op = ":" in spec.workload and not spec.workload.endswith(".toml")
        workload = ["--op" if is_op else "-w", spec.workload]
    return [*shared, *workload, *spec.options]


def place(
    specs: list[SideSpec], shared: list[str], workload: list[str], cwd: Path, trees: Worktrees
) -> list[Placed]:
    """Check every side (interpreter, ref) before any worktree exists, then check them out."""
    checked = []
    for spec in specs:
        python = resolve_python(spec.python, f"--{spec.label}-python")
        ref = resolve_ref(spec.ref, f"--{spec.label}", str(cwd)) if spec.ref else None
        checked.append((spec, python, ref))
    placed = []
    for spec, python, ref in checked:
        paths = [os.path.abspath(p) for p in spec.pythonpath]
        side_cwd, sha = cwd, None
        if ref is not None:
            sha, top = ref
            tree = trees.add(top, sha, spec.label)
            try:
                side_cwd = tree / cwd.resolve().relative_to(top.resolve())
            except ValueError:
                side_cwd = tree
            if not side_cwd.is_dir():
                side_cwd = tree
            paths = [str(side_cwd), str(tree), *paths]  # the ref's folder first
        argv = _side_argv(shared, workload, spec)
        placed.append(Placed(spec, python, side_cwd, list(dict.fromkeys(paths)), argv, sha))
    return placed


class Job:
    def __init__(
        self,
        specs: list[SideSpec],
        shared: list[str],
        workload: list[str],
        settings: AbSettings,
        on_event: Callable[[str], None] | None = None,
    ) -> None:
        self.specs = specs
        self.shared = shared
        self.workload = workload
        self.settings = settings
        self.result = AbResult(settings=settings)
        self.say = on_event or (lambda text: None)
        self.sides: dict[str, SideProcess] = {}
        self.costs: dict[str, float] = {}  # cell -> warm-up cost (largest side)

    # -- the whole job ----------------------------------------------------------------------
    def run(self, cwd: Path | None = None) -> AbResult:
        """BadInput before any measurement; KeyboardInterrupt is kept (result.interrupted)."""
        t0 = time.monotonic()
        cwd = cwd or Path.cwd()
        with job_folder() as tmp, Worktrees(tmp) as trees:
            try:
                placed = place(self.specs, self.shared, self.workload, cwd, trees)
                for p in placed:
                    self.sides[p.spec.label] = SideProcess(p, tmp)
                    self.result.sides[p.spec.label] = {
                        "description": p.spec.describe(),
                        "commit": p.sha,
                        "python": p.python,
                        "argv": p.argv,
                        "env": p.spec.env,
                    }
                self._speed()
                self.say("starting both sides (build, warm up)")
                for side in self.sides.values():
                    side.start()  # both at once: start-up overlaps
                for side in self.sides.values():
                    ready = side.handshake(READY_TIMEOUT_S)
                    self.result.sides[side.label]["environment"] = ready.get("env", {})
                    for row in ready.get("rows", []):
                        self._keep(row, side.label, None)
                self.result.startup_s = time.monotonic() - t0
                self._cells()
                self._rounds()
                interrupts.raise_if_requested()  # a stop that landed in an import
            except KeyboardInterrupt:
                self.result.interrupted = True
                self.result.stop_reason = "interrupted"
            except JobEnded:
                pass  # the cells say why; stop_reason too
            finally:
                interrupted = self.result.interrupted
                for side in self.sides.values():
                    side.stop(interrupted=interrupted)
        self._finish()
        self.result.wall_s = time.monotonic() - t0
        return self.result

    def _speed(self) -> None:
        """The CPU-speed sample, before the sides load the CPUs (after, their work would
        read as another task sharing this one's CPU)."""
        self.result.speed = asdict(speed_check(spin_slices(SPEED_SAMPLE_S)))

    def _cells(self) -> None:
        cells = {
            label: {c["name"]: c for c in side.ready.get("cells", [])}
            for label, side in self.sides.items()
        }
        names = list(dict.fromkeys([*cells[A], *cells[B]]))
        for name in names:
            state = self.result.cells[name] = CellState(name)
            a, b = cells[A].get(name), cells[B].get(name)
            if a is None or b is None:
                state.missing = f"only the {A if b is None else B} side has this cell"
                state.done = True
                continue
            broken = [label for label, c in ((A, a), (B, b)) if c.get("broken")]
            if broken:
                state.failed = f"{' and '.join(broken)} side failed its warm-up: " + self._error(
                    name, broken[0]
                )
                state.done = True
            self.costs[name] = max(a.get("cost_s") or 0.0, b.get("cost_s") or 0.0)
            state.cost_s = (a.get("cost_s") or 0.0) + (b.get("cost_s") or 0.0)

    def _error(self, name: str, label: str) -> str:
        for row in self.result.rows:
            if row.get("side") == label and _name(row) == name and row.get("error"):
                return str(row["error"])
        return "see the side's rows"

    def _timeout(self, name: str) -> float:
        if self.settings.request_timeout_s is not None:
            return self.settings.request_timeout_s
        return max(60.0, 40.0 * self.costs.get(name, 0.0))

    def _rounds(self) -> None:
        s = self.settings
        schedule = Schedule(s.seed)
        started = time.monotonic()
        for r in range(s.max_rounds):
            active = [n for n, c in self.result.cells.items() if not c.done]
            if not active:
                self.result.stop_reason = "every cell decided"
                return
            upcoming = sum(self.result.cells[n].cost_s for n in active)
            if r >= s.min_rounds and time.monotonic() - started + upcoming > s.max_time_s:
                self.result.stop_reason = f"time budget of {s.max_time_s:g} s"
                return
            self.say(f"round {r + 1}: {len(active)} cell(s)")
            for name, order in schedule.round(active):
                interrupts.raise_if_requested()
                self._pair(name, order, r)
            self.result.rounds = r + 1
        self.result.stop_reason = f"{s.max_rounds} rounds"

    def _pair(self, name: str, order: tuple[str, str], r: int) -> None:
        state = self.result.cells[name]
        got: dict[str, dict[str, Any]] = {}
        for label in order:
            side = self.sides[label]
            try:
                msg = side.run(name, r, self._timeout(name))
            except ProtocolError as exc:
                state.failed = f"{label} side crashed or hung in round {r + 1}: {exc}"
                state.done = True
                self._restart(side)
                return
            got[label] = msg
            self._keep(msg["row"], label, r)
        a, b = got[A]["row"], got[B]["row"]
        state.cost_s = sum(
            float((x.get("startup_s") or 0) + (x.get("wall_s") or 0)) for x in (a, b)
        )
        for label, row in ((A, a), (B, b)):
            if not row.get("ok"):
                state.failed = f"{label} side: {row.get('error') or 'failed'}"
                state.done = True
                return
        if a.get("output_digest") != b.get("output_digest"):
            items_a, items_b = got[A].get("items") or [], got[B].get("items") or []
            differ = [i for i, (x, y) in enumerate(zip(items_a, items_b, strict=False)) if x != y]
            count = f"{len(differ)} of {len(items_a)} items" if items_a else "the output"
            if len(items_a) != len(items_b):
                count = f"{len(items_a)} vs {len(items_b)} items"
            shown = ", ".join(map(str, differ[:5])) + (" …" if len(differ) > 5 else "")
            state.output_changed = (
                f"head's output differs from base's at {count}"
                + (f" ({shown})" if differ else "")
                + ": a different result, not a speed change"
            )
            state.done = True
            return
        wa, wb = a.get("wall_s"), b.get("wall_s")
        if not wa or not wb or wa <= 0 or wb <= 0:
            return
        state.log_ratios.append(math.log(wb / wa))
        state.verdict = V.judge(
            state.log_ratios, self.settings.threshold, self.settings.confidence,
            self.settings.min_rounds,
        )  # fmt: skip
        state.done = state.verdict.final

    def _restart(self, side: SideProcess) -> None:
        """Start a side again after it crashed or hung; end the job if it keeps failing."""
        side.stop(interrupted=True, grace_s=2.0)
        count = self.result.restarts.get(side.label, 0) + 1
        self.result.restarts[side.label] = count
        if count > MAX_RESTARTS:
            raise _give_up(self, side.label, f"it failed {count} times")
        self.say(f"restarting the {side.label} side")
        try:
            side.start()
            side.handshake(READY_TIMEOUT_S)
        except BadInput as exc:
            raise _give_up(self, side.label, str(exc)) from None

    def _keep(self, row: dict[str, Any], label: str, r: int | None) -> None:
        row = dict(row)
        row["side"] = label
        row["ab_round"] = r
        self.result.rows.append(row)

    def _finish(self) -> None:
        """Verdicts of undecided cells, and each side's speedups over its own sequential."""
        for state in self.result.cells.values():
            if state.verdict is None and not (state.failed or state.missing):
                state.verdict = V.judge(
                    state.log_ratios, self.settings.threshold, self.settings.confidence,
                    self.settings.min_rounds,
                )  # fmt: skip
        reference = {
            (r["side"], r["ab_round"], r["workload"]): r["throughput_per_s"]
            for r in self.result.rows
            if r.get("model") == "sequential" and r.get("ok") and r.get("throughput_per_s")
        }
        for row in self.result.rows:
            ref = reference.get((row["side"], row.get("ab_round"), row.get("workload")))
            if ref and row.get("ok") and row.get("throughput_per_s"):
                row["speedup"] = row["throughput_per_s"] / ref


class JobEnded(RuntimeError):
    """A side could not be kept alive: the job ends with one line (cells so far kept)."""


def _give_up(job: Job, label: str, why: str) -> JobEnded:
    for state in job.result.cells.values():
        if not state.done:
            state.failed = f"not measured: the {label} side could not be restarted ({why})"
            state.done = True
    job.result.stop_reason = f"the {label} side could not be restarted: {why}"
    return JobEnded(job.result.stop_reason)


def _name(row: dict[str, Any]) -> str:
    return f"{row.get('workload')}/{row.get('model')}/{row.get('workers')}w"
