"""What a round decides and marks, apart from running it: how many rounds the budget affords
(a plan said in words), each row's paired speedup, the load other processes put on the round,
and the digest proof against the reference model's output."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from cvbench.config import RunConfig
from cvbench.run_state import Cell, WorkloadState


def plan_rounds(
    cells: list[Cell], cfg: RunConfig, left_s: float, note: Callable[[str], None]
) -> tuple[int, str]:
    """After the warm-up: how many rounds the --max-time budget (counted from the start of
    the run, warm-up included) affords at the cost each cell just showed, said through
    ``note``, never overrun silently; a fixed --repeat is kept, with its estimate. Returns
    (rounds, the budget note when that is fewer than a CI needs)."""
    fixed = cfg.repeat is not None
    live = [c for c in cells if not c.broken]
    per_round_s = sum(c.last_cost_s for c in live)
    if not live or per_round_s <= 0:
        return (cfg.repeat or 0) if fixed else cfg.max_rounds, ""
    if fixed:
        rounds = cfg.repeat or 0
        note(
            f"after the warm-up: about {rounds * per_round_s:.0f} s left ({rounds} rounds "
            f"of {len(live)} cells, ~{per_round_s:.1f} s each)"
        )
        return rounds, ""
    by_time = int(left_s // per_round_s)
    rounds = max(1, min(cfg.max_rounds, by_time))
    if rounds < cfg.min_rounds:
        what = (
            f"the --max-time budget of {cfg.max_time_s:g} s affords"
            if by_time < cfg.max_rounds
            else "the bound on item records a run keeps in memory allows"  # config/records.py
        )
        text = (
            f"{what} {rounds} round(s) of {len(live)} cells (~{per_round_s:.1f} s each), "
            f"fewer than {cfg.min_rounds}: "
            + ("raise --max-time or " if by_time < cfg.max_rounds else "")
            + "name fewer --models/--workers for CIs"
        )
        note(text)
        return rounds, text
    note(
        f"after the warm-up: at most ~{min(left_s, rounds * per_round_s):.0f} s left "
        f"(up to {rounds} rounds of {len(live)} cells, ~{per_round_s:.1f} s each; "
        f"--max-time {cfg.max_time_s:g} s)"
    )
    return rounds, ""


def check_digest(row: dict[str, Any], items: list[str], state: WorkloadState) -> None:
    """Mark a row whose output differs from the reference; rows that ran before the
    reference existed are checked when it arrives."""
    state.pending.append((row, items))
    if state.reference is None:
        return
    for pending, digests in state.pending:
        if pending["output_digest"] != state.reference and pending["ok"]:
            differ = [
                i
                for i, (a, b) in enumerate(zip(digests, state.reference_items, strict=False))
                if a != b
            ]
            shown = ", ".join(map(str, differ[:5])) + (" …" if len(differ) > 5 else "")
            pending.update(ok=False, status="failed")
            pending["error"] = (
                f"output differs from the reference model's at {len(differ)} of "
                f"{len(digests)} items ({shown}): digest {pending['output_digest']} vs "
                f"{state.reference}; a non-deterministic op, or a model that did other work"
            )
    state.pending.clear()


def mark_load(rows: list[dict[str, Any]], round_index: int, load: dict[str, Any]) -> None:
    """Every row of the round carries the load other processes put on the CPUs."""
    for row in rows:
        if row.get("round") != round_index or row.get("predicted"):
            continue
        row["others_cpu"], row["disturbed"] = load["others_cpu"], load["disturbed"]
        if load["disturbed"]:
            note = f"disturbed: other processes used {load['others_cpu']:.2f} CPUs"
            row["notes"] = "; ".join(filter(None, [row.get("notes"), note]))


def pair_round(rows: list[dict[str, Any]], round_index: int) -> None:
    """speedup = throughput / the same round's sequential throughput, per workload."""
    same = [r for r in rows if r.get("round") == round_index]
    reference = {
        r["workload"]: r["throughput_per_s"]
        for r in same
        if r["model"] == "sequential" and r["ok"] and r["throughput_per_s"]
    }
    for row in same:
        ref = reference.get(row["workload"])
        if ref and row["ok"] and row["throughput_per_s"]:
            row["speedup"] = row["throughput_per_s"] / ref
