"""Timelines: which worker ran which item when, per model, above the emulated kernel's
schedule of the sequential service times (the simulation helpers live here too)."""

from __future__ import annotations

import heapq
import itertools
from collections import deque
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cvbench.report.charts.data import Data, _first_rep, _records, _split, _widest
from cvbench.report.charts.style import DPI, WIDTH_IN, _figure, _lighter, _save, model_colour

if TYPE_CHECKING:  # pragma: no cover - typing only
    from matplotlib.axes import Axes

TIME_LABEL = (
    "time since the timed start (ms); consecutive items alternate dark/light when wide enough"
)


def sequential_trace(data: Data, workload: str, workers: int) -> Any:
    """A simulator trace from the sequential model's per-item service times (first rep).

    The item records carry no I/O split, so service is start → finish including any file
    I/O; the run's own ``--trace`` (and its predicted rows) subtract it.
    """
    from cvbench.emulated_kernel.predict.trace import parse_trace

    it = _first_rep(data, workload, "sequential", 1)
    if it is None:
        return None
    recs = sorted(_records(it), key=lambda r: r["index"])
    items = [
        {"service_s": max(r["finished_us"] - r["started_us"], 0) / 1e6, "io_s": 0.0} for r in recs
    ]
    if not items:
        return None
    return parse_trace({"schema": 1, "workload": workload, "workers": workers, "items": items})


def simulated_schedule(
    trace: Any, workers: int, cores: int, policy: str = "eevdf"
) -> tuple[list[tuple[int, int, int, int, int]], int]:
    """Run ``workers`` pool workers over the trace on ``cores`` and split the recorded run
    segments at item boundaries: ``[(core, worker, item, start_ns, end_ns)]``, makespan ns.

    The simulator records (core, task, start, end) per run segment; a pool worker does not
    stop between items, so item boundaries are recovered by replaying the FIFO queue against
    each worker's accumulated CPU time (the same pull order the simulator uses).
    """
    from cvbench.emulated_kernel.predict.trace import pool_spec
    from cvbench.emulated_kernel.sim import simulate

    spec = pool_spec(trace, workers)
    res = simulate([], cores, policy, pools=[spec], record=True)
    segs: dict[int, list[tuple[int, int, int]]] = {}
    for core, tid, s, e in res.segments or []:
        segs.setdefault(tid, []).append((s, e, core))
    for v in segs.values():
        v.sort()

    def pieces(tid: int, lo: int, hi: int) -> list[tuple[int, int, int]]:
        """Wall-clock pieces (core, start, end) where ``tid`` ran CPU time [lo, hi)."""
        out, acc = [], 0
        for s, e, core in segs.get(tid, []):
            a, b = max(lo, acc), min(hi, acc + e - s)
            if a < b:
                out.append((core, s + a - acc, s + b - acc))
            acc += e - s
            if acc >= hi:
                break
        return out

    def wall_at(tid: int, cpu: int) -> int:
        """When ``tid`` had accumulated ``cpu`` ns of CPU time."""
        acc, last = 0, 0
        for s, e, _ in segs.get(tid, []):
            if acc + e - s >= cpu:
                return s + cpu - acc
            acc, last = acc + e - s, e
        return last

    service = [s for _, s in spec.items]
    queue = deque(range(len(service)))
    used = [0] * workers
    taken = [0] * workers
    seq = itertools.count()  # ties go in scheduling order, as in the simulator's event heap
    busy: list[tuple[int, int, int]] = []  # heap of (finish ns, seq, worker)
    out: list[tuple[int, int, int, int, int]] = []

    def take(w: int) -> None:
        if queue:
            i = queue.popleft()
            lo, hi = used[w], used[w] + service[i]
            out.extend((core, w, i, s, e) for core, s, e in pieces(w, lo, hi))
            used[w], taken[w] = hi, taken[w] + 1
            heapq.heappush(busy, (wall_at(w, hi), next(seq), w))

    for w in range(workers):
        take(w)
    while busy:
        take(heapq.heappop(busy)[2])
    if any(
        (t.cpu_ns, t.items) != (used[t.tid], taken[t.tid]) for t in res.tasks if t.tid < workers
    ):  # the replay diverged (e.g. preemption ties): plain segments, no item boundaries
        out = [(core, tid, -1, s, e) for core, tid, s, e in res.segments or []]
    return out, res.makespan_ns


def plot_timeline(doc: Any, out_dir: str | Path) -> tuple[list[Path], list[str]]:
    """Per workload: which worker ran which item when, per model (first repetition, largest
    worker count), above the emulated kernel's schedule of the sequential service times on
    as many pool workers and cores: idle gaps, stragglers and overhead are visible."""
    data, notes = _split(doc)
    if data.items is None:
        return [], notes + ["timeline: skipped, needs per-item records (the JSON file)"]
    paths: list[Path] = []
    for w in data.workloads:
        lanes: list[tuple[str, str, list[dict[str, int]]]] = []  # model, label, records
        top = 1
        for m in data.models(w):
            n = _widest(data, w, m)
            it = None if n is None else _first_rep(data, w, m, n)
            if it is None:
                continue
            top = max(top, n or 1)
            recs = _records(it)
            for wk in sorted({r["worker"] for r in recs}):
                lanes.append((m, f"{m} · w{wk}", [r for r in recs if r["worker"] == wk]))
        if not lanes:
            notes.append(f"timeline: no item records for {w}")
            continue
        trace = sequential_trace(data, w, top)
        sim: list[tuple[int, int, int, int, int]] = []
        makespan = 0
        if trace is None:
            notes.append(f"timeline: no sequential items for {w}: simulated schedule skipped")
        else:
            sim, makespan = simulated_schedule(trace, top, top)
        sim_lanes = top if sim else 0
        height = min(22.0, 1.6 + 0.24 * len(lanes) + (1.3 + 0.3 * sim_lanes if sim else 0))
        fig = _figure(max(4.5, height))
        if sim:
            ax, sax = fig.subplots(
                2, 1, sharex=True, height_ratios=[len(lanes) + 1, sim_lanes + 1.5]
            )
        else:
            ax, sax = fig.subplots(1, 1), None
        end_ms = max(max(r["finished_us"] for r in recs) / 1e3 for _, _, recs in lanes)
        px_per_ms = (WIDTH_IN - 1.8) * DPI / max(end_ms, makespan / 1e6, 1e-3)
        for y, (m, _, recs) in enumerate(lanes):
            spans = [
                (r["started_us"] / 1e3, max(r["finished_us"] - r["started_us"], 1) / 1e3, k)
                for k, r in enumerate(sorted(recs, key=lambda r: r["started_us"]))
            ]
            _lane(ax, y, spans, model_colour(m), px_per_ms)
        ax.set_yticks(range(len(lanes)), [lab for _, lab, _ in lanes], fontsize=8)
        for lab, (m, _, _) in zip(ax.get_yticklabels(), lanes, strict=True):
            lab.set_color(model_colour(m))
        ax.set_ylim(len(lanes) - 0.4, -0.6)
        ax.set_title(
            f"{w}: measured, item start → finish per worker lane (first repetition, "
            "largest worker count)",
            fontsize=10,
        )
        ax.grid(axis="x", alpha=0.3)
        if sax is None:
            ax.set_xlabel(TIME_LABEL)
        else:
            for core in range(sim_lanes):
                spans = sorted((a / 1e6, (b - a) / 1e6, i) for k, _, i, a, b in sim if k == core)
                _lane(sax, core, spans, model_colour("processes"), px_per_ms)
            sax.set_yticks(range(sim_lanes), [f"core {k}" for k in range(sim_lanes)], fontsize=8)
            sax.set_ylim(sim_lanes - 0.4, -0.6)
            sax.set_title(
                f"emulated kernel (eevdf): sequential service times on {top} pool "
                f"workers × {top} cores — makespan {makespan / 1e6:.1f} ms, no "
                "start-up or IPC cost",
                fontsize=10,
            )
            sax.set_xlabel(TIME_LABEL)
            sax.grid(axis="x", alpha=0.3)
        ax.set_xlim(left=0)
        paths += _save(fig, Path(out_dir), f"timeline_{_slug(w)}")
    return paths, notes


def _lane(
    ax: Axes, y: float, spans: list[tuple[float, float, int]], colour: str, px_per_ms: float
) -> None:
    """One Gantt lane of (start ms, duration ms, item) spans, in start order.

    Consecutive items alternate dark/light so boundaries show, but only when an item is at
    least 3 px wide: thinner alternation aliases into stripes that look like real structure.
    """
    if not spans:
        return
    raster = {"rasterized": len(spans) > 2000}  # keeps the SVG small for long runs
    durs = sorted(d for _, d, _ in spans)
    if durs[len(durs) // 2] * px_per_ms < 3:
        ax.broken_barh(
            [(a, d) for a, d, _ in spans], (y - 0.4, 0.8), facecolors=colour, linewidth=0, **raster
        )
        return
    dark: list[tuple[float, float]] = []
    light: list[tuple[float, float]] = []
    last, toggle = None, True
    for a, d, item in spans:
        if item != last:
            toggle, last = not toggle, item
        (light if toggle else dark).append((a, d))
    ax.broken_barh(dark, (y - 0.4, 0.8), facecolors=colour, linewidth=0, **raster)
    ax.broken_barh(light, (y - 0.4, 0.8), facecolors=[_lighter(colour)], linewidth=0, **raster)


def _slug(name: str) -> str:
    """``name`` safe for a file name: anything but letters, digits, - and _ becomes _."""
    return "".join(ch if ch.isalnum() or ch in "-_" else "_" for ch in name)
