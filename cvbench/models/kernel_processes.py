"""kernel-proc: N worker processes preempted by SIGSTOP/SIGCONT under an emulated Linux policy.

The answer to the ``kernel`` model's lesson: a greenlet cannot be preempted inside a cv2
call, a process can.  The parent is the kernel: the same policy objects as ``cvbench
simulate`` and the ``kernel`` model (eevdf by default, Linux nice weights, CONFIG_HZ tick)
decide which M of the N workers hold an emulated CPU, and ``ProcKernel`` enforces it with
signals.  A worker with an item is runnable, a worker waiting for one sleeps, so the policy
sees real wake-ups.  The heartbeat runs in the parent's scheduler loop, the loop that also
does the tick: its lag is the emulated kernel's responsiveness, not one cv2 call.

Options (constructor arguments, as the ``kernel`` model takes its policy): ``policy``,
``cpus`` (M, default: every core this process may use), ``nices`` (emulated nice values given
to the workers in turn), ``slice_ns`` and ``hz``.  Bad values raise ValueError with one line.
Payloads travel per item through each worker's pipe, as a process pool pickles them.
"""

from __future__ import annotations

import os
import select
import time
from collections import deque
from collections.abc import Sequence
from typing import Any

from cvbench.emulated_kernel.live.processes import ProcKernel, ProcTask
from cvbench.emulated_kernel.live.worker_pool import WorkerPool
from cvbench.emulated_kernel.policies import DEFAULT_HZ, make_policy, nice_to_weight
from cvbench.measure.kernel_config import kernel_hz
from cvbench.measure.probes import Probes
from cvbench.models.base import ItemRecord, Model
from cvbench.work.job import Job

_now = time.perf_counter_ns


class KernelProc(Model):
    name = "kernel-proc"
    summary = (
        "N worker processes stopped and continued (SIGSTOP/SIGCONT) by an emulated Linux "
        "policy in the parent; M emulated CPUs"
    )
    policy = "eevdf"

    def __init__(
        self,
        policy: str | None = None,
        *,
        cpus: int | None = None,
        nices: Sequence[int] = (),
        slice_ns: int | None = None,
        hz: int | None = None,
    ) -> None:
        if policy is not None:
            self.policy = policy.lower()
        self.hz = hz or kernel_hz() or DEFAULT_HZ
        self.slice_ns = slice_ns
        try:
            make_policy(self.policy, 1, slice_ns=slice_ns, hz=self.hz)
            for n in nices:
                nice_to_weight(n)
        except ValueError as e:
            raise ValueError(f"kernel-proc: {e}") from None
        self.cpus = cpus
        self.nices = tuple(nices)
        emulated_cpus(cpus)  # fail before the run, not in the middle of it
        #: the last run's kernel counters (ProcStats.to_dict()) and worker pids
        self.last_stats: dict[str, Any] = {}
        self.last_pids: list[int] = []

    def nice_of(self, worker: int) -> int:
        """Emulated nice of a worker: ``nices`` in turn (0 when none were given)."""
        return self.nices[worker % len(self.nices)] if self.nices else 0

    def run(self, job: Job, workers: int, probes: Probes) -> list[ItemRecord]:
        m = emulated_cpus(self.cpus)  # again: the runner may have narrowed the affinity
        kernel = ProcKernel(self.policy, m, slice_ns=self.slice_ns, hz=self.hz)
        self.last_stats, self.last_pids = {}, []
        pool = WorkerPool(job.fn, workers)
        try:
            self.last_pids = pool.pids
            probes.place_processes(pool.pids)
            tasks = [kernel.add(pid, self.nice_of(i)) for i, pid in enumerate(pool.pids)]
            records = _ItemLoop(job, pool, kernel, tasks, probes).run()
            self.last_stats = kernel.stats.to_dict()
            return records
        finally:
            pool.close()  # continues every worker, then ends it, also on Ctrl-C and errors


def emulated_cpus(cpus: int | None) -> int:
    """M: the emulated CPUs asked for, checked against the cores this process may use."""
    allowed = sorted(os.sched_getaffinity(0))
    if cpus is None:
        return len(allowed)
    if cpus < 1:
        raise ValueError(f"kernel-proc: emulated CPUs must be >= 1, got {cpus}")
    if cpus > len(allowed):
        raise ValueError(
            f"kernel-proc: {cpus} emulated CPUs but this process may use only "
            f"{len(allowed)} core(s) {allowed}"
        )
    return cpus


class _ItemLoop:
    """The timed region: the scheduler loop of the parent (items, results, tick, heartbeat)."""

    def __init__(
        self, job: Job, pool: WorkerPool, kernel: ProcKernel, tasks: list[ProcTask], probes: Probes
    ) -> None:
        self.job, self.pool, self.kernel, self.tasks, self.probes = job, pool, kernel, tasks, probes
        self.records: list[ItemRecord] = []
        self.idle: deque[int] = deque(range(len(tasks)))  # workers waiting for an item
        self.backlog: deque[int] = deque()  # items that arrived and wait for a worker
        self.stamps: dict[int, tuple[int, int]] = {}  # item -> (arrival, submitted)

    def run(self) -> list[ItemRecord]:
        job, pool, kernel, probes = self.job, self.pool, self.kernel, self.probes
        hb = probes.heartbeat
        n = job.items
        probes.begin()
        t0 = probes.begun_ns
        hb_due = self._arm_heartbeat() if hb.enabled else None
        arrived = 0
        while len(self.records) < n:
            now = _now()
            if hb_due is not None and now >= hb_due:
                hb.beat()
                hb_due = self._arm_heartbeat()
            while arrived < n and t0 + job.arrival_ns(arrived) <= now:
                self.backlog.append(arrived)
                arrived += 1
            handed = self._wake_for_arrived(now)
            check = kernel.poll(now)
            kernel.commit()  # signals first: a worker not dispatched is stopped before its item
            for w, i in handed:  # reaches it (it waits in read(), so it cannot start early)
                self.stamps[i] = (t0 + job.arrival_ns(i), _now())
                pool.send(pool.workers[w], ("item", i, job.payloads[i]))
            due = [t for t in (check, hb_due) if t is not None]
            if arrived < n:
                due.append(t0 + job.arrival_ns(arrived))
            timeout = max(0, min(due) - _now()) / 1e9 if due else None
            readable, writable, _ = select.select(pool.readers(), pool.writers(), [], timeout)
            for fd in writable:
                pool.flush(pool.worker_of_cmd(fd))
            if readable:
                self._collect(readable, _now())
        self._end(_now())
        return self.records

    def _arm_heartbeat(self) -> int:
        hb = self.probes.heartbeat
        hb.arm()
        return _now() + hb.period_ns

    def _wake_for_arrived(self, now: int) -> list[tuple[int, int]]:
        """Pair arrived items with waiting workers and wake those (the policy places each
        wake-up); returns the (worker, item) pairs, to be written after the signals."""
        pairs = []
        while self.backlog and self.idle:
            i, w = self.backlog.popleft(), self.idle.popleft()
            self.kernel.wake(self.tasks[w], now)
            pairs.append((w, i))
        return pairs

    def _collect(self, fds: list[int], now: int) -> None:
        """Answers: record the item; its worker blocks (it waits for the next one)."""
        for fd in fds:
            w = self.pool.by_fd(fd)
            for msg in self.pool.read(w):
                if msg[0] == "error":
                    raise RuntimeError(f"kernel-proc worker {w.index}, item {msg[1]}: {msg[2]}")
                result = msg[1]
                arrival, submitted = self.stamps.pop(result.index)
                self.records.append(ItemRecord.of(result, w.index, arrival, submitted))
                self.kernel.block(self.tasks[w.index], now)
                self.idle.append(w.index)

    def _end(self, now: int) -> None:
        """The last answer is in: close the region and leave the counters in the probes."""
        probes, kernel = self.probes, self.kernel
        probes.end()
        stats = kernel.finish(now)
        probes.user_switches = stats.dispatches
        probes.extra["preemptions"] = stats.preemptions
        probes.extra["schedule"] = compact_schedule(kernel, probes.begun_ns)


def compact_schedule(kernel: ProcKernel, t0: int) -> dict[str, Any]:
    """The kernel's log for a Gantt chart: times in us since the timed start, worker index,
    emulated CPU, event (W wake-up, D dispatch, P preempted, S blocked)."""
    log = kernel.log or []
    return {
        "policy": kernel.policy.name,
        "cpus": kernel.ncpus,
        "hz": kernel.policy.hz,
        "fields": ["t_us", "worker", "cpu", "event"],
        "events": [[(t - t0) // 1000, w, c, e] for t, w, c, e in log],
    }
