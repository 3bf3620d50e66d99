"""SIGINT, SIGTERM and SIGHUP all end a run the same way: promptly, with every completed row
saved, the tables printed, the JSON marked interrupted, and exit 128 + the signal number.

The first signal raises KeyboardInterrupt in the main thread (the runner keeps what it has),
or hands the stop to the event loop running there that must stop its own way (trio:
measure/interrupts.py); any later one is only counted, so that a second Ctrl-C cannot tear
down the cleanup that the first one started (round one hung or aborted in C++ when two came
50-100 ms apart).
"""

from __future__ import annotations

import contextlib
import signal
from collections.abc import Iterator
from types import FrameType

from cvbench.measure import interrupts

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


class StopRequest:
    """Which signal stopped the run (None: none did), and how many arrived."""

    def __init__(self) -> None:
        self.signum: int | None = None
        self.count = 0

    @property
    def exit_code(self) -> int:
        return 128 + (self.signum or signal.SIGINT)

    @property
    def name(self) -> str:
        return signal.Signals(self.signum or signal.SIGINT).name

    def handle(self, signum: int, frame: FrameType | None) -> None:
        self.count += 1
        if self.signum is None:
            self.signum = signum
            # later ones are ignored at the C level: even during interpreter shutdown, where a
            # Python handler is gone and a late Ctrl-C would kill the process with -SIGINT
            for sig in STOP_SIGNALS:
                signal.signal(sig, signal.SIG_IGN)
            interrupts.interrupt(signum, frame)


@contextlib.contextmanager
def stop_on_signals() -> Iterator[StopRequest]:
    """Install the handlers for the run. Once a signal has asked for an orderly stop they stay
    (a second Ctrl-C while the tables print or the files are written is only counted, never a
    traceback or click's "Aborted!"); after an undisturbed run the previous ones come back,
    so that a process that calls the command in-process keeps its own Ctrl-C."""
    from cvbench import _entry

    if _entry.STOPPED:  # a stop during start-up whose exit was swallowed (3.13, a slow VM)
        raise SystemExit(128 + _entry.STOPPED[0])
    request = StopRequest()
    interrupts.forget()
    previous = {sig: signal.getsignal(sig) for sig in STOP_SIGNALS}
    for sig in STOP_SIGNALS:
        signal.signal(sig, request.handle)
    try:
        yield request
    finally:
        if request.signum is None:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
