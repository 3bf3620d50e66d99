"""The parallel ceiling: what N cores give this op when nothing else is in the way.

"The limit at 2 workers is 2.0x" assumes two cores run two copies of the op as fast as one
core runs one. A VM's vCPUs may be hyperthreads of one host core, two copies share the L3
and the memory bandwidth, a turbo clock drops with more busy cores: none of that is the
concurrency model's fault, and none of it can be read off the guest. So it is measured:
``copies`` worker processes (forkserver, each pinned to its own allowed CPU, items mapped from
shared memory, the op prepared) each run the bare op over *every* item of the job; in one
pair, copy 0 runs alone and then all copies run at once (or the other way round). The
ceiling at ``copies`` workers is ``copies x alone / slowest co-run copy``: 2.0 where the two
cores are independent, less where they are not. No pool, no pipe per item, no records:
the same bare loop as the harness-overhead yardstick (``repetition.bare_loop_times_s``).

Light on purpose (the fork server preloads it): the work function, shm and the lifeline.
"""

from __future__ import annotations

import contextlib
import os
import time
from multiprocessing.connection import wait as wait_any
from typing import Any

from cvbench.work import lifeline, shm
from cvbench.work.job import Job
from cvbench.work.own_workers import (
    CONTEXT,
    close_surely,
    ensure_preloaded,
    how_it_ended,
    kill_quietly,
    sigint_held,
)

ensure_preloaded("cvbench.work.corun")


class CoRunError(RuntimeError):
    """A copy failed, died or did not answer in time: no ceiling for this workload."""


def serve(fn: Any, conn: Any, payloads: tuple[Any, ...]) -> None:
    """A copy: prepare, map the items, say ready; then for every ``run``, run the bare op
    over all items and send the loop's ns (or the op's error). Leaves at EOF."""
    lifeline.worker_setup()  # ignore SIGINT, die with the run
    fn.prepare()
    for name in dict.fromkeys(p.name for p in payloads if isinstance(p, shm.ShmRef)):
        shm.premap(name)
    items = [shm.view(p) if isinstance(p, shm.ShmRef) else p for p in payloads]
    now = time.perf_counter_ns
    answer: Any = "ready"
    while True:
        try:  # a parent that has gone (EOF, a broken pipe) ends the copy without a word
            conn.send(answer)
            conn.recv()
        except (EOFError, OSError):
            os._exit(0)
        t0 = now()
        try:
            for i, payload in enumerate(items):
                fn(i, payload)
            answer = now() - t0
        except Exception as exc:  # noqa: BLE001 - sent to the parent, which drops the ceiling
            answer = f"{type(exc).__name__}: {exc}"


class CoRun:
    """``len(cpus)`` copies of one job's bare loop, started before use and ended by close()."""

    def __init__(self, job: Job, cpus: list[int], timeout_s: float) -> None:
        self.job, self.cpus, self.timeout_s = job, cpus, timeout_s
        self.procs: list[Any] = []
        self.conns: list[Any] = []
        self._stack = contextlib.ExitStack()

    def start(self) -> None:
        refs = self._stack.enter_context(shm.shared_items(self.job.payloads))
        for k, cpu in enumerate(self.cpus):
            parent_end, child_end = CONTEXT.Pipe(duplex=True)
            proc = CONTEXT.Process(
                target=serve,
                args=(self.job.fn, child_end, refs),
                name=f"cvbench-corun-{k}",
                daemon=True,
            )
            self.procs.append(proc)
            self.conns.append(parent_end)
            proc.start()
            child_end.close()
            with contextlib.suppress(OSError):  # a CPU id the run was not given: unpinned
                os.sched_setaffinity(proc.pid, {cpu})
        for k in range(len(self.procs)):
            if self._answer(k) != "ready":
                raise CoRunError(f"co-run copy {k} did not start")
        # one untimed loop of every copy at once: a new process's first loop faults its heap
        # in (the zero-copy workers' first item took 264 faults and ~1.6x its time), and the
        # first pair's part that ran first paid it alone
        self._loops(list(range(len(self.procs))))

    def pair(self, alone_first: bool) -> tuple[float, float]:
        """(copy 0 alone, the slowest copy when all ran at once), seconds; one of each, in
        the order given (alternate it, as the bare loop does, so neither always runs on a
        warmer cache)."""
        alone = together = 0.0
        for phase in ("alone", "together") if alone_first else ("together", "alone"):
            times = self._loops([0] if phase == "alone" else list(range(len(self.procs))))
            if phase == "alone":
                alone = times[0] / 1e9
            else:
                together = max(times) / 1e9
        return alone, together

    def _loops(self, ks: list[int]) -> list[int]:
        """Copies ``ks`` each run the bare loop once, at the same time: each one's ns."""
        for k in ks:
            self.conns[k].send("run")
        return [self._answer(k) for k in ks]

    def _answer(self, k: int) -> Any:
        """Copy k's next message; CoRunError if it fails, dies or takes longer than allowed."""
        conn, proc = self.conns[k], self.procs[k]
        if not wait_any([conn, proc.sentinel], self.timeout_s):
            raise CoRunError(f"co-run copy {k} took more than {self.timeout_s:g} s")
        try:
            msg = conn.recv()
        except (EOFError, OSError):
            proc.join(timeout=1.0)
            raise CoRunError(f"co-run copy {k} {how_it_ended(proc.exitcode)}") from None
        if isinstance(msg, str) and msg != "ready":
            raise CoRunError(f"co-run copy {k}: {msg}")
        return msg

    def close(self) -> None:
        """End every copy (EOF, then SIGKILL for one that does not leave) and unlink the
        items' block; SIGINT held back meanwhile."""
        close_surely(self._close)

    def _close(self) -> None:
        with sigint_held():
            for conn in self.conns:
                conn.close()
            for proc in self.procs:
                if proc.pid is None:
                    continue
                proc.join(timeout=1.0)
                if proc.exitcode is None:
                    kill_quietly(proc.pid, 9)
                    proc.join(timeout=5.0)
            self.procs, self.conns = [], []
            self._stack.close()
