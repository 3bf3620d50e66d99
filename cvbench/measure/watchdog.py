"""A repetition that stops making progress fails its row instead of hanging the run.

Round one waited forever on a SIGSTOPped pool worker and then wrote the 90 s repetition as
ok. Here every repetition runs under a deadline (--item-timeout, default derived from the
cell's own warm-up). When it passes, the processes the repetition started (its pool's
workers, found as new descendants even before the model placed them) are continued and killed
(the pool then fails the repetition, whose row names the timeout) and the run goes on. Threads
cannot be killed: a hung in-process model is interrupted in the main thread instead, which
works while the main thread waits and cannot free a thread stuck inside a C call.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
from collections.abc import Iterator

import psutil

from cvbench.measure.probes import Probes

FLOOR_S = 30.0  # never less: a shared CI machine can stall a healthy repetition for seconds
FACTOR = 20.0  # x the cell's last repetition (warm-up included)
FIRST_S = 120.0  # the first repetition of a workload, with nothing to go by yet


class RepetitionTimeout(Exception):
    """Raised in the main thread when an in-process model overruns its deadline."""


def deadline_s(last_cost_s: float, fixed_s: float | None, known_s: float = 0.0) -> float:
    """--item-timeout if given, else FACTOR x the cell's last repetition, at least FLOOR_S.

    A cell's first repetition (its warm-up) goes by the costliest repetition of its workload
    so far (another model on the same items); the workload's very first one gets FIRST_S.
    """
    if fixed_s is not None:
        return fixed_s
    basis = last_cost_s if last_cost_s > 0 else known_s
    if basis <= 0:
        return FIRST_S
    return max(FLOOR_S, FACTOR * basis)


class Watchdog:
    """Arms a timer for one repetition; on expiry stops the workers the probes placed."""

    def __init__(self, probes: Probes, limit_s: float) -> None:
        self.probes, self.limit_s = probes, limit_s
        self.fired = False
        self.killed = False
        self._timer = threading.Timer(limit_s, self._expire)
        self._timer.daemon = True
        self._main = threading.main_thread().ident
        self._can_interrupt = False  # only where our SIGUSR1 handler is installed
        self._before = self._descendants()

    @staticmethod
    def _descendants() -> set[int]:
        try:
            return {p.pid for p in psutil.Process().children(recursive=True)}
        except psutil.Error:
            return set()

    def _new_descendants(self) -> list[int]:
        """Processes this repetition started (its pool's workers, a cluster's nannies), not
        the long-lived forkserver and resource tracker that were there before it."""
        return sorted(self._descendants() - self._before)

    def _expire(self) -> None:
        self.fired = True
        self.probes.expired = True  # pool waits poll it: the way out without a signal
        pids = list(dict.fromkeys([*self.probes.worker_pids, *self._new_descendants()]))
        pids = [p for p in pids if p not in self.probes.foreign_pids]
        self.killed = bool(pids)
        for pid in pids:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGCONT)  # a stopped process must be able to die
                os.kill(pid, signal.SIGKILL)
        if not pids and self._main is not None and self._can_interrupt:
            # never a signal to a thread without our handler: the default action of SIGUSR1
            # would end the caller's whole program (cvbench.run() called from a thread)
            signal.pthread_kill(self._main, signal.SIGUSR1)

    @property
    def reason(self) -> str:
        head = f"no progress for {self.limit_s:g} s (--item-timeout)"
        note = getattr(self.probes, "expiry_note", "")
        if note:  # the model said what it was waiting for (an existing dask cluster)
            return f"{head} {note}"
        what = "workers killed" if self.killed else "repetition stopped, a stuck thread abandoned"
        return f"{head}: {what}"

    @contextlib.contextmanager
    def armed(self) -> Iterator[Watchdog]:
        previous = signal.getsignal(signal.SIGUSR1)

        def interrupt(signum: int, frame: object) -> None:
            raise RepetitionTimeout(self.reason)

        in_main = threading.current_thread() is threading.main_thread()
        if in_main:
            signal.signal(signal.SIGUSR1, interrupt)
            self._can_interrupt = True
        self._timer.start()
        try:
            yield self
        finally:
            self._timer.cancel()
            if in_main:
                self._can_interrupt = False
                signal.signal(signal.SIGUSR1, previous)
