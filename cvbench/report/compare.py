"""How a comparison reads: the terminal table, the Markdown for a CI job summary, and the
one-line verdict. The judgement itself lives in cvbench/analysis/gate.py."""

from __future__ import annotations

import math

from rich.markup import escape
from rich.table import Table

from cvbench.analysis.gate import Comparison, GroupResult
from cvbench.results.write import md_escape


def fmt_value(v: float | None) -> str:
    if v is None:
        return "–"
    if v != 0 and (abs(v) >= 1e6 or abs(v) < 1e-3):
        return f"{v:.3g}"
    return f"{v:,.0f}" if abs(v) >= 1000 else f"{v:.4g}"


def fmt_ratio(c: Comparison, g: GroupResult) -> str:
    if g.ratio is None:
        return "–"
    if not math.isfinite(g.ratio):
        return "∞"
    pct = c.change_pct(g)
    return f"{g.ratio:.3f} ({pct:+.1f} %)" if pct is not None else f"{g.ratio:.3f}"


def fmt_ci(g: GroupResult) -> str:
    if g.ci is None:
        return "–"
    return "–".join("∞" if not math.isfinite(x) else f"{x:.3f}" for x in g.ci)


def fmt_p(g: GroupResult) -> str:
    if g.p is None:
        return "–"
    return "<0.001" if g.p < 0.001 else f"{g.p:.3f}"


def verdict_text(g: GroupResult) -> str:
    return f"{g.verdict} ({g.note})" if g.note else g.verdict


def describe_rule(c: Comparison) -> str:
    """One sentence that says exactly what the verdicts mean, for the report footer."""
    t = c.threshold * 100
    what = f"{c.metric}" + (" relative to sequential" if c.normalize == "sequential" else "")
    direction = "bigger" if c.bigger_is_better else "smaller"
    limit = (
        f"the group's threshold (at least {t:g} %, raised to its noise floor: --threshold auto)"
        if c.auto
        else f"{t:g} %"
    )
    paired = (
        " Values are paired with the same round's sequential run where the files have rounds."
        if c.normalize == "sequential"
        else ""
    )
    return (
        f"{what} ({direction} is better). Regression/improvement: the median moved more than "
        f"{limit} (as a slowdown factor) AND Mann-Whitney p < {c.alpha:g} or the 95 % "
        "bootstrap CI of the ratio lies entirely beyond it; one repetition: threshold only."
        + paired
    )


def summary_line(c: Comparison) -> str:
    if not c.regressions:
        return f"no regression in {c.metric} ({len(c.improvements)} improvement(s))"
    parts = []
    for g in c.regressions:
        pct = c.change_pct(g)
        parts.append(f"{g.name} ({'∞' if pct is None else f'{pct:+.1f} %'})")
    return f"{len(parts)} regression(s) in {c.metric}: {', '.join(parts)}"


def markdown_text(c: Comparison, base: str = "base", current: str = "current") -> str:
    """A table for $GITHUB_STEP_SUMMARY (GitHub renders it)."""
    icon = {"regression": "🔴", "improvement": "🟢", "disturbed": "🟡"}
    lines = [
        f"## cvbench compare: {c.metric}",
        "",
        f"`{md_escape(base)}` → `{md_escape(current)}`",
        "",
        "| workload | model | workers | base | current | ratio | 95 % CI | p | verdict |",
        "|---|---|---:|---:|---:|---:|---|---:|---|",
    ]
    for g in c.groups:
        verdict = (icon.get(g.verdict, "") + " " + verdict_text(g)).strip()
        lines.append(
            f"| {md_escape(g.workload)} | {md_escape(g.model)} | {g.workers} "
            f"| {fmt_value(g.base)} | {fmt_value(g.current)} | {fmt_ratio(c, g)} "
            f"| {fmt_ci(g)} | {fmt_p(g)} | {md_escape(verdict)} |"
        )
    lines += ["", f"**{summary_line(c)}**", "", describe_rule(c), ""]
    return "\n".join(lines)


_VERDICT_STYLE = {
    "regression": "bold red",
    "improvement": "green",
    "missing": "yellow",
    "disturbed": "yellow",
}


def comparison_table(c: Comparison) -> Table:
    title = f"cvbench compare: {c.metric}" + (
        " relative to sequential" if c.normalize == "sequential" else ""
    )
    table = Table(title=title)
    for name, justify in (
        ("workload", "left"),
        ("model", "left"),
        ("workers", "right"),
        ("base", "right"),
        ("current", "right"),
        ("ratio", "right"),
        ("95 % CI", "left"),
        ("p", "right"),
        ("threshold", "right"),
        ("verdict", "left"),
    ):
        table.add_column(name, justify=justify)
    for g in c.groups:
        style = _VERDICT_STYLE.get(g.verdict)
        verdict = escape(verdict_text(g))
        table.add_row(
            escape(g.workload),
            escape(g.model),
            str(g.workers),
            fmt_value(g.base),
            fmt_value(g.current),
            fmt_ratio(c, g),
            fmt_ci(g),
            fmt_p(g),
            "–" if g.threshold is None else f"{g.threshold:.0%}",
            f"[{style}]{verdict}[/]" if style else verdict,
        )
    return table
