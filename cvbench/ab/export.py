"""The A/B job's files: one CSV with both sides' rows (``side`` and ``ab_round`` columns),
the JSON (verdicts, sides, rows), the Markdown job summary, github-action-benchmark's JSON."""

from __future__ import annotations

import json
from typing import Any

from cvbench.ab.job import AbResult, CellState
from cvbench.results import gab, write
from cvbench.results.write import md_escape

ICONS = {"slower": "🔴", "faster": "🟢", "same": "⚪", "inconclusive": "🟡",
         "output changed": "🟠", "failed": "❌", "missing": "➖"}  # fmt: skip


def ratio_text(c: CellState) -> tuple[str, str]:
    v = c.verdict
    if v is None or v.ratio is None:
        return "", ""
    ci = f"{v.ci[0]:.3f}–{v.ci[1]:.3f}" if v.ci else ""
    return f"{v.ratio:.3f}", ci


def cells_doc(result: AbResult) -> list[dict[str, Any]]:
    out = []
    for c in result.cells.values():
        v = c.verdict
        out.append(
            {
                "cell": c.name,
                "verdict": c.label,
                "ratio": v.ratio if v else None,
                "ci": list(v.ci) if v and v.ci else None,
                "median_ratio": v.median_ratio if v else None,
                "rounds": len(c.log_ratios),
                "log_ratios": c.log_ratios,
                "note": c.note,
            }
        )
    return out


def json_text(result: AbResult) -> str:
    s = result.settings
    doc = {
        "schema_version": 1,
        "kind": "cvbench-ab",
        "ab": {
            "threshold": s.threshold,
            "confidence": s.confidence,
            "min_rounds": s.min_rounds,
            "max_rounds": s.max_rounds,
            "max_time_s": s.max_time_s,
            "seed": s.seed,
            "rounds": result.rounds,
            "stop_reason": result.stop_reason,
            "interrupted": result.interrupted,
            "startup_s": result.startup_s,
            "wall_s": result.wall_s,
            "restarts": result.restarts,
            "cpu_speed": result.speed,
            "cells": cells_doc(result),
        },
        "sides": result.sides,
        "rows": result.rows,
    }
    return json.dumps(doc, default=str)


def markdown_text(result: AbResult) -> str:
    s = result.settings
    base, head = result.sides.get("base", {}), result.sides.get("head", {})
    slower = result.slower
    head_line = (
        f"**{len(slower)} cell(s) slower**" if slower else "**no cell slower**"
    ) + f" (threshold ±{s.threshold:.1%}, {s.confidence:.0%} CI)"
    lines = [
        "## cvbench ab: base vs head, interleaved in one job",
        "",
        f"- base: {md_escape(base.get('description', ''))}"
        f" (Python {base.get('environment', {}).get('python', '?')})",
        f"- head: {md_escape(head.get('description', ''))}"
        f" (Python {head.get('environment', {}).get('python', '?')})",
        f"- {head_line}; {result.rounds} round(s), stopped: {md_escape(result.stop_reason)}; "
        f"job {result.wall_s:.0f} s (start-up {result.startup_s:.0f} s)",
        *(
            [f"- ⚠ CPU speed: {md_escape(result.speed['message'])}"]
            if (result.speed or {}).get("status") == "warn"
            else []
        ),
        "",
        "| cell | head/base time | CI | verdict | rounds | note |",
        "|---|---:|---|---|---:|---|",
    ]
    for c in result.cells.values():
        ratio, ci = ratio_text(c)
        lines.append(
            f"| {md_escape(c.name)} | {ratio} | {ci} | {ICONS.get(c.label, '')} {c.label} "
            f"| {len(c.log_ratios)} | {md_escape(c.note)} |"
        )
    lines += [
        "",
        "Ratio = head's wall time over base's, Hodges-Lehmann estimate of the paired per-round "
        "ratios (each round runs both sides back to back, in counterbalanced order); CI = exact "
        "Wilcoxon signed-rank interval. slower/faster: the CI lies wholly beyond the threshold; "
        "same: wholly inside it; inconclusive: neither within the budget.",
        "",
    ]
    return "\n".join(lines)


def csv_text(result: AbResult) -> str:
    return write.csv_text(result.rows)


def gab_text(result: AbResult, metric: str) -> str:
    """The head side's medians (the commit under test), as `cvbench run --gab` writes them."""
    return gab.gab_text([r for r in result.rows if r.get("side") == "head"], metric)
