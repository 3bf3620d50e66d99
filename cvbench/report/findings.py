"""The answer first: a few claims computed from the rows, each with its numbers.

Per workload: the fastest model (paired speedup and CI), the ones that cannot be told apart
from it, the cheapest in context switches, the most responsive. A claim is made only when its
95 % bootstrap CI separates from the runner-up's; otherwise the finding says they tie. Groups
marked as drift (a speedup no thread count can give) never win anything.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from cvbench.results.summary import (
    group_key,
    is_unsupported,
    limit_givers,
    speedup_limit,
    summarize_rows,
)
from cvbench.stats import bootstrap_ci

Key = tuple[str, str, int]


@dataclass(frozen=True)
class Estimate:
    key: Key
    median: float
    ci: tuple[float, float]

    @property
    def label(self) -> str:
        return f"{self.key[1]} ({self.key[2]}w)"


def _estimates(
    rows: Sequence[dict[str, Any]], keys: set[Key], value: Callable[[dict[str, Any]], Any]
) -> list[Estimate]:
    values: dict[Key, list[float]] = {}
    for r in rows:
        key = group_key(r)
        v = value(r)
        if key in keys and v is not None:
            values.setdefault(key, []).append(float(v))
    out = []
    for key, vals in values.items():
        ci = bootstrap_ci(vals) if len(vals) > 1 else None
        if ci is not None:
            out.append(Estimate(key, float(np.median(vals)), ci))
    return out


def _ranked(estimates: list[Estimate], bigger: bool) -> tuple[Estimate, list[Estimate], bool]:
    """The best, those whose CI overlaps the best's, and whether the best stands alone."""
    order = sorted(estimates, key=lambda e: -e.median if bigger else e.median)
    best = order[0]

    def overlaps(e: Estimate) -> bool:
        return e.ci[1] >= best.ci[0] if bigger else e.ci[0] <= best.ci[1]

    ties = [e for e in order[1:] if overlaps(e)]
    return best, ties, not ties and len(order) > 1


def _names(ties: list[Estimate], limit: int = 4) -> str:
    shown = ", ".join(e.label for e in ties[:limit])
    return shown + (f" and {len(ties) - limit} more" if len(ties) > limit else "")


def _ctx_per_item(r: dict[str, Any]) -> float | None:
    vol, invol, items = r.get("ctx_voluntary"), r.get("ctx_involuntary"), r.get("items")
    if vol is None or invol is None or not items:
        return None
    return (vol + invol) / items


def contention(rows: Sequence[dict[str, Any]]) -> list[str]:
    """The first finding when other processes loaded the CPUs during some rounds: every claim
    below is then partly about their load, not about the models."""
    rounds: dict[int, float] = {}
    for r in rows:
        if r.get("disturbed") is True and isinstance(r.get("round"), int):
            rounds[r["round"]] = max(rounds.get(r["round"], 0.0), float(r.get("others_cpu") or 0))
    if not rounds:
        return []
    total = len({r["round"] for r in rows if isinstance(r.get("round"), int)})
    return [
        f"contention: {len(rounds)} of {total} rounds ran beside other processes' load (up to "
        f"{max(rounds.values()):.2f} CPUs): speedups below are partly theirs; rerun on a quiet "
        "machine, or compare with `cvbench ab` (both sides see the same load)"
    ]


def findings(
    rows: Sequence[dict[str, Any]], predictions: dict[str, Any] | None = None
) -> list[str]:
    """One line per claim, plain text (the terminal, Markdown and HTML all use it).
    ``predictions``: the document's section of that name (the emulated kernel's lines)."""
    rows = [r for r in rows if r.get("ok") and not r.get("predicted") and not is_unsupported(r)]
    lines = _claims(rows)
    for workload in dict.fromkeys(r["workload"] for r in rows):
        lines += _kernel_lines(rows, workload, (predictions or {}).get(workload) or {})
    return lines


def _kernel_lines(rows: list[dict[str, Any]], workload: str, section: dict[str, Any]) -> list[str]:
    """Where the time went, the GIL convoy, the user op's GIL split, what more cores do."""
    from cvbench.emulated_kernel.predict.from_run import budget_line
    from cvbench.emulated_kernel.predict.in_run import convoy_line

    out = [budget_line(workload, rows), convoy_line(list(rows), workload)]
    split = section.get("gil_split", "")
    if split and not split.startswith("timed around"):
        out.append(f"{workload}: GIL split of the user function {split}")
    out.append(section.get("scaling_line"))
    errs = [
        v
        for v in section.get("validation", [])
        if v.get("out_of_sample") and v.get("error_pct") is not None
    ]
    if errs:
        shown = ", ".join(
            f"{v['model']} {v['workers']}w {v['error_pct']:+.0f} %"
            + ("*" if v.get("within_measured_ci") else "")
            for v in errs
        )
        inside = sum(bool(v.get("within_measured_ci")) for v in errs)
        legend = f" (*: inside the measured cell's 95 % CI, {inside} of {len(errs)})"
        out.append(
            f"{workload}: predicted from 1-worker costs vs measured: {shown}"
            + (legend if inside else "")
        )
    return [line for line in out if line]


def _speedup_limit(groups: list[dict[str, Any]], key: Key) -> int | None:
    for s in groups:
        if group_key(s) == key:
            return speedup_limit(s)
    return None


def _claims(rows: list[dict[str, Any]]) -> list[str]:
    summary = summarize_rows(rows)
    lines: list[str] = contention(rows)
    for workload in dict.fromkeys(s["workload"] for s in summary):
        groups = [s for s in summary if s["workload"] == workload]
        honest = {group_key(s) for s in groups if not s.get("drift")}
        drift = [f"{s['model']} ({s['workers']}w)" for s in groups if s.get("drift")]
        speed = _estimates(rows, honest, lambda r: r.get("speedup"))
        by = "paired speedup"
        if not speed:
            speed, by = _estimates(rows, honest, lambda r: r.get("throughput_per_s")), "items/s"
        if speed:
            best, ties, alone = _ranked(speed, bigger=True)
            unit = "x" if by == "paired speedup" else " items/s"
            text = (
                f"{workload}: fastest {best.label}, {by} {best.median:.2f}{unit} "
                f"(95% CI {best.ci[0]:.2f}-{best.ci[1]:.2f})"
            )
            limit = _speedup_limit(groups, best.key)
            if by == "paired speedup" and limit and best.median > limit:
                # the CI is not wholly above it (that is drift_note's), but the median is
                text += (
                    f" — above the {limit}x that {limit_givers(limit)} can give: part of it is the "
                    "machine's speed changing between cells, not the model"
                )
            if ties:
                text += f"; not distinguishable from it: {_names(ties)}"
            elif not alone:
                text += " (the only model measured)"
            lines.append(text)
        ctx = _estimates(rows, honest, _ctx_per_item)
        if len(ctx) > 1:
            best, ties, alone = _ranked(ctx, bigger=False)
            if alone:
                lines.append(
                    f"{workload}: fewest context switches {best.label}, {best.median:.2f} "
                    f"per item (CI {best.ci[0]:.2f}-{best.ci[1]:.2f})"
                )
            else:
                lines.append(
                    f"{workload}: fewest context switches: {best.label} "
                    f"({best.median:.2f} per item), tied with {_names(ties)} (CIs overlap)"
                )
        lag = _estimates(rows, honest, lambda r: r.get("lag_p99_ms"))
        if len(lag) > 1:
            best, ties, alone = _ranked(lag, bigger=False)
            tail = "" if alone else f", tied with {_names(ties)} (CIs overlap)"
            lines.append(
                f"{workload}: most responsive {best.label}, heartbeat lag p99 "
                f"{best.median:.2f} ms (CI {best.ci[0]:.2f}-{best.ci[1]:.2f}){tail}"
            )
        if drift:
            lines.append(
                f"{workload}: drift, not a result: {', '.join(drift)} "
                "(speedup CI above what their threads can give; rerun on a quieter machine)"
            )
    return lines
