"""What one `cvbench run` was asked to do, validated before any work starts."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from cvbench.measure.affinity import Placement
from cvbench.models import Model
from cvbench.work import Fault
from cvbench.workloads import WorkloadSpec


class ConfigError(ValueError):
    """Bad command-line input; the message names the option and the problem."""


def parse_workers(text: str, max_workers: int = 256) -> list[int]:
    """`1,2`, `1-4` or `1,2,4-8` -> sorted worker counts."""
    counts: set[int] = set()
    try:
        for part in text.split(","):
            part = part.strip()
            if "-" in part:
                lo, hi = (int(x) for x in part.split("-", 1))
                if lo > hi:
                    raise ValueError
                counts.update(range(lo, hi + 1))
            else:
                counts.add(int(part))
    except ValueError:
        raise ConfigError(f"--workers {text!r}: expected counts like 1,2 or 1-4") from None
    if not counts or min(counts) < 1 or max(counts) > max_workers:
        raise ConfigError(f"--workers {text!r}: counts must be between 1 and {max_workers}")
    return sorted(counts)


@dataclass(frozen=True)
class RunConfig:
    workloads: list[WorkloadSpec]
    models: list[Model]
    workers: list[int]
    placement: Placement
    repeat: int = 5
    warmup: int = 1
    cv_threads: int = 1
    preset: str = "default"
    fps: float | None = None
    input_path: str | None = None
    heartbeat_ms: float = 1.0
    csv_path: Path | None = None
    json_path: Path | None = None
    markdown_path: Path | None = None
    trace_path: Path | None = None
    gab_path: Path | None = None
    gab_metric: str = "throughput_per_s"
    fault: Fault | None = None
    fault_model: str | None = None
    command: list[str] = field(default_factory=list)
