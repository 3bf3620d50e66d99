"""After the rounds: rows in the order a reader looks for them, drift notes on the groups
that show it, and the machine's calibration for the predictions (``runner.py`` calls these
with the run's result)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from cvbench.results.summary import drift_note, summarize_rows

if TYPE_CHECKING:
    from cvbench.emulated_kernel.predict.costs import MachineCosts
    from cvbench.run_state import RunResult


def sweep_sort(result: RunResult, workloads: list[str], models: list[str]) -> None:
    """Rows and item records by workload, model, workers and round: they ran in shuffled order
    (their round and position columns keep it); files and tables list them as a reader looks
    for them."""

    def sweep_order(row: dict[str, Any]) -> tuple:
        w, m = row["workload"], row["model"]
        return (
            workloads.index(w) if w in workloads else len(workloads),
            models.index(m) if m in models else len(models),
            row["workers"],
            -1 if row.get("round") is None else row["round"],
        )

    result.rows.sort(key=sweep_order)
    result.items.sort(key=sweep_order)


def note_drift(rows: list[dict[str, Any]]) -> None:
    """A group whose speedup CI says drift, not a result, says so in each measured row."""
    for s in summarize_rows(rows):
        note = drift_note(s)
        if note is None:
            continue
        for row in rows:
            same = (row["workload"], row["model"], row["workers"])
            if same == (s["workload"], s["model"], s["workers"]) and not row.get("predicted"):
                row["notes"] = "; ".join(filter(None, [row.get("notes"), note]))


def calibration(env: dict[str, Any]) -> tuple[MachineCosts | None, str]:
    """The machine's transfer and offload costs (kept in ``env``), or why there are none."""
    from cvbench.measure.costs import calibrate

    try:
        costs = calibrate()
    except Exception as exc:  # noqa: BLE001 - no calibration: predictions say why
        error = f"calibration failed: {type(exc).__name__}: {exc}"
        env["calibration"] = {"error": error}
        return None, error
    env["calibration"] = costs.to_dict()
    return costs, ""
