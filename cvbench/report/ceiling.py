"""The parallel ceiling in words (measured by ``cvbench/ceiling.py``): the terminal's line
and the HTML report's."""

from __future__ import annotations

from typing import Any

from cvbench.report.words import count

SHOWN = 6  # models named on the line, closest to the ceiling first


def ceiling_line(workload: str, c: dict[str, Any]) -> str:
    """One output line: the ceiling and how close each model at that worker count gets."""
    if "error" in c:
        return f"parallel ceiling on {workload}: not measured ({c['error']})"
    ci = c.get("ci")
    shares = sorted(c.get("of_ceiling_pct", {}).items(), key=lambda kv: -kv[1])
    return (
        f"parallel ceiling on {workload} at {c['workers']} workers: {c['speedup']:.2f}x"
        + (f" (95 % CI {ci[0]:.2f}-{ci[1]:.2f}" if ci else " (no CI")
        + f", {count(c['pairs'], 'pair')}: {c['workers']} copies of the bare loop at once"
        + " vs one alone)"
        + (" — of it: " + ", ".join(f"{m} {p:.0f} %" for m, p in shares[:SHOWN]) if shares else "")
        + (f", … ({len(shares) - SHOWN} more in the JSON)" if len(shares) > SHOWN else "")
    )
