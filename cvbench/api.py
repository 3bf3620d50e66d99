"""The Python API: `cvbench.run(...)` and `cvbench.compare(...)`, returning plain objects.

`run` builds the same RunOptions as `cvbench run` and goes through the same validation and
pipeline (cvbench/config, cvbench/pipeline) without the CLI; bad input raises ValueError
(ConfigError) with the one-line message the command prints.
"""

from __future__ import annotations

import asyncio
import dataclasses
import inspect
import sys
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cvbench.config.options import RunOptions


@dataclass
class Results:
    """What one run measured: rows (one dict per repetition, the CSV's columns), the summary
    per workload x model x workers, the findings, the environment."""

    rows: list[dict[str, Any]]
    summary: list[dict[str, Any]]
    findings: list[str]
    environment: dict[str, Any] = field(default_factory=dict)
    rounds: int = 0
    seed: int = 0
    interrupted: bool = False

    def to_pandas(self) -> Any:
        """The rows as a pandas DataFrame (pandas is optional: ImportError says so)."""
        try:
            import pandas as pd
        except ImportError:
            raise ImportError("to_pandas() needs pandas: pip install pandas") from None
        return pd.DataFrame(self.rows)


def run(**options: Any) -> Results:
    """Run a benchmark and return its Results; the files are written as `cvbench run` writes
    them (the CSV and the JSON in ``out_dir``, or where ``csv_path``/``json_path`` say).

    Example: ``cvbench.run(workload="faces", models="threads,processes", workers="1,2",
    quick=True)``. The keyword arguments are the `cvbench run` options with underscores (see
    the signature, or `cvbench run --help`); bad input raises ValueError with the one line
    the command prints. Call it under ``if __name__ == "__main__":`` in a script: process
    workers re-import the script, and a call at its top level is refused.
    """
    from cvbench.measure.caller_state import caller_state_kept

    with caller_state_kept():  # before the imports: cv2's sets LD_LIBRARY_PATH, undone too
        from cvbench.config import build_config
        from cvbench.measure.watchdog import RepetitionAbandoned
        from cvbench.pipeline import RunSession
        from cvbench.pipeline.script_guard import check_caller

        check_caller(sys._getframe(1))
        cfg = build_config(RunOptions.from_mapping(options))
        session = RunSession(cfg)
        try:
            asyncio.get_running_loop()
            in_loop = True
        except RuntimeError:
            in_loop = False
        if in_loop or threading.current_thread() is not threading.main_thread():
            # called from a coroutine (the event-loop models need a thread without a running
            # loop; the call blocks the caller's loop, as any synchronous call does) or from a
            # thread: the run gets a thread of its own, which can be given up on
            result = _run_abandonable(session)
        else:
            try:
                result = session.run()
            except RepetitionAbandoned:  # the op came back after the run went on without it
                result = session.result
        doc = session.final_document()

    def plain(value: Any) -> Any:
        if dataclasses.is_dataclass(value) and not isinstance(value, type):
            return dataclasses.asdict(value)
        if isinstance(value, dict):
            return {k: plain(v) for k, v in value.items()}
        return value

    return Results(
        rows=result.rows,
        summary=[plain(s) for s in doc["summary"]],
        findings=doc["findings"],
        environment=result.env,
        rounds=result.rounds,
        seed=result.seed,
        interrupted=result.interrupted,
    )


def _run_abandonable(session: Any) -> Any:
    """session.run() in a daemon thread of its own; returns its result, or what was measured
    once the session gave up on a thread stuck inside the op (that thread is left behind,
    stuck where the op left it: nothing can free it, but the caller gets its results)."""
    from cvbench.measure.watchdog import RepetitionAbandoned

    outcome: dict[str, Any] = {}

    def target() -> None:
        try:
            outcome["result"] = session.run()
        except RepetitionAbandoned:
            pass
        except BaseException as exc:  # noqa: BLE001 - handed to the caller's thread
            outcome["error"] = exc

    worker = threading.Thread(target=target, name="cvbench-run", daemon=True)
    worker.start()
    while worker.is_alive() and not session.abandoned.is_set():
        worker.join(0.25)
    if "error" in outcome:
        raise outcome["error"]
    return outcome.get("result", session.result)


run.__signature__ = inspect.Signature(
    [
        inspect.Parameter(f.name, inspect.Parameter.KEYWORD_ONLY, default=f.default)
        for f in dataclasses.fields(RunOptions)
        if f.name != "command"
    ],
    return_annotation=Results,
)


def compare(
    base: str | Path | Sequence[dict[str, Any]],
    current: str | Path | Sequence[dict[str, Any]],
    metric: str = "throughput_per_s",
    threshold: float | str = "auto",
    normalize: str = "none",
    alpha: float = 0.05,
) -> Any:
    """The regression gate on two results files (or row lists): a gate.Comparison whose
    ``regressions`` list is empty when nothing regressed. threshold: "auto" or a fraction."""
    from cvbench.analysis.gate import compare as judge
    from cvbench.results.read import load_results

    def rows(x: Any) -> list[dict[str, Any]]:
        return load_results(x, required=[metric]) if isinstance(x, str | Path) else list(x)

    auto = threshold == "auto"
    minimum = 0.10 if auto else float(threshold)
    return judge(rows(base), rows(current), metric, minimum, alpha, normalize, auto)
