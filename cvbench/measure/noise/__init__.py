"""What makes timings noisy on this machine, read from /proc and /sys, with what to do.

Every probe returns a ``Check`` (status ok / warn / info, a value, one line of message and
advice) and never raises: a file that cannot be read becomes "unknown (why)". The probes feed
`cvbench doctor` and the run's JSON, where ``warnings`` turns the warn lines into the
warnings a run prints.

Two kinds of probe: instantaneous ones (quota, governor, SMT, HZ, ...) and those measured over
a window (steal time from two reads of /proc/stat, CPU taken by other processes). A
``NoiseWindow`` spans a window: ``collect_noise(1.0)`` spans one second of a fixed loop spun
in slices (``speed``: whether the CPU runs the same work at the same speed, which no /proc
file shows on a throttled VM); a run can start one before its first repetition and finish
it after its last.
"""

from __future__ import annotations

from typing import Any

from cvbench.measure.noise.check import LABELS, Check, as_json, safe
from cvbench.measure.noise.host import INSTANT
from cvbench.measure.noise.speed import speed_check, spin_slices
from cvbench.measure.noise.window import NoiseWindow, cpu_ticks, steal_percent

__all__ = [
    "LABELS",
    "Check",
    "NoiseWindow",
    "collect_noise",
    "cpu_ticks",
    "steal_percent",
    "warnings",
]


def collect_noise(sample_s: float = 1.0) -> dict[str, Any]:
    """Every check as JSON-ready dicts: {"sample_s", "checks": {key: {status, value, message,
    advice}}}. Spins a fixed loop on one CPU for ``sample_s`` (this process is left out of
    the window's other processes) while steal and other processes' CPU are measured."""
    window = NoiseWindow()
    slices = spin_slices(max(0.0, sample_s))
    checks = {
        **window.checks(),
        "speed": safe("CPU speed", lambda: speed_check(slices)),
        **{k: safe(k, f) for k, f in INSTANT.items()},
    }
    return {"sample_s": sample_s, "checks": as_json(checks)}


def warnings(noise: dict[str, Any]) -> list[str]:
    """One line per warn check: what a run prints (and keeps in its JSON)."""
    out = []
    for key, check in (noise.get("checks") or {}).items():
        if check.get("status") == "warn":
            advice = f" ({check['advice']})" if check.get("advice") else ""
            out.append(f"{LABELS.get(key, key)}: {check['message']}{advice}")
    return out
