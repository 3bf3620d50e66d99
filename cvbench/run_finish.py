"""After the rounds: rows in the order a reader looks for them, drift notes on the groups
that show it, the emulated kernel's predictions (and the machine's calibration for them), the
harness overhead, observer effect and parallel ceiling (``runner.py`` calls these)."""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Any

from cvbench.emulated_kernel.predict.in_run import predict_workload
from cvbench.overhead import observer_effects, overhead_figures, walls
from cvbench.results.summary import drift_note, summarize_rows

if TYPE_CHECKING:
    from cvbench.emulated_kernel.predict.costs import MachineCosts
    from cvbench.run_state import RunResult, WorkloadState
    from cvbench.runner import Runner


def finish_run(run: Runner) -> None:
    """Rows in sweep order, drift notes, the emulated kernel's predictions, overhead.

    Rows ran in shuffled order (their round and position columns keep it); files and tables
    list them by workload, model and workers, as a reader looks for them.
    """
    result = run.result
    sweep_sort(result, list(run.states), [m.name for m in run.config.models])
    note_drift(result.rows)
    for workload, state in run.states.items():
        # a Ctrl-C asks for the results now, not more work; a stuck op must not run again
        if not result.interrupted and not run.abandoned:
            _predict(run, workload, state)
        figures = overhead_figures(walls(state.overhead_pairs), state.overhead_pairs)
        if figures is not None:
            result.overhead[workload] = figures
    result.observer = observer_effects(result.rows)
    result.ceiling = run.ceilings.summary(result.rows)


def _predict(run: Runner, workload: str, state: WorkloadState) -> None:
    """Trace, predicted rows, budgets and core-count lines (predict/in_run.py), once."""
    if workload in run.predicted:
        return  # already made (the run is being finished from the watchdog's thread)
    predict_workload(
        result=run.result,
        config=run.config,
        workload=workload,
        state=state,
        calibration=run.calibration,
        calibration_error=run.calibration_error,
        base=dict(run.columns(workload), error=None, inline=False, status="ok"),
        chunksize=run.chunksize,
        profile=functools.partial(run.profiled_pass, workload),
        corun=run.ceilings.slowdown(workload),
        shipped=run.shipped.get(workload),
    )
    run.predicted.add(workload)


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


def shipping(payloads: Any, sizes: list[int]) -> tuple[dict[int, Any] | None, str]:
    """The job's items shipped to a lone process worker in each chunk size, or why not."""
    from cvbench.measure.shipping import ship_costs

    try:
        return ship_costs(payloads, sizes), ""
    except Exception as exc:  # noqa: BLE001 - no measurement: the prediction says why
        return None, f"not measured: {type(exc).__name__}: {exc}"


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
