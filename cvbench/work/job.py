"""A Job: the items of one workload, the function that processes them, and when they arrive."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from cvbench.work.item import WorkFn


@dataclass(frozen=True)
class Job:
    """Everything a model needs to run one workload; identical for every model."""

    workload: str
    fn: WorkFn
    payloads: tuple[Any, ...]
    arrivals_ns: tuple[int, ...] | None = None  # offsets from the timed start; None = batch
    deadline_ns: int | None = None  # per-item latency budget (frames: one frame period)
    chunksize: int = 1  # items per task for pool models that batch (1: one future per item)
    tail_workers: int = 1  # > 1: the automatic chunks shrink at the end (work.item.chunks)

    @property
    def items(self) -> int:
        return len(self.payloads)

    def arrival_ns(self, index: int) -> int:
        return 0 if self.arrivals_ns is None else self.arrivals_ns[index]
