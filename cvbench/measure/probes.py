"""The measurement session of one model run: start-up, timed region, kernel counters.

A model calls, in order: place_*() once its workers exist (start-up ends), begin() right before
the first item, end() right after the last. Kernel counters are deltas over [begin, end] for
every thread of this process (getrusage(RUSAGE_SELF) also counts threads that exit) and every
thread of every descendant process (/proc, sampled at both ends).
"""

from __future__ import annotations

import os
import resource
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import psutil

from cvbench.measure import procfs
from cvbench.measure.affinity import Placement
from cvbench.measure.heartbeat import Heartbeat, ThreadHeartbeat


@dataclass
class RegionStats:
    """Kernel-side cost of the timed region, summed over all threads and children."""

    cpu_user_s: float = 0.0
    cpu_sys_s: float = 0.0
    ctx_voluntary: int | None = None
    ctx_involuntary: int | None = None
    migrations: int | None = None
    runqueue_wait_s: float | None = None
    max_rss_mb: float = 0.0
    children: int = 0
    notes: list[str] = field(default_factory=list)
    # the split the cost model needs (issue 21): who paid the CPU, and what it cost in faults
    parent_user_s: float = 0.0  # this process, every thread (getrusage RUSAGE_SELF)
    parent_sys_s: float = 0.0
    parent_faults: int = 0  # minor + major page faults of this process (getrusage)
    workers_user_s: float = 0.0  # the child processes (psutil cpu_times of each)
    workers_sys_s: float = 0.0
    workers_faults: int | None = None  # minflt + majflt of the children (/proc/<pid>/stat)
    worker_threads_run_s: float | None = None  # schedstat run time of the worker threads
    worker_threads_wait_s: float | None = None  # ... and their wait for a core (run queue)
    main_run_s: float | None = None  # schedstat run time of the calling (dispatching) thread


@dataclass
class _Snapshot:
    rusage: resource.struct_rusage
    own: dict[int, procfs.TaskCounters]
    kids: dict[int, dict[int, procfs.TaskCounters]]
    kid_cpu: dict[int, tuple[float, float]]
    kid_faults: dict[int, int] = field(default_factory=dict)


# Processes a model keeps alive between its repetitions (dask's LocalCluster, per worker
# count): idle while other cells run, so they are left out of every other cell's counters.
BACKGROUND: set[int] = set()


def _children(keep: set[int] | frozenset[int] = frozenset()) -> list[psutil.Process]:
    try:
        kids = psutil.Process().children(recursive=True)
    except psutil.Error:
        return []
    return [k for k in kids if k.pid not in BACKGROUND or k.pid in keep]


def _snapshot(
    procfs_ok: bool, keep: set[int] | frozenset[int] = frozenset(), *, closing: bool = False
) -> _Snapshot:
    """This process's and its children's counters. Reading them is the harness's work, not
    the model's: this process's own rusage and threads are read after the children's at the
    region's start and before them at its end, so that no /proc walk falls inside the deltas
    (the end's walk, psutil's scan of every pid, had put ~4 ms of CPU and ~500 page faults
    per repetition on the parent: 0.1 ms per threshold item, which the cost model then
    charged processes+zerocopy's parent as 'moving' items it never touches)."""
    if closing:
        rusage = resource.getrusage(resource.RUSAGE_SELF)
        own = procfs.read_process(os.getpid()) if procfs_ok else {}
    kids, kid_cpu, kid_faults = {}, {}, {}
    for child in _children(keep):
        try:
            times = child.cpu_times()
        except psutil.Error:
            continue
        kid_cpu[child.pid] = (times.user, times.system)
        kids[child.pid] = procfs.read_process(child.pid) if procfs_ok else {}
        faults = procfs.faults(child.pid)
        if faults is not None:
            kid_faults[child.pid] = faults
    if not closing:
        own = procfs.read_process(os.getpid()) if procfs_ok else {}
        rusage = resource.getrusage(resource.RUSAGE_SELF)
    return _Snapshot(rusage, own, kids, kid_cpu, kid_faults)


def _sum_delta(
    after: dict[int, procfs.TaskCounters], before: dict[int, procfs.TaskCounters]
) -> procfs.TaskCounters:
    total = procfs.TaskCounters()
    for tid, now in after.items():
        total = total + (now - before.get(tid, procfs.TaskCounters()))
    return total


class Probes:
    """Created by the runner for each repetition; driven by the model."""

    def __init__(self, placement: Placement, heartbeat_period_ns: int = 1_000_000) -> None:
        self.placement = placement
        self.heartbeat = Heartbeat(heartbeat_period_ns)
        self.procfs_reason = procfs.available()
        self.user_switches: int | None = None  # set by cooperative models
        # model-specific measurements: those with a column go to the row, the rest (a task
        # stream, a schedule) to the run's JSON beside the item records
        self.extra: dict[str, Any] = {}
        self.entered_ns = time.perf_counter_ns()
        self.begun_ns = 0
        self.ended_ns = 0
        self.worker_tids: list[list[int]] = []
        self.worker_pids: list[int] = []  # worker processes: what a watchdog may kill
        self.expired = False  # set by the watchdog when the repetition's deadline passed
        self.expiry_raised = False  # the repetition's thread was told, once (watchdog.py)
        # processes placed and counted but not ours to kill (an existing dask cluster's)
        self.foreign_pids: set[int] = set()
        # what the model was waiting for, for the timeout's line ("while waiting for ...")
        self.expiry_note = ""
        self._worker_of: dict[int, int] = {}
        self._before: _Snapshot | None = None
        self._after: _Snapshot | None = None
        self._hb_thread: ThreadHeartbeat | None = None

    # -- placement ---------------------------------------------------------------------------
    def place_threads(self, tids: list[int]) -> None:
        """Worker i is kernel thread tids[i] of this process."""
        self._place([[t] for t in tids], tids)

    def place_processes(self, pids: list[int]) -> None:
        """Worker i is process pids[i], with all of its threads."""
        self.worker_pids = list(pids)
        self._place([procfs.tids(p) or [p] for p in pids], pids)

    def _place(self, groups: list[list[int]], ids: list[int]) -> None:
        self.worker_tids = groups
        self._worker_of = {ident: i for i, ident in enumerate(ids)}
        for i, group in enumerate(groups):
            self.placement.apply_worker(i, group)

    def probe_cpus(self) -> list[int]:
        """Where the heartbeat thread runs: the run's CPUs that no pinned worker has, or all
        of them. Free to go anywhere, it still woke on the pinned sequential model's CPU
        (34-39 preemptions in a 37 ms threshold repetition, against 0-7 unpinned): the
        kernel wakes a sleeper where it slept."""
        cpus = list(self.placement.cpus)
        taken = {
            c for i in range(len(self.worker_tids)) for c in self.placement.worker_cpus(i) or ()
        }
        return [c for c in cpus if c not in taken] or cpus

    def worker_index(self, tid_or_pid: int) -> int:
        return self._worker_of.get(tid_or_pid, -1)

    # -- timed region ------------------------------------------------------------------------
    def begin(self, thread_heartbeat: bool = False) -> None:
        """Start of the timed region (end of start-up)."""
        self._before = _snapshot(self.procfs_reason is None, frozenset(self.worker_pids))
        if thread_heartbeat:
            self._hb_thread = ThreadHeartbeat(self.heartbeat, self.probe_cpus())
            self._hb_thread.start()
        self.begun_ns = time.perf_counter_ns()

    def end(self) -> None:
        self.ended_ns = time.perf_counter_ns()
        if self._hb_thread is not None:
            self._hb_thread.stop()
        self._after = _snapshot(
            self.procfs_reason is None, frozenset(self.worker_pids), closing=True
        )

    def stop_heartbeat(self) -> None:
        """Stop the heartbeat thread of a repetition that was given up on (its thread stuck
        inside the op never reaches end()): it would wake every period for ever."""
        if self._hb_thread is not None:
            self._hb_thread.stop()
            self._hb_thread = None

    @property
    def counted_pids(self) -> set[int]:
        """The child processes whose counters this region summed."""
        return set(self._after.kids) if self._after is not None else set()

    @property
    def startup_s(self) -> float:
        return (self.begun_ns - self.entered_ns) / 1e9 if self.begun_ns else 0.0

    @property
    def wall_s(self) -> float:
        return (self.ended_ns - self.begun_ns) / 1e9 if self.ended_ns else 0.0

    def stats(self) -> RegionStats:
        """Deltas over the timed region; columns that cannot be read stay None, with a note."""
        b, a = self._before, self._after
        out = RegionStats()
        if b is None or a is None:
            out.notes.append("timed region never completed")
            return out
        out.cpu_user_s = out.parent_user_s = a.rusage.ru_utime - b.rusage.ru_utime
        out.cpu_sys_s = out.parent_sys_s = a.rusage.ru_stime - b.rusage.ru_stime
        out.parent_faults = (a.rusage.ru_minflt + a.rusage.ru_majflt) - (
            b.rusage.ru_minflt + b.rusage.ru_majflt
        )
        if a.kid_faults and set(a.kid_faults) <= set(b.kid_faults):
            out.workers_faults = sum(a.kid_faults[p] - b.kid_faults[p] for p in a.kid_faults)
        vol = a.rusage.ru_nvcsw - b.rusage.ru_nvcsw
        invol = a.rusage.ru_nivcsw - b.rusage.ru_nivcsw
        rss_kb = [a.rusage.ru_maxrss]
        for pid, (user, sys_) in a.kid_cpu.items():
            u0, s0 = b.kid_cpu.get(pid, (0.0, 0.0))
            out.cpu_user_s += user - u0
            out.cpu_sys_s += sys_ - s0
            out.workers_user_s += user - u0
            out.workers_sys_s += sys_ - s0
            rss_kb.append(_hwm_kb(pid))
        out.children = len(a.kid_cpu)
        lost = set(b.kid_cpu) - set(a.kid_cpu)
        if lost:
            out.notes.append(f"{len(lost)} child process(es) exited inside the region: not counted")
        out.max_rss_mb = max(rss_kb) / 1024
        if self.procfs_reason is not None:
            out.notes.append(f"per-thread counters unavailable: {self.procfs_reason}")
            out.ctx_voluntary, out.ctx_involuntary = vol, invol  # rusage still covers this process
            return out
        own = _sum_delta(a.own, b.own)
        _thread_split(self, out, a, b)
        kids = procfs.TaskCounters()
        for pid, threads in a.kids.items():
            kids = kids + _sum_delta(threads, b.kids.get(pid, {}))
        out.ctx_voluntary = vol + kids.voluntary
        out.ctx_involuntary = invol + kids.involuntary
        out.migrations = own.migrations + kids.migrations
        out.runqueue_wait_s = (own.wait_ns + kids.wait_ns) / 1e9
        return out


def _thread_split(probes: Probes, out: RegionStats, a: _Snapshot, b: _Snapshot) -> None:
    """Run and run-queue time of the worker threads (threads of this process, or every thread
    of the worker processes) and of the dispatching thread, from schedstat."""
    main = threading.main_thread().native_id or os.getpid()
    if main in a.own and main in b.own:
        out.main_run_s = (a.own[main].run_ns - b.own[main].run_ns) / 1e9
    tids = {t for group in probes.worker_tids for t in group}
    if not tids:
        return
    run = wait = 0
    if probes.worker_pids:
        for pid in probes.worker_pids:
            d = _sum_delta(a.kids.get(pid, {}), b.kids.get(pid, {}))
            run, wait = run + d.run_ns, wait + d.wait_ns
    else:
        for tid in tids:
            if tid in a.own:
                d = a.own[tid] - b.own.get(tid, procfs.TaskCounters())
                run, wait = run + d.run_ns, wait + d.wait_ns
    out.worker_threads_run_s, out.worker_threads_wait_s = run / 1e9, wait / 1e9


def _hwm_kb(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/status") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def main_tid() -> int:
    return threading.get_native_id()
