"""A repetition that stops making progress fails its row instead of hanging the run.

Round one waited forever on a SIGSTOPped pool worker and then wrote the 90 s repetition as
ok. Here every repetition runs under a deadline (--item-timeout, default derived from the
cell's own warm-up). When it passes, the processes the repetition started (its pool's
workers, found as new descendants even before the model placed them) are continued and killed
(the pool then fails the repetition, whose row names the timeout) and the run goes on. Threads
cannot be killed: a hung in-process model is interrupted in the main thread instead, which
works while the main thread waits and cannot free a thread stuck inside a C call.

When the repetition's own thread is stuck (an inline op deadlocked in a C call runs no
bytecode: no handler, no exception, ever), the watchdog's thread notices (its Python position
does not move for GRACE_S after the deadline or after a stop signal it cannot handle,
measure/stop_notice.py) and calls ``on_stuck``: the runner fails the row, the session writes
the files and, in cvbench's own process, ends it (work/hard_exit.py). Should the thread ever
come back, it raises RepetitionAbandoned instead of measuring on.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator

import psutil

from cvbench.measure.probes import Probes
from cvbench.measure.stop_notice import StopNotice

FLOOR_S = 30.0  # never less: a shared CI machine can stall a healthy repetition for seconds
FACTOR = 20.0  # x the cell's last repetition (warm-up included)
FIRST_S = 120.0  # the first repetition of a workload, with nothing to go by yet
TICK_S = 0.25  # how often the watchdog looks (the deadline itself is met to the millisecond)
GRACE_S = 5.0  # no bytecode run this long after the deadline or a stop signal: stuck in C
ABANDON_S = 30.0  # however it looks (an op that swallows the interrupt and runs on), given up


class RepetitionTimeout(Exception):
    """Raised in the main thread when an in-process model overruns its deadline."""


def deadline_s(
    last_cost_s: float, fixed_s: float | None, known_s: float = 0.0, estimate_s: float = 0.0
) -> float:
    """--item-timeout if given, else FACTOR x the cell's last repetition, at least FLOOR_S.

    A cell's first repetition (its warm-up) goes by the costliest repetition of its workload
    so far (another model on the same items); the workload's very first one gets FIRST_S, or
    FACTOR x ``estimate_s`` (one item timed beforehand x the items) when that is longer: a
    fixed 120 s failed every row of an hour of video while its frames were being processed.
    """
    if fixed_s is not None:
        return fixed_s
    basis = last_cost_s if last_cost_s > 0 else known_s
    if basis <= 0:
        return max(FIRST_S, FACTOR * estimate_s)
    return max(FLOOR_S, FACTOR * basis)


def deadline_passed(probes: object) -> bool:
    """Whether the watchdog has expired the repetition (``probes.expired``), for a wait that
    polls it; noted on the probes, so that the interrupt the watchdog also sends (for waits
    that do not poll) does not raise a second time. A second raise had landed outside the
    model's run, while the first unwound: the run ended with no row at all."""
    if probes is None or not getattr(probes, "expired", False):
        return False
    probes.expiry_raised = True
    return True


class RepetitionAbandoned(BaseException):
    """Raised in a thread that comes back from an op after the run had given up on it (the
    results were already written without it): it must not go on measuring."""


class Watchdog:
    """Watches one repetition from its own thread: on expiry stops the workers the probes
    placed (or interrupts the main thread); when the repetition's thread then shows no sign
    of life (stuck inside a C call), or a stop signal it cannot handle arrives, hands over to
    ``on_stuck``."""

    def __init__(self, probes: Probes, limit_s: float) -> None:
        self.probes, self.limit_s = probes, limit_s
        self.fired = False
        self.killed = False
        self.abandoned = False  # on_stuck was called: the run went on without this thread
        #: called once, from the watchdog's thread, with the signal number of a stop that the
        #: stuck thread could not handle, or None for the deadline; may end the process
        self.on_stuck: Callable[[int | None], None] | None = None
        self._main = threading.main_thread().ident
        self._can_interrupt = False  # only where our SIGUSR1 handler is installed
        self._before = self._descendants()
        self._done = threading.Event()
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._watch, name="cvbench-watchdog", daemon=True)
        self._runner: int | None = None  # the thread running the repetition
        self._stops = StopNotice()

    @staticmethod
    def _descendants() -> set[int]:
        try:
            return {p.pid for p in psutil.Process().children(recursive=True)}
        except psutil.Error:
            return set()

    def _new_descendants(self) -> list[int]:
        """Processes this repetition started (its pool's workers, a cluster's nannies), not
        the long-lived fork server and resource tracker, even when this repetition was the
        first to need them: killing the fork server makes every worker it forked read as
        "exited with code 255", and the next process model start a new one."""
        return sorted(p for p in self._descendants() - self._before if not _shared_helper(p))

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

    def _position(self) -> tuple[int, int] | None:
        """Where the repetition's thread is in Python (innermost frame and instruction);
        the same value tick after tick means it has not run a bytecode meanwhile."""
        frame = sys._current_frames().get(self._runner or -1)
        return None if frame is None else (id(frame), frame.f_lasti)

    def _watch(self) -> None:
        deadline = time.monotonic() + self.limit_s
        since: float | None = None  # when the thread was asked to come back (expiry, a stop)
        seen, moved = self._position(), time.monotonic()
        while not self._done.wait(max(0.0, min(TICK_S, deadline - time.monotonic()))):
            now = time.monotonic()
            if not self.fired and now >= deadline:
                self._expire()
                since = now
            stop = self._stops.poll()
            if stop is not None and since is None:
                since = now
            if since is None or self.on_stuck is None:
                continue
            position = self._position()
            if position != seen:
                seen, moved = position, now
            quiet_for = now - max(moved, since)
            if quiet_for >= GRACE_S or now - since >= ABANDON_S:
                with self._lock:
                    if self._done.is_set():
                        return  # it came back just now: nothing to take over
                    self.abandoned = True
                self.probes.stop_heartbeat()
                try:
                    self.on_stuck(stop)
                finally:  # whatever failed on the way, never a process that cannot end
                    from cvbench.work import hard_exit

                    if hard_exit.OWNER:
                        hard_exit.hard_exit(128 + stop if stop else 1)
                return

    @property
    def reason(self) -> str:
        head = f"no progress for {self.limit_s:g} s (--item-timeout)"
        note = getattr(self.probes, "expiry_note", "")
        if note:  # the model said what it was waiting for (an existing dask cluster)
            return f"{head} {note}"
        what = "workers killed" if self.killed else "repetition stopped, a stuck thread abandoned"
        return f"{head}: {what}"

    def stuck_reason(self) -> str:
        """The row's error when the repetition's thread never came back."""
        where = (
            "the main thread"
            if self._runner == threading.main_thread().ident
            else "the thread running the op"
        )
        return (
            f"no progress for {self.limit_s:g} s (--item-timeout): {where} is stuck inside the "
            "op, in a call that does not return to Python (a C call that checks no signal); "
            "it cannot be interrupted, so the run was ended without it"
        )

    @contextlib.contextmanager
    def armed(self) -> Iterator[Watchdog]:
        previous = signal.getsignal(signal.SIGUSR1)

        def interrupt(signum: int, frame: object) -> None:
            if getattr(self.probes, "expiry_raised", False):
                return  # the model's wait saw the deadline first and raised already
            self.probes.expiry_raised = True
            raise RepetitionTimeout(self.reason)

        in_main = threading.current_thread() is threading.main_thread()
        if in_main:
            signal.signal(signal.SIGUSR1, interrupt)
            self._can_interrupt = True
        self._runner = threading.get_ident()
        try:
            with self._stops:
                self._thread.start()
                try:
                    yield self
                finally:
                    with self._lock:
                        self._done.set()
                        abandoned = self.abandoned
            if abandoned:
                self._gone()
        finally:
            if in_main:
                self._can_interrupt = False
                signal.signal(signal.SIGUSR1, previous)

    def _gone(self) -> None:
        """This thread came back after the run went on without it."""
        from cvbench.work import hard_exit

        if hard_exit.OWNER:  # the watchdog's thread is ending the process: wait for it
            threading.Event().wait()
        raise RepetitionAbandoned(self.stuck_reason())


def _shared_helper(pid: int) -> bool:
    """multiprocessing's fork server (a child of this process; its workers are its own
    children and share its command line) or resource tracker."""
    try:
        proc = psutil.Process(pid)
        cmd = " ".join(proc.cmdline())
        if "multiprocessing.resource_tracker" in cmd:
            return True
        return "multiprocessing.forkserver import main" in cmd and proc.ppid() == os.getpid()
    except psutil.Error:
        return False
