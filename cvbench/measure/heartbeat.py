"""Responsiveness: how late a periodic tick fires in the work's own scheduling domain.

Each framework drives the same recorder with its own sleep (a thread, an asyncio/trio/curio
task, a greenlet). Lag = actual wake-up minus requested wake-up: in a cooperative loop it grows
to the length of the longest item between yields; under preemption it stays near the tick.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections.abc import Collection


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
    """A heartbeat thread in the main process: the domain of threads/processes/sequential.

    It runs on ``cpus`` (``Probes.probe_cpus``), not on the CPU of the thread that starts it:
    a new thread inherits its creator's mask, and the sequential model's main thread is pinned
    under ``--pin``, so the probe woke on that one CPU every 1 ms and preempted the item it
    was probing (+2 % on the pinned sequential model's wall time). It measures GIL hand-offs,
    not a CPU shared with the worker."""

    def __init__(self, hb: Heartbeat, cpus: Collection[int] = ()) -> None:
        self.hb = hb
        self.cpus = set(cpus)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="cvbench-heartbeat", daemon=True)

    def _loop(self) -> None:
        if self.cpus:
            with contextlib.suppress(OSError):  # CPUs taken away meanwhile: keep the mask
                os.sched_setaffinity(0, self.cpus)
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
