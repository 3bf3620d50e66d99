"""Whether this CPU runs the same work at the same speed: the noise no /proc file shows.

A VM whose host is oversubscribed, or throttles it, runs the guest's code slower for
stretches with no steal, no load and no other process to blame. Seen on a 2-vCPU KVM guest
(Intel Xeon, 2.8 GHz): one fixed pure-Python loop took 6.6 to 18 ms from one second to the
next while every /proc probe of the doctor said ok, and a default run's per-round speeds
scattered by 20-35 %. So the doctor's sample is not slept but spun: a fixed loop in short
slices, back to back, each timed by the wall clock and by the thread's CPU clock. How much
adjacent slices differ is what any paired figure on this machine scatters by; whether the
thread was off its CPU meanwhile (wall beyond CPU time) tells a task of this guest sharing
the CPU from a host that slows the whole guest (CPU time stretches with the wall: the guest
cannot see it).
"""

from __future__ import annotations

import math
import statistics
import time
from collections.abc import Sequence

from cvbench.measure.noise.check import Check

SLICE_S = 0.005  # one slice of the fixed loop: short enough for 60 of them in a run's 0.3 s
MIN_SLICES = 8  # fewer: too few pairs to say how they scatter
SCATTER_WARN_PCT = 3.0  # adjacent slices of the same work differing by more: a noisy CPU
OFF_CPU_WARN_PCT = 5.0  # of the wall time spent off the CPU: another task shares it
_CALIBRATE_N = 2000


def _spin(n: int) -> int:
    s = 0
    for i in range(n):
        s += i
    return s


def loop_size(slice_s: float = SLICE_S) -> int:
    """Iterations of the fixed loop that take about ``slice_s`` here (the best of three)."""
    best = math.inf
    for _ in range(3):
        t0 = time.perf_counter()
        _spin(_CALIBRATE_N)
        best = min(best, time.perf_counter() - t0)
    return max(_CALIBRATE_N, int(_CALIBRATE_N * slice_s / max(best, 1e-9)))


def spin_slices(sample_s: float, n: int | None = None) -> list[tuple[float, float]]:
    """The same loop, back to back, for ``sample_s``: (wall s, thread CPU s) per slice. The
    slices tile the span (each starts where the last ended), so time off the CPU between
    two loops counts too: timed around the loop alone, a rival on the same CPU took 0.50 s
    of a 1.0 s sample and the slices showed only 0.36 s of it."""
    n = n or loop_size()
    out: list[tuple[float, float]] = []
    w0, c0 = time.perf_counter(), time.thread_time()
    end = w0 + sample_s
    while True:
        _spin(n)
        w1, c1 = time.perf_counter(), time.thread_time()
        out.append((w1 - w0, c1 - c0))
        if w1 >= end:
            return out
        w0, c0 = w1, c1


def pair_scatter_pct(walls: Sequence[float]) -> float:
    """How much two adjacent slices of the same work differ: the robust SD (1.4826 x MAD)
    of log(second / first) over disjoint adjacent pairs, in %. Robust: one interrupt in one
    slice is not the machine's scatter."""
    logs = [math.log(b / a) for a, b in zip(walls[::2], walls[1::2], strict=False) if a > 0 < b]
    if len(logs) < 2:
        return math.nan
    med = statistics.median(logs)
    mad = statistics.median(abs(x - med) for x in logs)
    return 100 * (math.exp(1.4826 * mad) - 1)


def speed_check(slices: Sequence[tuple[float, float]]) -> Check:
    """The doctor's line for the spun slices."""
    if len(slices) < MIN_SLICES:
        return Check("info", None, f"unknown (only {len(slices)} slice(s) of the fixed loop)")
    walls = [w for w, _ in slices]
    wall_s, cpu_s = sum(walls), sum(c for _, c in slices)
    off_pct = max(0.0, 100 * (1 - cpu_s / wall_s)) if wall_s > 0 else 0.0
    q = statistics.quantiles(walls, n=10)
    p10_ms, p90_ms = 1e3 * q[0], 1e3 * q[-1]
    scatter = pair_scatter_pct(walls)
    value = {
        "slices": len(slices),
        "slice_median_ms": round(1e3 * statistics.median(walls), 3),
        "slice_p10_ms": round(p10_ms, 3),
        "slice_p90_ms": round(p90_ms, 3),
        "pair_scatter_pct": round(scatter, 2),
        "off_cpu_pct": round(off_pct, 1),
    }
    msg = (
        f"the same work took {p10_ms:.2f}-{p90_ms:.2f} ms per slice (p10-p90, {len(slices)} "
        f"slices over {wall_s:.1f} s); adjacent slices differ by ±{scatter:.1f} %; off the CPU "
        f"{off_pct:.0f} % of the time"
    )
    if off_pct >= OFF_CPU_WARN_PCT:
        return Check(
            "warn", value, msg, "another task shared this CPU: stop it, or pin with --cpus to "
            "a CPU nothing else uses",
        )  # fmt: skip
    if scatter >= SCATTER_WARN_PCT:
        needed = math.ceil((1.96 * scatter) ** 2)
        return Check(
            "warn", value, msg + " while on it: the CPU itself ran the same code at "
            "different speeds (a shared or throttled host: no steal or load shows it)",
            f"paired figures this short scatter by about that much here: ±1 % on them takes "
            f"~{needed} pairs (longer ones average some of it out); compare base and head in "
            "one job (cvbench ab), or use a dedicated runner",
        )  # fmt: skip
    return Check("ok", value, msg)
