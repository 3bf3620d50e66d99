"""How a stop signal interrupts the run: KeyboardInterrupt in the main thread, raised where the
signal lands, unless an event loop there must stop its own way.

cvbench's stop handlers (commands/signals.py, ab/side_process.py) raise KeyboardInterrupt at
whatever bytecode the main thread is running. For sequential code and thread or process waits
that is what a Ctrl-C does anyway, and the runner keeps what it has. Inside trio's run loop it
is not safe: trio's own machinery (its scheduler, its I/O wait, trio-parallel's hand-over of
an item to a worker) is only protected against trio's own Ctrl-C handling. Raised there, the
KeyboardInterrupt became trio's TrioInternalError (a failed row, exit 1, instead of an
interrupted run), or left trio.run from its I/O wait with the run abandoned half-way: its
nurseries complained when collected ("Exception ignored in Nursery.__del__"), trio-parallel's
workers were never shut down, trio's threads reported into closed sockets (a traceback).

So while such a loop runs in the main thread it registers a ``deliver(name, frame)`` with
``deferring``; the handler calls it first, and when it returns True the loop has taken the
stop over: it ends its own way (models/trio_.py cancels everything it runs) and raises
KeyboardInterrupt itself once it has ended. ``deliver`` runs inside the signal handler: it may
only note the stop and hand it to the loop through a signal-safe call.

``deferred`` is the same for plain code that drives a thread pool from the main thread (the
calibration): a KeyboardInterrupt landing just after a ``with lock:`` took its lock, before
the block is protected, leaves the lock held (CPython's with statement is not atomic against
signals). A stop 50 ms after the run's first process started did that inside a
ThreadPoolExecutor's semaphore: its worker waited for the lock, the pool's shutdown waited for
its worker, and the run never ended (1 in ~12 stops at that moment, on a slow VM). There the
stop is only noted, and raised by ``check()`` at points of the block's own choosing.

Nor is it raised inside an import. Python drops a module whose body an exception interrupted,
but the submodules it had imported keep the half-built module they bound: a SIGTERM that
landed in the run's first ``from scipy import stats`` left ``scipy.stats._resampling`` with a
``stats`` that had no ``quantile``, and the run's finish, its CIs and its files then failed with
an AttributeError traceback (1 in 17 SIGTERMs at random moments of a quick run). A stop that
lands in an import is recorded only: ``raise_if_requested()`` raises it before the next
repetition, and the run's session (pipeline/session.py) marks its result interrupted after the
finish at the latest.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Callable, Iterator
from types import FrameType

#: deliver(signal name, interrupted frame) -> True when the stop was taken over
Deliver = Callable[[str, FrameType | None], bool]

_deferring: list[Deliver] = []
_requested: list[str] = []  # the stop a handler delivered, until the next forget()


def interrupt(signum: int, frame: FrameType | None) -> None:
    """What a stop handler does once it has recorded the signal: hand the stop to the event
    loop running in the main thread, if one asked for it, else raise KeyboardInterrupt."""
    name = signal.Signals(signum).name
    if not _requested:
        _requested.append(name)
    for deliver in reversed(_deferring):  # the innermost loop first
        if deliver(name, frame):
            return
    if importing(frame):
        return  # recorded in _requested: raised at the next check, never mid-import
    raise KeyboardInterrupt(name)


def importing(frame: FrameType | None) -> bool:
    """Whether the interrupted frame runs inside an import (importlib's frames are on its
    stack while a module's body or a finder runs)."""
    while frame is not None:
        if frame.f_code.co_filename.startswith("<frozen importlib"):
            return True
        frame = frame.f_back
    return False


def raise_if_requested() -> None:
    """Between repetitions: a stop whose KeyboardInterrupt was lost on its way ends the run
    here. A Ctrl-C during a run's rounds once left it measuring on for over 60 s (1 in 26
    tries on a slow VM, the main thread in the overhead's bare loop; where the exception
    went was not found)."""
    if _requested:
        raise KeyboardInterrupt(_requested[0])


def stop_requested() -> str | None:
    """The stop a handler delivered since the last forget(), if any (its signal's name)."""
    return _requested[0] if _requested else None


def forget() -> None:
    """A new run's handlers: no stop delivered yet."""
    _requested.clear()


class Deferred:
    """A stop noted while a ``deferred`` block ran; ``check()`` raises it."""

    def __init__(self) -> None:
        self.name: str | None = None

    def note(self, name: str, frame: FrameType | None) -> bool:
        self.name = self.name or name
        return True

    def check(self) -> None:
        if self.name is not None:
            raise KeyboardInterrupt(self.name)


@contextlib.contextmanager
def deferred() -> Iterator[Deferred]:
    """While the block runs, a stop signal is noted, not raised: the block calls ``check()``
    between its waits, and the stop is raised at its end at the latest."""
    stop = Deferred()
    try:
        with deferring(stop.note):
            yield stop
    finally:  # a noted stop wins over whatever else ended the block (the run must stop)
        stop.check()


@contextlib.contextmanager
def deferring(deliver: Deliver) -> Iterator[bool]:
    """While the block runs, a stop signal goes to ``deliver`` first. Only in the main thread
    (signals are handled there); elsewhere nothing is registered and the block gets False."""
    if threading.current_thread() is not threading.main_thread():
        yield False
        return
    _deferring.append(deliver)
    try:
        yield True
    finally:
        _deferring.remove(deliver)
