"""How a history reads in a terminal: one row per group with a sparkline, where each change
starts, and the one-line verdict. The change points themselves: cvbench/analysis/history.py."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from cvbench.analysis.history import History, Trend

_BLOCKS = "▁▂▃▄▅▆▇█"
SPARK_WIDTH = 40


def sparkline(values: Sequence[float | None], width: int = SPARK_WIDTH) -> str:
    """One block per file (files pooled by median past ``width``); a gap where one is missing."""
    if len(values) > width:
        edges = [round(i * len(values) / width) for i in range(width + 1)]
        pooled: list[float | None] = []
        for a, b in zip(edges, edges[1:], strict=False):
            present = sorted(v for v in values[a:b] if v is not None)
            pooled.append(present[len(present) // 2] if present else None)
        values = pooled
    present = [v for v in values if v is not None]
    if not present:
        return ""
    lo, hi = min(present), max(present)
    span = hi - lo
    top = len(_BLOCKS) - 1
    return "".join(
        " " if v is None else _BLOCKS[0 if span == 0 else round((v - lo) / span * top)]
        for v in values
    )


def _num(value: float) -> str:
    return f"{value:,.4g}"


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{value:+.1f} %"


def _changes_cell(trend: Trend) -> str:
    return "\n".join(
        f"#{c.file.index + 1} {Path(c.file.source).name} {_pct(c.change_pct)}"
        for c in trend.changes
    )


_VERDICT_STYLE = {"regression": "bold red", "improvement": "green", "same": ""}


def history_table(history: History) -> Table:
    """Compact: one row per group with its sparkline; change points as file + percent."""
    table = Table(
        title=f"{history.metric} ({history.unit}, "
        f"{'bigger' if history.bigger_is_better else 'smaller'} is better) over "
        f"{len(history.files)} files, oldest → newest",
        title_justify="left",
    )
    for name, kw in (
        ("group", {}),
        ("files", {"justify": "right"}),
        ("first → last", {"justify": "right"}),
        ("trend", {"no_wrap": True}),
        ("change points (file #, name, change)", {}),
        ("newest segment", {}),
    ):
        table.add_column(name, **kw)
    for t in history.trends:
        vals = t.present
        table.add_row(
            escape(t.name),  # a model named "[/]" is text, not Rich markup
            str(len(vals)),
            f"{_num(vals[0])} → {_num(vals[-1])}",
            sparkline(t.values),
            _changes_cell(t) or "none",
            t.verdict,
            style=_VERDICT_STYLE.get(t.verdict, "dim"),
        )
    return table


def change_lines(history: History) -> list[str]:
    """Where each change starts: file, timestamp, the levels before and after."""
    lines = []
    for t in history.trends:
        for c in t.changes:
            lines.append(
                f"{t.name}: from {c.file.source} ({c.file.timestamp}, file "
                f"{c.file.index + 1}/{len(history.files)}): {_num(c.before)} → {_num(c.after)} "
                f"{history.unit} ({_pct(c.change_pct)}, {'worse' if c.worse else 'better'})"
            )
    return lines


def summary_line(history: History) -> str:
    gated = sum(t.gated for t in history.trends)
    scope = f"{gated} gated group(s) over {len(history.files)} files"
    limit = f"threshold {history.threshold * 100:g} %"
    if not history.regressions:
        return f"history: no regression in the newest segment of {scope} ({limit})"
    named = ", ".join(
        f"{t.name} {_pct(t.changes[-1].change_pct)} since {Path(t.changes[-1].file.source).name}"
        for t in history.regressions
    )
    return f"history: {len(history.regressions)} regression(s) in {scope} ({limit}): {named}"


def print_history(console: Console, history: History) -> None:
    """The table, the change lines and the notes (the verdict line comes last, from the caller)."""
    console.print(history_table(history))
    for line in change_lines(history):
        console.print(line, soft_wrap=True, markup=False, highlight=False)
    print_notes(console, history.notes)


def print_notes(console: Console, notes: Sequence[str]) -> None:
    for note in notes:
        console.print(f"note: {note}", style="dim", soft_wrap=True, markup=False)
