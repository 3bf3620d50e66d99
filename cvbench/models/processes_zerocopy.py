"""processes+zerocopy: worker processes whose parent never touches an item.

processes+shm removed the pickling of pixels but still dispatches every item through
ProcessPoolExecutor: a future, a pickled call, a queue feeder thread, a result thread and a
wake-up per item, ~0.2 ms of parent CPU per ~1 ms item on a machine with 2 cores, where that
CPU is what the second worker needed (0.97-1.24x at 2 workers on threshold). Here:

- items are placed once in shared memory (cvbench.work.shm, as processes+shm, timed as
  placement_s outside the region); each worker maps the block with its page tables filled;
- the hand-out is a counter in a second shared block (the control block) that workers claim
  from under one multiprocessing Lock: no message per item, and a faster worker simply claims
  more (a stream's item is waited for by the worker that claimed it, until its arrival);
- each worker writes its item's record (claim, start and end ns, tid, detail, digest) into
  that item's slot of the control block; the parent reads them all once, at the end;
- workers (forkserver children, one per worker; cvbench.work.zerocopy) are started, placed
  (pinned/niced per --pin/--nice), prepared and armed (polling the go word) before the timed
  region; the region is the parent storing its start in that word and sleeping in select()
  until each says ``done``. Once a worker is done its CPU is free, and while fewer workers
  are left than the parent may use CPUs, the parent polls instead of sleeping (at most
  ``TAIL_POLL_S``): a select() woken by the last ``done`` returned 100-250 µs after that
  worker's last item, ~1 % of a 20 ms 2-worker repetition.

Failure: a worker that dies (a fault, the watchdog's SIGKILL, a crash) closes its pipe and
its sentinel fires: the parent raises WorkerDied naming it, and the repetition fails. A
stopped worker never says done: the runner's watchdog kills it (its pid is placed in the
probes, and it is a new descendant anyway). Every worker is continued and killed in a
finally (SIGINT held back meanwhile); both blocks are unlinked after that, also on
Ctrl-C; a SIGKILLed parent leaves them to the resource tracker (as processes+shm) and its
workers to their lifeline (cvbench.work.lifeline).
"""

from __future__ import annotations

import os
import signal
import time
from multiprocessing.connection import wait as wait_any
from typing import Any

from cvbench.measure.probes import Probes
from cvbench.models.base import ItemRecord, Model
from cvbench.models.processes import CONTEXT
from cvbench.work import shm, zerocopy
from cvbench.work.job import Job
from cvbench.work.own_workers import (
    close_surely,
    ensure_preloaded,
    how_it_ended,
    kill_quietly,
    sigint_held,
)

START_TIMEOUT_S = 120.0
TAIL_POLL_S = 0.05  # the most the parent polls (on a CPU a done worker freed) per repetition,
# from the first done on: a region of any length gets its tail polled

# One fork server per parent, shared with the other process models: the worker module joins
# what it preloads (no effect once it runs: workers import it then).
ensure_preloaded("cvbench.work.zerocopy")


class WorkerDied(RuntimeError):
    """A worker ended without saying done: it exited or was killed (the message says how)."""


class ProcessesZerocopy(Model):
    name = "processes+zerocopy"
    summary = (
        "N worker processes (forkserver) claim items from a counter in shared memory and write "
        "records there; items in shared memory; the parent only starts and waits"
    )
    runs_on = "worker processes; items, hand-out and records in shared memory"

    def run(self, job: Job, workers: int, probes: Probes) -> list[ItemRecord]:
        t0 = time.perf_counter()
        with (
            shm.shared_items(job.payloads) as refs,
            shm.shared_block(zerocopy.control_bytes(job.items)) as control,
        ):
            probes.extra["placement_s"] = time.perf_counter() - t0
            crew = _Crew(job, refs, control.name, workers)
            try:
                crew.start()
                probes.place_processes(crew.pids)
                crew.arm()
                probes.begin(thread_heartbeat=True)
                zerocopy.say_go(control.buf, probes.begun_ns)
                crew.wait()
                probes.end()
                records = zerocopy.records_view(control.buf, job.items).copy()
            finally:
                crew.close()
            return _item_records(job, records, probes)


def _item_records(job: Job, records: Any, probes: Probes) -> list[ItemRecord]:
    t0 = probes.begun_ns
    out = []
    for i, r in enumerate(records.tolist()):
        worker, _tid, claimed, started, finished, detail, io, released, digest = r
        arrival = t0 + job.arrival_ns(i)
        out.append(
            ItemRecord(
                i,
                worker,
                arrival,
                max(claimed, arrival),  # handed over: claimed, and arrived (a stream's item)
                started,
                finished,
                digest.decode("ascii"),
                detail,
                io,
                released,
            )
        )
    return out


class _Crew:
    """The worker processes of one repetition and the parent's ends of their pipes."""

    def __init__(self, job: Job, refs: tuple[Any, ...], control: str, workers: int) -> None:
        if workers < 1:
            raise ValueError("processes+zerocopy needs at least one worker")
        self.job, self.refs, self.control, self.n = job, refs, control, workers
        self.procs: list[Any] = []
        self.conns: list[Any] = []
        self.pids: list[int] = []
        self.finished = False

    def start(self) -> None:
        """Start every worker and wait until each has prepared and mapped (untimed)."""
        lock = CONTEXT.Lock()
        for i in range(self.n):
            parent_end, child_end = CONTEXT.Pipe(duplex=True)
            proc = CONTEXT.Process(
                target=zerocopy.serve,
                args=(
                    self.job.fn, i, child_end, lock, self.control, self.refs,
                    self.job.arrivals_ns,
                ),
                name=f"cvbench-zerocopy-{i}",
                daemon=True,
            )  # fmt: skip
            self.procs.append(proc)
            self.conns.append(parent_end)
            proc.start()
            child_end.close()
        deadline = time.monotonic() + START_TIMEOUT_S
        for i, conn in enumerate(self.conns):
            left = deadline - time.monotonic()
            if left <= 0 or not wait_any([conn, self.procs[i].sentinel], left):
                raise WorkerDied(f"processes+zerocopy worker {i} never became ready")
            msg = self._recv(i)
            if msg[0] == "error":  # the op failed in the worker's warm-up call
                raise RuntimeError(f"item {msg[1]}: {msg[2]}")
            if msg[0] != "ready":
                raise WorkerDied(f"processes+zerocopy worker {i} said {msg!r} at start-up")
        self.pids = [p.pid for p in self.procs]

    def arm(self) -> None:
        """Make every worker poll the go word, and wait until each says so (untimed)."""
        for i, conn in enumerate(self.conns):
            try:
                conn.send(("set",))
            except OSError:  # it died after saying ready
                raise self._died(i) from None
        for i, conn in enumerate(self.conns):
            if not wait_any([conn, self.procs[i].sentinel], START_TIMEOUT_S):
                raise WorkerDied(f"processes+zerocopy worker {i} never armed")
            msg = self._recv(i)
            if msg[0] != "armed":
                raise WorkerDied(f"processes+zerocopy worker {i} said {msg!r} when set")

    def wait(self) -> None:
        """Sleep until every worker has said done (polling once fewer are left than CPUs the
        parent may use); raise as soon as one fails or dies."""
        pending = dict(enumerate(self.conns))
        cpus = len(os.sched_getaffinity(0))
        poll_until: float | None = None  # TAIL_POLL_S from the first done that freed a CPU
        while pending:
            watched = {c: i for i, c in pending.items()}
            watched |= {self.procs[i].sentinel: i for i in pending}
            if poll_until is None and len(pending) < min(cpus, self.n):  # a CPU is free now
                poll_until = time.perf_counter() + TAIL_POLL_S
            polling = poll_until is not None and time.perf_counter() < poll_until
            ready_now = wait_any(list(watched), 0 if polling else None)
            if not ready_now:
                os.sched_yield()  # a worker sharing this CPU gets it back at once
                continue
            for ready in ready_now:
                i = watched[ready]
                if i not in pending:
                    continue  # its conn and sentinel were both ready: already handled
                msg = self._recv(i) if ready is self.conns[i] or self.conns[i].poll() else None
                if msg is None:
                    raise self._died(i)
                if msg[0] == "error":
                    raise RuntimeError(f"item {msg[1]}: {msg[2]}")
                del pending[i]
        self.finished = True

    def _recv(self, i: int) -> Any:
        try:
            return self.conns[i].recv()
        except (EOFError, OSError):
            raise self._died(i) from None

    def _died(self, i: int) -> WorkerDied:
        proc = self.procs[i]
        proc.join(timeout=1.0)
        how = how_it_ended(proc.exitcode)
        return WorkerDied(f"processes+zerocopy worker {i} (pid {proc.pid}) {how}")

    def close(self) -> None:
        """End every worker: after a clean run they leave when their pipe closes; otherwise
        continue and kill them. SIGINT is held back meanwhile, so that a second Ctrl-C
        cannot leave one behind."""
        close_surely(self._close)

    def _close(self) -> None:
        with sigint_held():
            for conn in self.conns:
                conn.close()  # EOF: a worker waiting for go, or done, leaves
            if not self.finished:
                for proc in self.procs:
                    if proc.pid is not None:
                        # a stopped process must be able to die
                        kill_quietly(proc.pid, signal.SIGCONT)
                        kill_quietly(proc.pid, signal.SIGKILL)
            deadline = time.monotonic() + 5.0
            for proc in self.procs:
                if proc.pid is None:
                    continue
                proc.join(timeout=max(0.0, deadline - time.monotonic()))
                if proc.is_alive():
                    kill_quietly(proc.pid, signal.SIGCONT)
                    proc.kill()
                    proc.join(timeout=5.0)
