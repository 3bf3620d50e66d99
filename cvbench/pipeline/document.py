"""The results document of a run: rows, summary, environment, per-item records and what the
run learnt on the way (overhead, rounds, stop reason, findings). Built here and only here;
every exporter (JSON, Markdown, HTML, charts) renders this one dict."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from cvbench.report.findings import findings
from cvbench.results.schema import SCHEMA_VERSION
from cvbench.results.summary import summarize_rows

if TYPE_CHECKING:
    from cvbench.runner import RunResult


def run_document(result: RunResult, final: bool = True) -> dict[str, Any]:
    """The document; ``final=False`` (written during a run) leaves out the summary and the
    findings, which bootstrap every group and would cost a quick run half its time if
    redone every few seconds — ``complete: false`` says they are still to come."""
    return {
        "schema_version": SCHEMA_VERSION,
        "environment": result.env,
        "harness_overhead": result.overhead,
        "observer_effect": result.observer,
        "parallel_ceiling": result.ceiling,
        "prep_s": result.prep_s,
        "interrupted": result.interrupted,
        "seed": result.seed,
        "rounds": result.rounds,
        "stop_reason": result.stop_reason,
        "budget_note": result.budget_note,
        "round_loads": result.round_loads,
        "not_converged": result.not_converged,
        "findings": findings(result.rows, result.predictions) if final else [],
        "predictions": result.predictions,
        "failures": result.failures,  # one per failed cell: its line and full tracebacks
        "thread_errors": result.thread_errors,
        # processes the user's op started and left running, ended with the run (their pids)
        "op_processes_killed": result.strays_killed,
        "complete": final,
        "rows": result.rows,
        "summary": summarize_rows(result.rows) if final else [],
        "items": result.items,
    }
