"""What one run was asked to do, validated before any work starts (config/build.py makes it)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # annotations only: `cvbench compare` imports this without cv2
    from cvbench.measure.affinity import Placement
    from cvbench.models.base import Model
    from cvbench.work.item import Fault
    from cvbench.workloads import WorkloadSpec


class ConfigError(ValueError):
    """Bad input to a run; the message is one line naming the option and the problem."""


@dataclass(frozen=True)
class RunConfig:
    workloads: list[WorkloadSpec]
    models: list[Model]
    workers: list[int]
    placement: Placement
    repeat: int | None = None  # rounds; None = adaptive (--repeat auto)
    warmup: int = 1
    seed: int = 0  # shuffles the cell order of every round
    target_ci: float = 0.03  # --repeat auto: stop when every cell's CI half-width is within it
    max_time_s: float = 90.0  # --repeat auto: time budget for the measured rounds
    min_rounds: int = 3
    max_rounds: int = 30
    cv_threads: int = 1
    preset: str = "default"
    fps: float | None = None
    input_path: str | None = None
    grid: tuple[int, int] | None = None  # --grid RxC for --input images
    chunksize: int | None = None  # items per pool task; None = auto (Pool.map's rule)
    item_timeout_s: float | None = None  # per repetition; None = from the cell's warm-up
    heartbeat_ms: float = 1.0
    csv_path: Path | None = None
    json_path: Path | None = None
    markdown_path: Path | None = None
    trace_path: Path | None = None
    gab_path: Path | None = None
    html_path: Path | None = None
    gab_metric: str = "throughput_per_s"
    fault: Fault | None = None
    fault_model: str | None = None
    dask_scheduler: str | None = None  # tcp://HOST:PORT: the dask model on that cluster
    plots_dir: Path | None = None
    pythonpath: tuple[str, ...] = ()  # absolute folders the op and workers import from
    command: list[str] = field(default_factory=list)
