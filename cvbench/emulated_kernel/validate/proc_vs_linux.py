"""``cvbench validate --real-work``: the process kernel against Linux, both on real cv2 work.

``sim_vs_linux.py`` checks the *simulator* with spin loops.  This checks the *live* process kernel
(``live/processes.py``, the ``kernel-proc`` model) where it matters: workers inside long cv2 calls
(Haar detection, ~40 ms a call, ten ticks), which only a kernel that stops processes can
preempt.  The same two (or more) workers spin on the same frame, pinned to ONE core, under:

* ``linux``: real nice values (``os.setpriority`` on every thread) and Linux's scheduler.  The
  workers are children of the one fork server, so they share an autogroup (nice only weighs
  tasks inside one autogroup/cgroup);
* ``kernel-proc <policy>``: Linux nice 0 for all, one emulated CPU (M = 1) whose policy has
  the nice values, enforced with SIGSTOP/SIGCONT from this process.

CPU shares, timeslices and run-queue waits come from ``/proc/<pid>/task/*/schedstat`` over a
window after a settling time, as in ``sim_vs_linux.py``; kernel-proc rows also give the emulated
kernel's own view (its dispatches and the time a worker sat stopped in its run queue).
"""

from __future__ import annotations

import contextlib
import os
import select
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from ..live.processes import ProcKernel
from ..live.worker_pool import WorkerPool
from ..policies import nice_to_weight
from .sim_vs_linux import (
    ValidateError,
    kernel_hz,
    kernel_policy,
    kernel_slice_ns,
    unsupported_reason,
)

SETTLE_S = 0.3
NICES = (0, 5)


def read_schedstat(pid: int) -> tuple[int, int, int]:
    """(on-CPU ns, run-queue wait ns, timeslices) summed over every thread of a process."""
    run = wait = slices = 0
    for tid in _tids(pid):
        with contextlib.suppress(OSError, ValueError):
            with open(f"/proc/{pid}/task/{tid}/schedstat") as f:
                r, w, s = f.read().split()[:3]
            run, wait, slices = run + int(r), wait + int(w), slices + int(s)
    return run, wait, slices


def _tids(pid: int) -> list[int]:
    try:
        return [int(t) for t in os.listdir(f"/proc/{pid}/task")]
    except OSError:
        return []


def _pin(pid: int, cpu: int, nice: int | None) -> None:
    """Every thread of ``pid`` on ``cpu`` (and at ``nice``): affinity and nice are per thread."""
    for tid in _tids(pid):
        with contextlib.suppress(ProcessLookupError):
            os.sched_setaffinity(tid, {cpu})
            if nice is not None:
                os.setpriority(os.PRIO_PROCESS, tid, nice)


@contextlib.contextmanager
def real_work() -> Iterator[tuple[Any, Any]]:
    """The work function and one payload: Haar detection on a quick ``faces`` frame."""
    from cvbench.workloads import load_spec
    from cvbench.workloads.sources import JobOptions, build_job

    with build_job(load_spec("faces"), JobOptions(preset="quick")) as job:
        yield job.fn, job.payloads[0]


@dataclass
class Sample:
    """One worker over the window: Linux's schedstat, and the emulated kernel's view."""

    run_ns: int
    wait_ns: int
    slices: int
    emulated_dispatches: int | None = None
    emulated_wait_ns: int | None = None


def _window(
    pids: Sequence[int], seconds: float, tick: Callable[[float], None], kernel: ProcKernel | None
) -> list[Sample]:
    """Settle, then read every worker at both ends of the window; ``tick(until)`` keeps the
    scheduler (if any) running while we wait."""
    t_settle = time.monotonic() + SETTLE_S
    tick(t_settle)

    def snap() -> list[Sample]:
        out = [Sample(*read_schedstat(p)) for p in pids]
        if kernel is not None:
            kernel.finish(time.perf_counter_ns())
            for s, t in zip(out, kernel.tasks, strict=True):
                s.emulated_dispatches, s.emulated_wait_ns = t.dispatches, t.wait_ns
        return out

    before = snap()
    tick(time.monotonic() + seconds)
    after = snap()
    return [
        Sample(
            a.run_ns - b.run_ns,
            a.wait_ns - b.wait_ns,
            a.slices - b.slices,
            None if kernel is None else a.emulated_dispatches - b.emulated_dispatches,
            None if kernel is None else a.emulated_wait_ns - b.emulated_wait_ns,
        )
        for a, b in zip(after, before, strict=True)
    ]


def measure_linux(nices: Sequence[int], cpu: int, seconds: float) -> list[Sample]:
    """Linux alone: real nice values, one core, no signals."""
    base = os.getpriority(os.PRIO_PROCESS, 0)
    with real_work() as (fn, payload):
        pool = WorkerPool(fn, len(nices))
        try:
            for pid, nice in zip(pool.pids, nices, strict=True):
                _pin(pid, cpu, base + nice)
            for w in pool.workers:
                pool.send(w, ("spin", payload))
            return _window(pool.pids, seconds, lambda until: _sleep_watching(pool, until), None)
        finally:
            pool.close()


def measure_kernel_proc(
    nices: Sequence[int], cpu: int, seconds: float, policy: str, *, hz: int, slice_ns: int | None
) -> list[Sample]:
    """The process kernel: one emulated CPU with the nice values, on one real core."""
    with real_work() as (fn, payload):
        pool = WorkerPool(fn, len(nices))
        try:
            kernel = ProcKernel(policy, 1, slice_ns=slice_ns, hz=hz, log=False)
            tasks = []
            for pid, nice in zip(pool.pids, nices, strict=True):
                _pin(pid, cpu, None)
                tasks.append(kernel.add(pid, nice))
            now = time.perf_counter_ns()
            for w, task in zip(pool.workers, tasks, strict=True):
                pool.send(w, ("spin", payload))
                kernel.wake(task, now)
            kernel.commit()
            return _window(pool.pids, seconds, lambda until: _drive(kernel, pool, until), kernel)
        finally:
            pool.close()


def _drive(kernel: ProcKernel, pool: WorkerPool, until: float) -> None:
    """The scheduler loop without items: tick until ``until`` (time.monotonic)."""
    end_ns = time.perf_counter_ns() + int((until - time.monotonic()) * 1e9)
    while (now := time.perf_counter_ns()) < end_ns:
        due = kernel.poll(now)
        kernel.commit()
        wake = end_ns if due is None else min(due, end_ns)
        if select.select(pool.readers(), [], [], max(0, wake - time.perf_counter_ns()) / 1e9)[0]:
            for w in pool.workers:
                pool.read(w)  # spinning workers never answer: only a death gets here (raises)


def _sleep_watching(pool: WorkerPool, until: float) -> None:
    """Wait, but notice a worker dying (its pipe closes)."""
    while (left := until - time.monotonic()) > 0:
        if select.select(pool.readers(), [], [], left)[0]:
            for w in pool.workers:
                pool.read(w)


@dataclass
class RealRow:
    mode: str  # "linux" or "kernel-proc <policy>"
    nice: int
    weight: int
    share: float  # % of the measured CPU of all workers
    expected: float  # % by the nice weights
    share_err_pts: float
    slices: int
    wait_ms: float
    emulated_dispatches: int | None
    emulated_wait_ms: float | None


@dataclass
class RealWorkReport:
    seconds: float
    cpu: int
    tolerance: float
    nices: list[int]
    kernel: str
    kernel_policy: str
    hz: int
    slice_ns: int | None
    policies: list[str]
    rows: list[RealRow] = field(default_factory=list)

    @property
    def worst_error(self) -> float:
        return max((abs(r.share_err_pts) for r in self.rows), default=0.0)

    @property
    def ok(self) -> bool:
        return self.worst_error <= self.tolerance

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d.update(ok=self.ok, worst_share_err_pts=self.worst_error, work="faces (quick frame)")
        return d


def _rows(mode: str, nices: Sequence[int], samples: list[Sample]) -> list[RealRow]:
    weights = [nice_to_weight(n) for n in nices]
    total = sum(s.run_ns for s in samples) or 1
    rows = []
    for nice, w, s in zip(nices, weights, samples, strict=True):
        share = s.run_ns / total * 100.0
        expected = w / sum(weights) * 100.0
        rows.append(
            RealRow(
                mode, nice, w, share, expected, share - expected, s.slices, s.wait_ns / 1e6,
                s.emulated_dispatches,
                None if s.emulated_wait_ns is None else s.emulated_wait_ns / 1e6,
            )
        )  # fmt: skip
    return rows


def run_real_work_validation(
    seconds: float = 3.0,
    tolerance: float = 2.0,
    *,
    cpu: int | None = None,
    policies: Sequence[str] = ("cfs", "eevdf"),
    nices: Sequence[int] = NICES,
    progress: Callable[[str], None] | None = None,
) -> RealWorkReport:
    """Linux, then kernel-proc under each policy, on the same cv2 workers; shares vs weights.

    Raises ValidateError when the machine cannot run it, ValueError on bad input.
    """
    reason = unsupported_reason()
    if reason:
        raise ValidateError(reason)
    if seconds <= 0:
        raise ValueError("seconds must be > 0")
    if len(nices) < 2:
        raise ValueError("give at least two nice values")
    for n in nices:
        nice_to_weight(n)
    base = os.getpriority(os.PRIO_PROCESS, 0)
    if base + max(nices) > 19 or min(nices) < 0:
        raise ValidateError(f"this process runs at nice {base}; nice values must stay in 0..19")
    allowed = sorted(os.sched_getaffinity(0))
    if cpu is None:
        cpu = allowed[-1]
    elif cpu not in allowed:
        raise ValueError(f"cpu {cpu} is not in this process's affinity {allowed}")
    hz = kernel_hz()
    slice_ns = kernel_slice_ns()
    say = progress or (lambda _m: None)
    rep = RealWorkReport(
        seconds, cpu, tolerance, list(nices), os.uname().release, kernel_policy(), hz, slice_ns,
        list(policies),
    )  # fmt: skip
    say(f"linux: {len(nices)} cv2 workers at nice {nices} on cpu {cpu} for {seconds:g} s")
    rep.rows += _rows("linux", nices, measure_linux(nices, cpu, seconds))
    for pol in policies:
        say(f"kernel-proc {pol}: the same workers, one emulated CPU, for {seconds:g} s")
        samples = measure_kernel_proc(
            nices, cpu, seconds, pol, hz=hz, slice_ns=slice_ns if pol == "eevdf" else None
        )
        rep.rows += _rows(f"kernel-proc {pol}", nices, samples)
    return rep
