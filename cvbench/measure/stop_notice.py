"""Which stop signal arrived, seen from another thread than the main one.

CPython runs a Python signal handler only in the main thread, between bytecodes: while the
main thread is inside a C call that never returns (an op deadlocked in a library), SIGTERM and
Ctrl-C are recorded at the C level and nothing else happens, for ever. The watchdog's thread
must notice them to end the run on the user's behalf. The one C-level trace of a signal a
Python program can read is ``signal.set_wakeup_fd``: the C handler writes the signal number
to that fd. While a repetition runs in the main thread, a pipe of ours is that fd (unless
another one is set: an API caller's event loop keeps its own, and cvbench then goes by the
deadline alone); the watchdog reads it every tick, never blocking on it.

Every signal with a Python handler writes a byte: the live kernel's SIGALRM ticks too (one
write(2) per tick, about a microsecond; read in batches). Event loops that set their own fd
while they run (trio, uvloop) put ours back when they end; while they run, cvbench goes by the
deadline alone. trio warns when it finds a fd set: models/trio_.py filters that warning.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading

STOP_SIGNALS = frozenset({signal.SIGINT, signal.SIGTERM, signal.SIGHUP})


class StopNotice:
    """Context manager (enter and exit in the thread that runs the repetition); ``poll()``
    from any thread returns the first stop signal seen so far, or None."""

    def __init__(self) -> None:
        self.active = False
        self.signum: int | None = None
        self._fds: tuple[int, int] | None = None
        # poll() runs in the watchdog's thread while __exit__ closes the pipe in the main one:
        # without the lock, poll could read a closed fd -- or one the number was reused for
        self._lock = threading.Lock()

    def __enter__(self) -> StopNotice:
        if threading.current_thread() is not threading.main_thread():
            return self  # signals are the main thread's (and the caller's): nothing to see
        r, w = os.pipe()
        os.set_blocking(r, False)
        os.set_blocking(w, False)
        try:
            previous = signal.set_wakeup_fd(w, warn_on_full_buffer=False)
        except (ValueError, OSError):
            os.close(r)
            os.close(w)
            return self
        if previous != -1:  # someone else's (an event loop of the caller): theirs stays
            signal.set_wakeup_fd(previous)
            os.close(r)
            os.close(w)
            return self
        self._fds, self.active = (r, w), True
        return self

    def poll(self) -> int | None:
        with self._lock:
            if self.signum is None and self._fds is not None:
                with contextlib.suppress(OSError):  # BlockingIOError: nothing arrived
                    while data := os.read(self._fds[0], 4096):
                        stops = [b for b in data if b in STOP_SIGNALS]
                        if stops:
                            self.signum = stops[0]
                            break
            return self.signum

    def __exit__(self, *exc: object) -> None:
        with self._lock:
            if self._fds is None:
                return
            r, w = self._fds
            self._fds, self.active = None, False
        current = signal.set_wakeup_fd(-1)
        if current not in (-1, w):  # a library set its own and kept it: leave it theirs
            signal.set_wakeup_fd(current)
        os.close(r)
        os.close(w)
