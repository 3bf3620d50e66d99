"""Responsiveness: how late a periodic tick fires in the work's own scheduling domain.

Each framework drives the same recorder with its own sleep (a thread, an asyncio/trio/curio
task, a greenlet). Lag = actual wake-up minus requested wake-up: in a cooperative loop it grows
to the length of the longest item between yields; under preemption it stays near the tick.
"""

from __future__ import annotations

import threading
import time


class Heartbeat:
    """Records the lateness of each tick, in ns."""

    def __init__(self, period_ns: int = 1_000_000) -> None:
        self.period_ns = period_ns
        self.period_s = period_ns / 1e9
        self.lags_ns: list[int] = []
        self._due_ns = 0

    @property
    def enabled(self) -> bool:
        return self.period_ns > 0

    def arm(self) -> None:
        """Call right before sleeping one period."""
        self._due_ns = time.perf_counter_ns() + self.period_ns

    def beat(self) -> None:
        """Call right after waking up."""
        self.lags_ns.append(max(0, time.perf_counter_ns() - self._due_ns))


class ThreadHeartbeat:
    """A heartbeat thread in the main process: the domain of threads/processes/sequential."""

    def __init__(self, hb: Heartbeat) -> None:
        self.hb = hb
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="cvbench-heartbeat", daemon=True)

    def _loop(self) -> None:
        hb = self.hb
        while not self._stop.is_set():
            hb.arm()
            time.sleep(hb.period_s)
            hb.beat()

    def start(self) -> None:
        if self.hb.enabled:
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()
