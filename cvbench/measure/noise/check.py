"""The shape of every noise probe: a ``Check``, and the small readers the probes share.

A probe never raises: a file that cannot be read becomes "unknown (why)" (``unknown``), and a
probe that fails in a way nobody foresaw still gives a line (``safe``).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

Status = Literal["ok", "warn", "info"]


@dataclass(frozen=True)
class Check:
    """One line of the doctor: what was read, what it means and what to do about it."""

    status: Status
    value: Any  # the reading (a number, a list, a string); None when unknown
    message: str
    advice: str = ""

    def line(self, label: str) -> str:
        advice = f" → {self.advice}" if self.advice else ""
        return f"{self.status:<4}  {label:<15} {self.message}{advice}"


def unknown(why: str) -> Check:
    return Check("info", None, f"unknown ({why})")


def read(path: str | Path) -> tuple[str | None, str]:
    """(text, "") or (None, why it could not be read)."""
    try:
        return Path(path).read_text().strip(), ""
    except FileNotFoundError:
        return None, f"no {path}"
    except OSError as exc:
        return None, f"{path}: {exc.strerror or exc}"


def cpu_list(text: str) -> list[int]:
    """The kernel's CPU list format: '0-3,8' -> [0, 1, 2, 3, 8]; '' -> []."""
    cpus: list[int] = []
    for part in text.strip().split(","):
        if part:
            lo, _, hi = part.partition("-")
            cpus += range(int(lo), int(hi or lo) + 1)
    return cpus


def fmt_cpus(cpus: list[int]) -> str:
    """[0, 1, 2, 5] -> '0-2,5'."""
    runs: list[list[int]] = []
    for c in sorted(cpus):
        if runs and c == runs[-1][-1] + 1:
            runs[-1].append(c)
        else:
            runs.append([c])
    return ",".join(f"{r[0]}-{r[-1]}" if len(r) > 1 else str(r[0]) for r in runs)


def allowed_cpus() -> list[int]:
    return sorted(os.sched_getaffinity(0))


def safe(name: str, probe: Callable[[], Check]) -> Check:
    """A probe that fails in a way nobody foresaw still gives a line, never a crash."""
    try:
        return probe()
    except Exception as exc:  # noqa: BLE001 - the doctor must always answer
        return unknown(f"{name} probe failed: {type(exc).__name__}: {exc}")


#: check key -> label the doctor prints, in print order.
LABELS: dict[str, str] = {
    "steal": "steal",
    "load": "load",
    "busy_processes": "busy processes",
    "speed": "CPU speed",
    "cpu_pressure": "CPU pressure",
    "cgroup_quota": "cgroup quota",
    "governor": "governor",
    "turbo": "turbo/boost",
    "smt": "SMT siblings",
    "hz": "HZ",
    "autogroup": "autogroup",
    "isolated_cpus": "isolated CPUs",
    "allowed_cpus": "allowed CPUs",
}


def as_json(checks: dict[str, Check]) -> dict[str, dict[str, Any]]:
    return {k: asdict(checks[k]) for k in LABELS if k in checks}
