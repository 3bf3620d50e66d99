"""Readers for /proc/<pid>/task/<tid>/{status,sched,schedstat}.

psutil's num_ctx_switches() reads /proc/<pid>/status, the main thread only (psutil #1467), so
per-thread files are read here directly. Every reader returns None when the file is missing
(thread gone, non-Linux, hidepid) instead of raising: a missing column beats a crash.
"""

from __future__ import annotations

import os
from dataclasses import dataclass


@dataclass(frozen=True)
class TaskCounters:
    """Cumulative scheduler counters of one kernel task (thread)."""

    voluntary: int = 0
    involuntary: int = 0
    migrations: int = 0
    run_ns: int = 0
    wait_ns: int = 0
    timeslices: int = 0

    def __sub__(self, other: TaskCounters) -> TaskCounters:
        return TaskCounters(
            *(getattr(self, f) - getattr(other, f) for f in self.__dataclass_fields__)
        )

    def __add__(self, other: TaskCounters) -> TaskCounters:
        return TaskCounters(
            *(getattr(self, f) + getattr(other, f) for f in self.__dataclass_fields__)
        )


def _read(path: str) -> str | None:
    try:
        with open(path) as fh:
            return fh.read()
    except OSError:
        return None


def tids(pid: int) -> list[int]:
    try:
        return sorted(int(t) for t in os.listdir(f"/proc/{pid}/task"))
    except OSError:
        return []


def read_task(pid: int, tid: int) -> TaskCounters | None:
    """Counters of one thread; migrations need CONFIG_SCHED_DEBUG's `sched` file (0 if absent)."""
    base = f"/proc/{pid}/task/{tid}"
    status = _read(f"{base}/status")
    if status is None:
        return None
    fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
    vol = int(fields.get("voluntary_ctxt_switches", "0"))
    invol = int(fields.get("nonvoluntary_ctxt_switches", "0"))
    migrations = 0
    sched = _read(f"{base}/sched")
    if sched:
        for line in sched.splitlines():
            if line.startswith("se.nr_migrations"):
                migrations = int(line.split(":")[1])
                break
    run_ns = wait_ns = slices = 0
    stat = _read(f"{base}/schedstat")
    if stat:
        parts = stat.split()
        run_ns, wait_ns, slices = int(parts[0]), int(parts[1]), int(parts[2])
    return TaskCounters(vol, invol, migrations, run_ns, wait_ns, slices)


def faults(pid: int) -> int | None:
    """Minor + major page faults of a whole process so far (/proc/<pid>/stat fields 10, 12)."""
    text = _read(f"/proc/{pid}/stat")
    if text is None:
        return None
    parts = text[text.rfind(")") + 2 :].split()  # fields from 3 (state) on
    try:
        return int(parts[7]) + int(parts[9])
    except (IndexError, ValueError):
        return None


def read_process(pid: int) -> dict[int, TaskCounters]:
    """Counters of every live thread of a process, keyed by tid."""
    out = {}
    for tid in tids(pid):
        counters = read_task(pid, tid)
        if counters is not None:
            out[tid] = counters
    return out


def available() -> str | None:
    """None when per-thread counters can be read here, else the reason they cannot."""
    pid = os.getpid()
    if read_task(pid, pid) is None:
        return f"/proc/{pid}/task/{pid}/status is not readable (non-Linux or hidepid)"
    if _read(f"/proc/{pid}/task/{pid}/schedstat") is None:
        return "schedstat not readable (kernel without CONFIG_SCHEDSTATS)"
    return None
