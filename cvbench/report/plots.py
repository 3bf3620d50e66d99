"""Charts of one results file (issue #6): scaling, latency and lag CDFs, context switches,
timelines beside the emulated kernel's schedule, and measured vs predicted throughput.

Every chart function takes the loaded JSON document (or CSV rows, or a ``Data`` from
``prepare``) and an output directory, writes ``<stem>.png`` and ``<stem>.svg``, and returns
``(paths, notes)``: notes say, in one line each, what was skipped and why, so a report can show
them instead of silently drawing less.  matplotlib is optional (the ``plot`` extra) and is
imported only when a chart is drawn; figures are built with the object API (``Figure``, Agg
canvas) so no pyplot state or GUI backend is touched.
"""

from __future__ import annotations

import heapq
import itertools
import math
import statistics
import zlib
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cvbench.readers import load_document
from cvbench.results import SCHEMA_VERSION

if TYPE_CHECKING:  # pragma: no cover - typing only
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

PLOT_EXTRA_MSG = "plotting needs the plot extra: pip install 'cvbench[plot]'"

#: One colour per model, the same in every chart (Okabe-Ito/tab10-like, distinct on white).
MODEL_COLOURS: dict[str, str] = {
    "sequential": "#222222",
    "threads": "#1f77b4",
    "processes": "#ff7f0e",
    "asyncio": "#2ca02c",
    "asyncio+threads": "#17becf",
    "asyncio+processes": "#bcbd22",
    "trio": "#9467bd",
    "trio+threads": "#e377c2",
    "curio": "#8c564b",
    "curio+threads": "#d62728",
    "curio+processes": "#7f7f7f",
    "greenlet": "#393b79",
    "kernel": "#e6550d",
}
_SPARE = ("#637939", "#843c39", "#7b4173", "#3182bd", "#31a354", "#756bb1")
IDEAL_COLOUR = "#9a9a9a"
DPI = 110
WIDTH_IN = 10.0
TIME_LABEL = (
    "time since the timed start (ms); consecutive items alternate dark/light when wide enough"
)
ITEM_FIELDS = ["index", "worker", "arrival_us", "submitted_us", "started_us", "finished_us"]


class PlotError(RuntimeError):
    """Plotting cannot start (matplotlib missing); the message tells the user what to do."""


def model_colour(model: str) -> str:
    """The model's fixed colour; unknown (future) models get a stable spare one."""
    return MODEL_COLOURS.get(model) or _SPARE[zlib.crc32(model.encode()) % len(_SPARE)]


def _lighter(colour: str, amount: float = 0.45) -> tuple[float, float, float]:
    """Mix ``colour`` with white: alternate items in a timeline stay the model's hue."""
    h = colour.lstrip("#")
    rgb = [int(h[i : i + 2], 16) / 255 for i in (0, 2, 4)]
    return (
        rgb[0] + (1 - rgb[0]) * amount,
        rgb[1] + (1 - rgb[1]) * amount,
        rgb[2] + (1 - rgb[2]) * amount,
    )


def _mpl() -> Any:
    """Import matplotlib on first use: the benchmark itself must not need it."""
    try:
        import matplotlib
        from matplotlib.figure import Figure  # noqa: F401 - fail here, not mid-chart
    except ImportError:
        raise PlotError(PLOT_EXTRA_MSG) from None
    return matplotlib


# ---------------------------------------------------------------------------------- loading
def load_results(path: str | Path) -> dict[str, Any]:
    """The results JSON (full) or CSV (rows only, no items), any schema version: charts skip
    rows of another schema with a note instead of refusing the file. ResultsError on bad input.
    """
    return load_document(path, any_schema=True)


# ---------------------------------------------------------------------------------- the data
Key = tuple[str, str, int]  # workload, model, workers


@dataclass
class Data:
    """The usable part of a results document, and notes on what was left out."""

    rows: list[dict[str, Any]]  # measured, ok, this schema
    predicted: list[dict[str, Any]]  # predicted=true rows, this schema
    items: dict[tuple[str, str, int, int], dict[str, Any]] | None  # None: no items (CSV)
    env: dict[str, Any]
    all_rows: list[dict[str, Any]]  # every row of this schema, failed ones too (for tables)
    notes: list[str] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def workloads(self) -> list[str]:
        return list(dict.fromkeys(r["workload"] for r in self.rows))

    def models(self, workload: str | None = None) -> list[str]:
        seen = dict.fromkeys(
            r["model"] for r in self.rows if workload is None or r["workload"] == workload
        )
        order = {m: i for i, m in enumerate(MODEL_COLOURS)}
        return sorted(seen, key=lambda m: (order.get(m, len(order)), m))


def _label(r: Mapping[str, Any]) -> str:
    return f"{r.get('workload')} · {r.get('model')} · {r.get('workers')} workers"


def prepare(doc: Mapping[str, Any] | Sequence[Mapping[str, Any]] | Data) -> Data:
    """Keep rows of this schema that succeeded; note every row or file left out."""
    if isinstance(doc, Data):
        return doc
    if not isinstance(doc, Mapping):  # bare CSV rows
        doc = {"schema_version": SCHEMA_VERSION, "rows": list(doc)}
    notes: list[str] = []
    env = dict(doc.get("environment") or {})
    version = doc.get("schema_version")
    if version != SCHEMA_VERSION:
        notes.append(
            f"file has schema_version {version!r}, this cvbench reads {SCHEMA_VERSION}: "
            "skipped all of it (re-run, or plot it with a matching cvbench)"
        )
        return Data([], [], None, env, [], notes)
    rows, predicted, all_rows = [], [], []
    for r in doc.get("rows") or []:
        v = r.get("schema_version")
        if v is not None and str(v) != str(SCHEMA_VERSION):
            notes.append(f"skipped row {_label(r)}: schema_version {v!r}")
            continue
        if r.get("predicted"):
            if r.get("ok") is False:
                notes.append(f"skipped failed prediction {_label(r)}")
            elif r.get("throughput_per_s"):
                predicted.append(r)
            continue
        all_rows.append(r)
        if not r.get("ok"):
            notes.append(
                f"skipped failed row {_label(r)} rep {r.get('repetition')}: "
                f"{r.get('error') or 'not ok'}"
            )
            continue
        rows.append(r)
    items: dict[tuple[str, str, int, int], dict[str, Any]] | None = None
    if "items" in doc:
        usable = {
            (r["workload"], r["model"], int(r["workers"]), int(r["repetition"])) for r in rows
        }
        items = {}
        for it in doc.get("items") or []:
            key = (it["workload"], it["model"], int(it["workers"]), int(it["repetition"]))
            if key in usable and set(ITEM_FIELDS) <= set(it.get("fields", ITEM_FIELDS)):
                items[key] = it
    else:
        notes.append(
            "no per-item records (CSV input): charts that need them are skipped; "
            "plot the JSON file for everything"
        )
    extra = {k: doc.get(k) for k in ("harness_overhead", "prep_s", "interrupted", "source")}
    return Data(rows, predicted, items, env, all_rows, notes, extra)


def _split(doc: Any) -> tuple[Data, list[str]]:
    """The data and the notes a single chart should return (prepare's only when standalone)."""
    standalone = not isinstance(doc, Data)
    data = prepare(doc)
    return data, list(data.notes) if standalone else []


def _stat(values: Iterable[float | None]) -> tuple[float, float, float] | None:
    v = [float(x) for x in values if x is not None]
    return (statistics.median(v), min(v), max(v)) if v else None


def _by_cell(
    rows: Iterable[dict[str, Any]], get: Callable[[dict[str, Any]], float | None]
) -> dict[Key, tuple[float, float, float]]:
    """Median, min, max of ``get(row)`` over the repetitions of each workload/model/workers."""
    groups: dict[Key, list[float | None]] = {}
    for r in rows:
        groups.setdefault((r["workload"], r["model"], int(r["workers"])), []).append(get(r))
    return {k: s for k, v in groups.items() if (s := _stat(v)) is not None}


def _cpu_count(data: Data, workload: str) -> int:
    """Cores the run had: the rows' ``cpus`` list, else the environment's."""
    for r in data.rows:
        if r["workload"] == workload and r.get("cpus") not in (None, ""):
            return len(str(r["cpus"]).split())
    cpus = data.env.get("allowed_cpus")
    return len(cpus) if cpus else int(data.env.get("host_cores") or 1)


# ---------------------------------------------------------------------------------- figures
def _figure(height: float = 5.0) -> Figure:
    _mpl()
    from matplotlib.figure import Figure

    fig = Figure(figsize=(WIDTH_IN, height), dpi=DPI, layout="constrained")
    fig.get_layout_engine().set(w_pad=0.08, h_pad=0.08)
    return fig


def _grid(fig: Figure, n: int) -> list[Axes]:
    cols = 1 if n == 1 else 2
    rows = math.ceil(n / cols)
    axes = fig.subplots(rows, cols, squeeze=False).ravel().tolist()
    for ax in axes[n:]:
        ax.set_visible(False)
    return axes[:n]


def _save(fig: Figure, out_dir: Path, stem: str) -> list[Path]:
    matplotlib = _mpl()
    out_dir.mkdir(parents=True, exist_ok=True)
    png, svg = out_dir / f"{stem}.png", out_dir / f"{stem}.svg"
    with matplotlib.rc_context({"svg.hashsalt": "cvbench", "svg.fonttype": "path"}):
        fig.savefig(png, dpi=DPI, facecolor="white")
        fig.savefig(svg, facecolor="white", metadata={"Date": None})
    return [png, svg]


def _legend_right(fig: Figure, axes: Sequence[Axes], loc: str = "outside right upper") -> None:
    """One legend for all subplots, outside the axes, so no curve is hidden."""
    seen: dict[str, Any] = {}
    for ax in axes:
        for h, lab in zip(*ax.get_legend_handles_labels(), strict=True):
            seen.setdefault(lab, h)
    if seen:
        ncols = 1 if "right" in loc else min(len(seen), 3)
        fig.legend(list(seen.values()), list(seen), loc=loc, fontsize=9, ncols=ncols)


def _style(model: str, data: Data) -> dict[str, Any]:
    inline = any(r.get("inline") for r in data.rows if r["model"] == model)
    return {
        "color": model_colour(model),
        "linestyle": "--" if inline else "-",
        "label": model + (" (1 thread)" if inline else ""),
    }


# ---------------------------------------------------------------------------------- charts
def plot_scaling(doc: Any, out_dir: str | Path) -> tuple[list[Path], list[str]]:
    """Throughput vs workers per model, one subplot per workload, with the sequential
    baseline and the ideal linear line (sequential × workers): where scaling stops shows."""
    data, notes = _split(doc)
    if not data.rows:
        return [], notes + ["scaling: no usable rows"]
    thr = _by_cell(data.rows, lambda r: r.get("throughput_per_s"))
    workloads = data.workloads
    fig = _figure(4.6 if len(workloads) <= 2 else 3.2 * math.ceil(len(workloads) / 2))
    axes = _grid(fig, len(workloads))
    for ax, w in zip(axes, workloads, strict=True):
        counts = sorted({k[2] for k in thr if k[0] == w})
        seq = thr.get((w, "sequential", 1))
        if seq is None:
            notes.append(f"scaling: no sequential rows for {w}: no baseline or ideal line")
        else:
            top = max(counts)
            xs = list(range(1, top + 1)) if top <= 64 else counts
            ax.plot(
                xs,
                [seq[0] * x for x in xs],
                color=IDEAL_COLOUR,
                linestyle=":",
                linewidth=1.5,
                label="ideal: sequential × workers",
            )
            ax.axhline(
                seq[0],
                color=model_colour("sequential"),
                linestyle="-.",
                linewidth=1.2,
                label="sequential baseline",
            )
        for m in data.models(w):
            if m == "sequential":
                continue
            pts = sorted((k[2], v) for k, v in thr.items() if k[0] == w and k[1] == m)
            if not pts:
                continue
            xs = [p[0] for p in pts]
            med = [p[1][0] for p in pts]
            err = [[p[1][0] - p[1][1] for p in pts], [p[1][2] - p[1][0] for p in pts]]
            ax.errorbar(
                xs,
                med,
                yerr=err,
                marker="o",
                markersize=4,
                capsize=2,
                linewidth=1.4,
                **_style(m, data),
            )
        if counts and max(counts) / max(min(counts), 1) >= 8:
            ax.set_xscale("log", base=2)
        ax.set_xticks(counts, [str(c) for c in counts])
        ax.set_ylim(bottom=0)
        ax.set_title(f"{w}: throughput vs workers")
        ax.set_xlabel("workers")
        ax.set_ylabel("throughput (items/s, median; bars: min–max)")
        ax.grid(alpha=0.3)
    _legend_right(fig, axes)
    return _save(fig, Path(out_dir), "scaling"), notes


def _widest(data: Data, workload: str, model: str) -> int | None:
    """The largest worker count this model has items for (sequential: 1)."""
    counts = [k[2] for k in data.items or {} if k[0] == workload and k[1] == model]
    return max(counts) if counts else None


def _cdf_chart(
    doc: Any,
    out_dir: str | Path,
    stem: str,
    values: Callable[[dict[str, Any]], list[float]],
    xlabel: str,
    what: str,
) -> tuple[list[Path], list[str]]:
    """One CDF per model (all repetitions at its largest worker count) per workload."""
    data, notes = _split(doc)
    if data.items is None:
        return [], notes + [f"{what}: skipped, needs per-item records (the JSON file)"]
    workloads = [w for w in data.workloads if any(k[0] == w for k in data.items)]
    if not workloads:
        return [], notes + [f"{what}: no item records for any usable row"]
    fig = _figure(4.8 if len(workloads) <= 2 else 3.4 * math.ceil(len(workloads) / 2))
    axes = _grid(fig, len(workloads))
    for ax, w in zip(axes, workloads, strict=True):
        for m in data.models(w):
            n = _widest(data, w, m)
            if n is None:
                continue
            xs = sorted(v for k, it in data.items.items() if k[:3] == (w, m, n) for v in values(it))
            if not xs:
                notes.append(f"{what}: {w} · {m} has no samples")
                continue
            ys = [(i + 1) / len(xs) for i in range(len(xs))]
            style = _style(m, data)
            style["label"] = f"{style['label']} ×{n}"
            ax.step([xs[0], *xs], [0.0, *ys], where="post", linewidth=1.4, **style)
        _log_x(ax)
        ax.set_ylim(0, 1.02)
        ax.set_title(f"{w}: {what} (×N: workers)")
        ax.set_xlabel(xlabel)
        ax.set_ylabel("fraction of samples ≤ x")
        ax.grid(alpha=0.3, which="both")
    _legend_right(fig, axes)
    return _save(fig, Path(out_dir), stem), notes


def _log_x(ax: Axes) -> None:
    """Log x with plain-number labels at 1-2-5 steps: '20', not '2×10¹', and no overlaps."""
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    ax.set_xscale("log")
    lo, hi = ax.get_xlim()
    subs = (1.0, 2.0, 5.0) if hi / max(lo, 1e-12) < 1e3 else (1.0,)
    ax.xaxis.set_major_locator(LogLocator(base=10, subs=subs))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    ax.xaxis.set_minor_formatter(NullFormatter())


def _latencies_ms(it: dict[str, Any]) -> list[float]:
    f = it.get("fields", ITEM_FIELDS)
    a, d = f.index("arrival_us"), f.index("finished_us")
    return [max(r[d] - r[a], 1) / 1000 for r in it["records"]]


def _lags_ms(it: dict[str, Any]) -> list[float]:
    return [max(x, 1) / 1000 for x in it.get("lags_us") or []]  # 1 µs floor: log axis


def plot_latency(doc: Any, out_dir: str | Path) -> tuple[list[Path], list[str]]:
    """CDF of per-item latency (arrival → done): tails and head-of-line blocking show."""
    return _cdf_chart(
        doc,
        out_dir,
        "latency_cdf",
        _latencies_ms,
        "per-item latency, arrival → done (ms, log scale)",
        "latency CDF",
    )


def plot_lag(doc: Any, out_dir: str | Path) -> tuple[list[Path], list[str]]:
    """CDF of the 1 ms heartbeat's lateness: how long the model leaves others waiting."""
    return _cdf_chart(
        doc,
        out_dir,
        "lag_cdf",
        _lags_ms,
        "heartbeat lateness (ms, log scale; 1 µs floor)",
        "heartbeat lag CDF",
    )


def plot_switches(doc: Any, out_dir: str | Path) -> tuple[list[Path], list[str]]:
    """Kernel context switches per item, voluntary (stacked under) involuntary, grouped by
    worker count within each model: blocking vs preemption cost per unit of work."""
    data, notes = _split(doc)

    def per_item(name: str) -> Callable[[dict[str, Any]], float | None]:
        def get(r: dict[str, Any]) -> float | None:
            v, n = r.get(name), r.get("items")
            return None if v is None or not n else v / n

        return get

    vol = _by_cell(data.rows, per_item("ctx_voluntary"))
    inv = _by_cell(data.rows, per_item("ctx_involuntary"))
    workloads = [w for w in data.workloads if any(k[0] == w for k in vol)]
    if not workloads:
        return [], notes + ["context switches: no rows with ctx_voluntary/items"]
    fig = _figure(max(4.6, 3.3 * len(workloads)))
    axes = fig.subplots(len(workloads), 1, squeeze=False).ravel().tolist()
    for ax, w in zip(axes, workloads, strict=True):
        x, ticks, labels, centres, names = 0.0, [], [], [], []
        for m in data.models(w):
            counts = sorted(k[2] for k in vol if k[0] == w and k[1] == m)
            if not counts:
                continue
            c = model_colour(m)
            first = x
            for n in counts:
                v = vol[(w, m, n)][0]
                i = inv.get((w, m, n), (0.0,))[0]
                ax.bar(x, v, width=0.8, color=c, edgecolor=c)
                ax.bar(
                    x,
                    i,
                    width=0.8,
                    bottom=v,
                    color=_lighter(c, 0.6),
                    edgecolor=c,
                    hatch="///",
                    linewidth=0.8,
                )
                ticks.append(x)
                labels.append(str(n))
                x += 1
            centres.append((first + x - 1) / 2)
            names.append(m)
            x += 0.8
        ax.set_xticks(ticks, labels, fontsize=8)
        sec = ax.secondary_xaxis("bottom")
        sec.set_xticks(centres, names, rotation=25, ha="right", rotation_mode="anchor")
        sec.tick_params(axis="x", length=0, pad=16)
        for lab, m in zip(sec.get_xticklabels(), names, strict=True):
            lab.set_color(model_colour(m))
        ax.set_xlim(-0.8, x - 0.2)
        ax.set_ylabel("switches per item")
        ax.set_title(f"{w}: kernel context switches per item (small numbers under bars: workers)")
        ax.grid(axis="y", alpha=0.3)
    from matplotlib.patches import Patch

    fig.legend(
        [
            Patch(color="#555555"),
            Patch(facecolor=_lighter("#555555", 0.6), edgecolor="#555555", hatch="///"),
        ],
        ["voluntary (blocked, waited)", "involuntary (preempted)"],
        loc="outside right upper",
        fontsize=9,
    )
    return _save(fig, Path(out_dir), "ctx_switches"), notes


# ------------------------------------------------------------------ timelines and simulation
def _records(it: dict[str, Any]) -> list[dict[str, int]]:
    f = it.get("fields", ITEM_FIELDS)
    return [dict(zip(f, r, strict=False)) for r in it["records"]]


def _first_rep(data: Data, workload: str, model: str, workers: int) -> dict[str, Any] | None:
    reps = sorted(k[3] for k in data.items or {} if k[:3] == (workload, model, workers))
    return data.items[(workload, model, workers, reps[0])] if reps and data.items else None


def sequential_trace(data: Data, workload: str, workers: int) -> Any:
    """A simulator trace from the sequential model's per-item service times (first rep).

    The item records carry no I/O split, so service is start → finish including any file
    I/O; the run's own ``--trace`` (and its predicted rows) subtract it.
    """
    from cvbench.emulated_kernel.trace import parse_trace

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
    from cvbench.emulated_kernel.sim import simulate
    from cvbench.emulated_kernel.trace import pool_spec

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
    return "".join(ch if ch.isalnum() or ch in "-_" else "_" for ch in name)


def plot_predicted(doc: Any, out_dir: str | Path) -> tuple[list[Path], list[str]]:
    """The processes model's measured throughput vs the simulator's prediction per worker
    count: the gap is what pool start-up, pickling and IPC cost beyond pure scheduling."""
    from cvbench.emulated_kernel.trace import predict_processes

    data, notes = _split(doc)
    thr = _by_cell(data.rows, lambda r: r.get("throughput_per_s"))
    stored = _by_cell(data.predicted, lambda r: r.get("throughput_per_s"))
    workloads = [w for w in data.workloads if any(k[:2] == (w, "processes") for k in thr)]
    if not workloads:
        return [], notes + ["measured vs predicted: no usable processes rows"]
    fig = _figure(4.6 if len(workloads) <= 2 else 3.2 * math.ceil(len(workloads) / 2))
    axes = _grid(fig, len(workloads))
    c = model_colour("processes")
    for ax, w in zip(axes, workloads, strict=True):
        counts = sorted(k[2] for k in thr if k[:2] == (w, "processes"))
        meas = [thr[(w, "processes", n)] for n in counts]
        ax.errorbar(
            counts,
            [v[0] for v in meas],
            marker="o",
            capsize=2,
            color=c,
            linewidth=1.6,
            yerr=[[v[0] - v[1] for v in meas], [v[2] - v[0] for v in meas]],
            label="processes, measured",
        )
        pred = {k[2]: v[0] for k, v in stored.items() if k[:2] == (w, "processes")}
        cores = _cpu_count(data, w)
        source = f"by the run, eevdf, {cores} cores"
        if not pred:
            trace = sequential_trace(data, w, max(counts))
            source = f"eevdf, {cores} cores"
            if trace is None:
                notes.append(
                    f"measured vs predicted: {w}: no predicted rows and no sequential "
                    "items to build a trace from"
                )
            else:
                pred = {n: predict_processes(trace, n, cores).throughput_per_s for n in counts}
        if pred:
            xs = sorted(pred)
            ax.plot(
                xs,
                [pred[x] for x in xs],
                marker="s",
                linestyle="--",
                color=c,
                markerfacecolor="white",
                linewidth=1.6,
                label=f"processes, predicted ({source})",
            )
        seq = thr.get((w, "sequential", 1))
        if seq is not None:
            ax.axhline(
                seq[0],
                color=model_colour("sequential"),
                linestyle="-.",
                linewidth=1.2,
                label="sequential baseline",
            )
        ax.set_xticks(counts, [str(n) for n in counts])
        ax.set_ylim(bottom=0)
        ax.set_title(w)
        ax.set_xlabel("workers")
        ax.set_ylabel("throughput (items/s)")
        ax.grid(alpha=0.3)
    fig.suptitle("processes model: measured throughput vs the emulated kernel's prediction")
    _legend_right(fig, axes, "outside lower center")
    return _save(fig, Path(out_dir), "predicted"), notes


#: Chart name → function, in report order.
CHARTS: dict[str, Callable[[Any, str | Path], tuple[list[Path], list[str]]]] = {
    "scaling": plot_scaling,
    "latency": plot_latency,
    "lag": plot_lag,
    "switches": plot_switches,
    "timeline": plot_timeline,
    "predicted": plot_predicted,
}


def make_plots(doc: Any, out_dir: str | Path) -> tuple[list[Path], list[str]]:
    """Every chart of a results document into ``out_dir``: (files written, notes).

    PlotError when matplotlib is missing; any other failure of one chart becomes a note so a
    finished benchmark run never loses its results to a plotting bug.
    """
    _mpl()
    data = prepare(doc)
    paths: list[Path] = []
    notes = list(data.notes)
    for name, fn in CHARTS.items():
        try:
            p, n = fn(data, out_dir)
        except Exception as e:  # noqa: BLE001 - reported, never fatal
            notes.append(f"{name}: chart failed ({type(e).__name__}: {e})")
            continue
        paths += p
        notes += n
    return paths, notes
