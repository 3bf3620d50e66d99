"""Rich tables, one per concern. Medians over repetitions; the best value per workload is
highlighted, unstable values (pyperf's rule) carry a ⚠."""

from __future__ import annotations

import statistics
from collections.abc import Callable
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from cvbench.stats import Summary

Column = tuple[str, str, Callable[[dict[str, Any]], Any], str | None]  # header, key, get, best


def _summary(s: dict[str, Any], name: str) -> Summary | None:
    return s["metrics"].get(name)


def _med(name: str, scale: float = 1.0) -> Callable[[dict[str, Any]], Summary | None]:
    def get(s: dict[str, Any]) -> Any:
        v = _summary(s, name)
        return None if v is None else (v, scale)

    return get


def _per_item(name: str) -> Callable[[dict[str, Any]], Any]:
    def get(s: dict[str, Any]) -> Any:
        v = _summary(s, name)
        return None if v is None or not s.get("items") else (v, 1.0 / s["items"])

    return get


def _value(cell: Any) -> float | None:
    if cell is None:
        return None
    if isinstance(cell, tuple):
        return cell[0].median * cell[1]
    return cell if isinstance(cell, int | float) else None


def _text(cell: Any, digits: int) -> str:
    if cell is None:
        return "–"
    if isinstance(cell, tuple):
        s, scale = cell
        v = s.median * scale
        txt = f"{v:,.{digits}f}" if abs(v) < 1e6 else f"{v:.3g}"
        return txt + (" ⚠" if s.unstable else "")
    return str(cell)


def _model_label(s: dict[str, Any]) -> str:
    label = (
        escape(str(s["model"]))
        + (" ¹" if s.get("inline") else "")
        + (" ‡" if s.get("drift") else "")
    )
    return label if s["ok"] else f"[red]{label} ✗[/]"


def _table(
    title: str,
    summary: list[dict[str, Any]],
    cols: list[tuple[str, Any, int, str | None]],
    caption: str | None = None,
) -> Table:
    table = Table(title=title, caption=caption, title_justify="left", caption_justify="left")
    for header in ("workload", "model", "workers"):
        table.add_column(header, justify="right" if header == "workers" else "left")
    for header, _, _, _ in cols:
        table.add_column(header, justify="right")
    best: dict[tuple[str, int], float] = {}
    for s in summary:
        if not s["ok"]:
            continue
        for ci, (_, get, _, rule) in enumerate(cols):
            v = _value(get(s))
            if v is None or rule is None:
                continue
            key = (s["workload"], ci)
            if key not in best or (v > best[key] if rule == "max" else v < best[key]):
                best[key] = v
    for s in summary:
        cells = []
        for ci, (_, get, digits, rule) in enumerate(cols):
            cell = get(s)
            text = _text(cell, digits)
            v = _value(cell)
            if rule and s["ok"] and v is not None and best.get((s["workload"], ci)) == v:
                text = f"[bold green]{text}[/]"
            cells.append(text)
        table.add_row(escape(str(s["workload"])), _model_label(s), str(s["workers"]), *cells)
    return table


def _ok(s: dict[str, Any]) -> str:
    return "yes" if s["ok"] else "; ".join(s["errors"])[:60] or "no"


def _ci(s: dict[str, Any]) -> str:
    ci = s.get("throughput_ci")
    return "–" if not ci else f"{ci[0]:,.1f}–{ci[1]:,.1f}"


def _speedup_ci(s: dict[str, Any]) -> str:
    ci = s.get("speedup_ci")
    return "–" if not ci else f"{ci[0]:.2f}–{ci[1]:.2f}"


FOOT = (
    "¹ one OS thread, so one core at most: inline cooperative models, and `kernel`, the live "
    "emulated kernel (greenlets preempted by a timer signal: one emulated CPU). "
    "⚠ unstable: std ≥ 10 % "
    "of the mean or min/max ≥ 50 % from it. ‡ drift, not a result: a speedup CI above what "
    "the model's threads can give. Speedup: median of each round's throughput over the same "
    "round's sequential (paired). Best per workload in green."
)


def throughput_table(summary: list[dict[str, Any]]) -> Table:
    cols = [
        ("wall s", _med("wall_s"), 3, "min"),
        ("items/s", _med("throughput_per_s"), 1, "max"),
        ("95% CI items/s", lambda s: _ci(s), 0, None),
        ("speedup ×", _med("speedup"), 2, "max"),
        ("95% CI ×", lambda s: _speedup_ci(s), 0, None),
        ("rounds", lambda s: str(s.get("rounds", s["repetitions"])), 0, None),
        ("start-up s", _med("startup_s"), 3, None),
        ("CPU user s", _med("cpu_user_s"), 3, None),
        ("CPU sys s", _med("cpu_sys_s"), 3, None),
        ("ok", _ok, 0, None),
    ]
    return _table("Throughput (median of rounds)", summary, cols, FOOT)


def switches_table(summary: list[dict[str, Any]]) -> Table:
    def user(s: dict[str, Any]) -> Any:
        v = _summary(s, "user_switches")
        return "kernel →" if v is None else (v, 1.0)

    cols = [
        ("ctx vol", _med("ctx_voluntary"), 0, "min"),
        ("ctx invol", _med("ctx_involuntary"), 0, "min"),
        ("vol/item", _per_item("ctx_voluntary"), 2, None),
        ("invol/item", _per_item("ctx_involuntary"), 2, None),
        ("user switches", user, 0, None),
        ("preemptions", _med("preemptions"), 0, None),
        ("migrations", _med("migrations"), 0, "min"),
        ("run-queue wait ms", _med("runqueue_wait_s", 1e3), 1, "min"),
    ]
    return _table(
        "Context switches (kernel: all threads + child processes; user: framework task steps)",
        summary,
        cols,
        "threads/processes have no user-level scheduler: their switches are the kernel's. "
        "kernel: user switches = dispatches, preemptions = timer/wake-up preemptions. "
        "The heartbeat's own wake-ups are included.",
    )


def latency_table(summary: list[dict[str, Any]]) -> Table:
    cols = [
        ("queue p50 ms", _med("queue_p50_ms"), 2, "min"),
        ("service p50 ms", _med("service_p50_ms"), 2, "min"),
        ("p50 ms", _med("latency_p50_ms"), 1, "min"),
        ("p90 ms", _med("latency_p90_ms"), 1, "min"),
        ("p99 ms", _med("latency_p99_ms"), 1, "min"),
        ("p99.9 ms", _med("latency_p999_ms"), 1, "min"),
        ("max ms", _med("latency_max_ms"), 1, "min"),
        ("deadline misses", _med("deadline_misses"), 0, "min"),
    ]
    return _table(
        "Per-item latency (arrival → done; batch items all arrive at the start)", summary, cols
    )


def responsiveness_table(summary: list[dict[str, Any]]) -> Table:
    cols = [
        ("lag p50 ms", _med("lag_p50_ms"), 3, "min"),
        ("lag p99 ms", _med("lag_p99_ms"), 2, "min"),
        ("lag max ms", _med("lag_max_ms"), 1, "min"),
    ]
    return _table(
        "Responsiveness: lateness of a 1 ms heartbeat in the model's own scheduling domain",
        summary,
        cols,
        "Cooperative models cannot run the heartbeat during an item: lag ≈ one item's service.",
    )


def print_all(console: Console, summary: list[dict[str, Any]], detail: bool = True) -> None:
    console.print(throughput_table(summary))
    if detail:
        console.print(switches_table(summary))
        console.print(latency_table(summary))
        console.print(responsiveness_table(summary))


def prediction_table(rows: list[dict[str, Any]]) -> Table | None:
    """Every model the emulated kernel predicted (predicted=true rows) beside its measurement."""
    predicted = [r for r in rows if r.get("predicted")]
    if not predicted:
        return None
    table = Table(
        title="Emulated kernel (eevdf simulator + GIL + transfer costs) vs measured",
        caption="Predictions replay the sequential model's per-item service, split into GIL-held "
        "and GIL-released time (timed around the cv2 calls; a user --op: one profiled pass, or "
        "assumed -- see the notes), with each model's per-item parent and worker costs measured "
        "in its own smallest-worker cell (costs column; the 1-worker cell predicts 2 workers out "
        "of sample), the calibration where it did not run; pool start-up is left out. "
        "error = (predicted - measured) / measured, as the rows' prediction_error_pct.",
        title_justify="left",
        caption_justify="left",
    )
    for header in ("workload", "model", "workers", "predicted items/s", "measured items/s",
                   "error", "bottleneck", "costs"):  # fmt: skip
        table.add_column(header, justify="left" if header in ("workload", "model") else "right")
    for p in predicted:
        measured = [
            r["throughput_per_s"]
            for r in rows
            if not r.get("predicted")
            and r.get("ok")
            and r["model"] == p["model"]
            and r["workload"] == p["workload"]
            and r["workers"] == p["workers"]
            and r.get("throughput_per_s")
        ]
        med = statistics.median(measured) if measured else None
        pred = p.get("throughput_per_s")
        err = "–" if not med or not pred else f"{(pred - med) / med:+.0%}"
        notes = str(p.get("notes") or "")
        bottleneck = notes.split(";")[0].removeprefix("bottleneck ") if notes else "–"
        table.add_row(
            escape(str(p["workload"])),
            escape(str(p["model"])),
            str(p["workers"]),
            "–" if not pred else f"{pred:,.1f}",
            "–" if med is None else f"{med:,.1f}",
            err,
            bottleneck,
            str(p.get("cost_source") or "–").removeprefix("measured: "),
        )
    return table
