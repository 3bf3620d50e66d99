"""CPU affinity and nice, applied per thread.

psutil's cpu_affinity() and nice() act on the thread whose tid == pid only; threads that
already exist keep their old mask and nice. So every tid is set explicitly here with
os.sched_setaffinity / os.setpriority, which accept a tid on Linux, and children get theirs the
same way through /proc/<pid>/task.
"""

from __future__ import annotations

import contextlib
import os
import resource
from dataclasses import dataclass
from pathlib import Path

import psutil

from cvbench.measure.procfs import tids

PIN_MODES = ("none", "compact", "spread")


class PlacementError(ValueError):
    """A CPU set or nice value that cannot be applied here."""


def allowed_cpus() -> list[int]:
    return sorted(psutil.Process().cpu_affinity())


def check_cpus(cpus: list[int]) -> None:
    allowed = allowed_cpus()
    outside = [c for c in cpus if c not in allowed]
    if outside:
        raise PlacementError(
            f"--cpus: CPU {outside[0]} is not in this process's allowed set {allowed}"
        )


def check_nice(nice: int) -> None:
    if not -20 <= nice <= 19:
        raise PlacementError(f"--nice {nice}: must be between -20 and 19")
    current = os.getpriority(os.PRIO_PROCESS, 0)
    if nice < current and not has_cap_sys_nice():
        soft, _ = resource.getrlimit(resource.RLIMIT_NICE)
        if 20 - soft > nice:  # RLIMIT_NICE allows nice down to 20 - rlim_cur
            raise PlacementError(
                f"--nice {nice}: lowering nice below {current} needs CAP_SYS_NICE "
                "(root in a container may not have it) or a higher RLIMIT_NICE"
            )


CAP_SYS_NICE = 23


def has_cap_sys_nice() -> bool:
    """Whether this process may lower nice values: the capability itself, not "am I root"
    (root in a container often lacks it, and then every row failed with PermissionError)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("CapEff:"):
                return bool(int(line.split()[1], 16) >> CAP_SYS_NICE & 1)
    except (OSError, ValueError, IndexError):
        pass
    return os.geteuid() == 0


def _core_id(cpu: int) -> tuple[int, int]:
    base = Path(f"/sys/devices/system/cpu/cpu{cpu}/topology")
    try:
        return int((base / "physical_package_id").read_text()), int((base / "core_id").read_text())
    except (OSError, ValueError):
        return 0, cpu


def pin_order(cpus: list[int], mode: str) -> list[int]:
    """compact: CPU ids in order (siblings first); spread: one CPU per physical core first."""
    if mode == "compact":
        return sorted(cpus)
    seen: dict[tuple[int, int], int] = {}
    firsts, rest = [], []
    for cpu in sorted(cpus):
        core = _core_id(cpu)
        (rest if core in seen else firsts).append(cpu)
        seen.setdefault(core, cpu)
    return firsts + rest


def set_thread(tid: int, cpus: list[int] | None, nice: int | None) -> None:
    if cpus is not None:
        os.sched_setaffinity(tid, cpus)
    if nice is not None:
        os.setpriority(os.PRIO_PROCESS, tid, nice)


def restrict_process(pid: int, cpus: list[int]) -> None:
    """Every live thread of pid; threads and children created later inherit the mask."""
    for tid in tids(pid):
        with contextlib.suppress(ProcessLookupError):  # the thread ended meanwhile
            os.sched_setaffinity(tid, cpus)


@dataclass(frozen=True)
class Placement:
    """Where and how nicely the workers run."""

    cpus: tuple[int, ...]
    pin: str = "none"
    nice: int | None = None

    def worker_cpus(self, worker: int) -> list[int] | None:
        if self.pin == "none":
            return None
        order = pin_order(list(self.cpus), self.pin)
        return [order[worker % len(order)]]

    def apply_worker(self, worker: int, tid_list: list[int]) -> None:
        cpus = self.worker_cpus(worker)
        for tid in tid_list:
            with contextlib.suppress(ProcessLookupError):
                set_thread(tid, cpus, self.nice)
