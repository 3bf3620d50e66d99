"""Noise measured over a window: steal time (two reads of /proc/stat) and the CPU other
processes took (psutil), between ``NoiseWindow()`` and its ``finish()``."""

from __future__ import annotations

import os
import time
from typing import Any

import psutil

from cvbench.measure.noise.check import Check, as_json, read, safe, unknown

STEAL_WARN_PCT = 2.0  # of all CPU time: the hypervisor ran someone else on "our" CPU
OTHERS_WARN_PCT = 10.0  # CPU of other processes during the window, % of one CPU
TOP_PROCESSES = 3


def cpu_ticks(stat_text: str) -> list[int]:
    """The aggregate ``cpu`` line of /proc/stat: user nice system idle iowait irq softirq
    steal [guest guest_nice], in USER_HZ ticks."""
    for line in stat_text.splitlines():
        if line.startswith("cpu "):
            return [int(x) for x in line.split()[1:]]
    raise ValueError("no aggregate 'cpu' line in /proc/stat")


def steal_percent(before: str, after: str) -> float | None:
    """Steal as a percentage of all CPU time between two /proc/stat texts; None if no tick
    passed. guest and guest_nice are already counted in user and nice, so the total is the
    first eight fields."""
    a, b = cpu_ticks(before), cpu_ticks(after)
    delta = [y - x for x, y in zip(a[:8], b[:8], strict=False)]
    total = sum(delta)
    if total <= 0 or len(delta) < 8:
        return None
    return 100.0 * delta[7] / total


def _process_name(info: dict[str, Any]) -> str:
    """'python -m pytest' beats 'python': the program and what it runs."""
    argv = [a for a in (info.get("cmdline") or []) if a]
    if not argv:
        return str(info.get("name") or "?")
    words = [os.path.basename(argv[0])]
    if words[0].startswith("python"):
        for i, a in enumerate(argv[1:4], start=1):
            if a in ("-m", "-c"):
                words += [a, *argv[i + 1 : i + 2]] if a == "-m" else [a]
                break
            if not a.startswith("-"):
                words.append(os.path.basename(a))
                break
    name = " ".join(words)
    return name if len(name) <= 32 else name[:31] + "…"


class NoiseWindow:
    """Steal time and other processes' CPU between ``__init__`` and ``finish()``."""

    def __init__(self) -> None:
        self.started_s = time.monotonic()
        self.stat, self.stat_why = read("/proc/stat")
        self.procs: dict[int, psutil.Process] = {}
        for p in psutil.process_iter(["name", "cmdline"]):
            try:
                p.cpu_percent(None)  # primes psutil's per-process counter
                self.procs[p.pid] = p
            except (psutil.Error, OSError):
                continue

    def checks(self) -> dict[str, Check]:
        """The window's checks so far: ``steal`` and ``busy_processes``."""
        window_s = time.monotonic() - self.started_s
        return {
            "steal": safe("steal", lambda: self._steal(window_s)),
            "busy_processes": safe("busy processes", lambda: self._busy(window_s)),
        }

    def finish(self) -> dict[str, Any]:
        """JSON-ready {"window_s", "checks"} of the window; ``warnings`` reads it."""
        window_s = time.monotonic() - self.started_s
        return {"window_s": round(window_s, 3), "checks": as_json(self.checks())}

    def _steal(self, window_s: float) -> Check:
        after, why = read("/proc/stat")
        if self.stat is None or after is None:
            return unknown(self.stat_why or why)
        try:
            pct = steal_percent(self.stat, after)
        except ValueError as exc:
            return unknown(str(exc))
        if pct is None:
            return unknown(f"no CPU tick passed in {window_s:.2f} s")
        msg = f"{pct:.1f} % of CPU time stolen by the hypervisor over {window_s:.1f} s"
        if pct >= STEAL_WARN_PCT:
            return Check(
                "warn", round(pct, 2), msg, "other guests share this host's CPUs: repeat runs "
                "at a quieter time, or use a dedicated/bare-metal runner",
            )  # fmt: skip
        return Check("ok", round(pct, 2), msg)

    def _busy(self, window_s: float) -> Check:
        me = psutil.Process()
        try:
            mine = {me.pid, *(c.pid for c in me.children(recursive=True))}
        except psutil.Error:
            mine = {me.pid}
        usage: list[tuple[float, int, str]] = []
        for pid, p in self.procs.items():
            if pid in mine:
                continue
            try:
                usage.append((p.cpu_percent(None), pid, _process_name(p.info)))
            except (psutil.Error, OSError):
                continue  # exited during the window
        usage.sort(reverse=True)
        others = sum(u for u, _, _ in usage)
        top = [
            {"pid": pid, "name": name, "cpu_pct": round(u, 1)}
            for u, pid, name in usage[:TOP_PROCESSES]
            if u > 0
        ]
        shown = ", ".join(f"{t['name']} ({t['pid']}) {t['cpu_pct']:.0f} %" for t in top)
        msg = f"other processes used {others:.0f} % of one CPU over {window_s:.1f} s" + (
            f"; busiest: {shown}" if top else ""
        )
        value = {"others_cpu_pct": round(others, 1), "top": top}
        if others >= OTHERS_WARN_PCT:
            return Check("warn", value, msg, "stop them or wait: they compete for the CPUs")
        return Check("ok", value, msg)
