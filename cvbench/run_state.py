"""What a run keeps while it runs: the result so far, the hooks the CLI and exports listen
on, the cells and what each workload's later rows need from earlier ones."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from cvbench.models import Model
from cvbench.work.job import Job


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
    failures: list[dict[str, Any]] = field(default_factory=list)  # cell, error, tracebacks
    budget_note: str = ""  # the --max-time budget afforded fewer rounds than a CI needs
    round_loads: list[dict[str, Any]] = field(default_factory=list)  # per round: others' CPU
    thread_errors: list[str] = field(default_factory=list)  # frameworks' threads, not printed
    #: per workload: the GIL split's source, prediction errors, 4/16/64-core lines
    predictions: dict[str, Any] = field(default_factory=dict)
    #: per cell: throughput without / with the heartbeat, paired over adjacent rounds
    observer: dict[str, dict[str, Any]] = field(default_factory=dict)
    strays_killed: list[int] = field(default_factory=list)  # processes the op left behind
    #: per workload: the parallel ceiling at the run's largest worker count (ceiling.py)
    ceiling: dict[str, dict[str, Any]] = field(default_factory=dict)


class Callbacks:
    """Hooks for the CLI's progress bar and incremental exports; all optional."""

    def cell(self, label: str) -> None: ...
    def advance(self) -> None: ...
    def row(self, row: dict[str, Any], result: RunResult) -> None: ...
    def round_done(self, result: RunResult) -> None: ...
    def note(self, text: str) -> None: ...
    def stuck(self, result: RunResult, status: int, line: str) -> None:
        """A repetition's thread is stuck for good (the runner already failed its row or
        marked the run interrupted): called from the watchdog's thread, the last call of the
        run. ``status`` is the exit status the run ends with, ``line`` says why."""


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


def row_name(row: dict[str, Any]) -> str:
    return f"{row['workload']}/{row['model']}/{row['workers']}w"


@dataclass
class WorkloadState:
    """What later rows of one workload need from earlier ones."""

    job: Job
    reference: str | None = None  # the first model's output digest
    reference_items: list[str] = field(default_factory=list)  # its per-item digests
    pending: list[tuple[dict[str, Any], list[str]]] = field(default_factory=list)
    seq_wall: list[float] = field(default_factory=list)
    seq_records: list[list] = field(default_factory=list)  # every ok sequential repetition
    # the overhead's pairs, the probe off: (sequential, bare loop), each part (wall s, its
    # items' own s) -- the walls make the end-to-end figure, both the time around the items
    overhead_pairs: list[tuple[tuple[float, float], tuple[float, float]]] = field(
        default_factory=list
    )
    trace: dict[str, Any] | None = None
    costliest_s: float = 0.0  # longest repetition so far: a new cell's first deadline
    # one item timed before the first repetition, x the items (or the last arrival): the
    # workload's very first deadline grows with it (an hour of video is not 120 s of work)
    estimate_s: float = 0.0

    @property
    def deadline_basis(self) -> tuple[float, float]:
        """What a cell with no repetition yet goes by (measure/watchdog.py deadline_s)."""
        return self.costliest_s, self.estimate_s
