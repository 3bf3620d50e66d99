"""The Python API: `cvbench.run(...)` and `cvbench.compare(...)`, returning plain objects.

`run` goes through exactly the validation of `cvbench run` (its options are the CLI's, with
underscores), so the command line is a thin layer over the same code; bad input raises
ValueError with the same one-line message the CLI prints.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import click


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


def _argv(options: dict[str, Any]) -> list[str]:
    argv: list[str] = []
    for key, value in options.items():
        if value is None or value is False:
            continue
        flag = "--" + key.replace("_", "-")
        if value is True:
            argv.append(flag)
        elif isinstance(value, list | tuple):
            for v in value:
                argv += [flag, str(v)]
        else:
            argv += [flag, str(value)]
    return argv


def run(**options: Any) -> Results:
    """Run a benchmark, e.g. ``cvbench.run(workload="faces", models="threads,processes",
    workers="1,2", quick=True)``; any `cvbench run` option, with underscores."""
    from cvbench.commands.run import build_config
    from cvbench.commands.run import run as run_cmd
    from cvbench.report.findings import findings
    from cvbench.results.summary import summarize_rows
    from cvbench.runner import Runner
    from cvbench.stats import Summary

    options.setdefault("out", str(Path("results")))
    try:
        ctx = run_cmd.make_context("cvbench run", _argv(options))
        with ctx:
            cfg = build_config(dict(ctx.params))
    except click.ClickException as exc:
        raise ValueError(exc.format_message()) from None
    result = Runner(cfg).run()
    from cvbench.commands.run import write_exports

    write_exports(cfg, result)

    def plain(value: Any) -> Any:
        if isinstance(value, Summary):
            return dataclasses.asdict(value)
        if isinstance(value, dict):
            return {k: plain(v) for k, v in value.items()}
        return value

    return Results(
        rows=result.rows,
        summary=[plain(s) for s in summarize_rows(result.rows)],
        findings=findings(result.rows),
        environment=result.env,
        rounds=result.rounds,
        seed=result.seed,
        interrupted=result.interrupted,
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
