"""Shared fixtures: small real jobs (quick preset), built once per session."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from cvbench.measure.affinity import Placement, allowed_cpus
from cvbench.measure.probes import Probes
from cvbench.work.digest import combine_digests
from cvbench.workloads import load_spec
from cvbench.workloads.sources import JobOptions, build_job

ROOT = Path(__file__).resolve().parents[1]
CVBENCH = [sys.executable, "-m", "cvbench.cli"]


@pytest.fixture(scope="session")
def quick_jobs():
    """One quick Job per built-in workload; temporary files live for the session."""
    with contextlib.ExitStack() as stack:
        yield {
            name: stack.enter_context(build_job(load_spec(name), JobOptions(preset="quick")))
            for name in ("threshold", "threshold-io", "faces", "frames")
        }


def new_probes(heartbeat_ms: float = 1.0, **placement) -> Probes:  # noqa: ANN003
    cpus = placement.pop("cpus", tuple(allowed_cpus()))
    return Probes(Placement(tuple(cpus), **placement), int(heartbeat_ms * 1e6))


def run_digest(records) -> str:  # noqa: ANN001
    return combine_digests([r.digest for r in sorted(records, key=lambda r: r.index)])


def cvbench(*args: str, timeout: float = 240, **kw) -> subprocess.CompletedProcess:  # noqa: ANN003
    """The real CLI in a subprocess, as a user would run it."""
    env = {**os.environ, "COLUMNS": "200"}
    return subprocess.run(
        [*CVBENCH, *args], capture_output=True, text=True, timeout=timeout, env=env, cwd=ROOT, **kw
    )


SHARED_RUN_MODELS = ("sequential", "threads", "processes", "asyncio")
SHARED_RUN_WORKLOADS = ("threshold", "frames")


@pytest.fixture(scope="session")
def quick_run(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The one real `cvbench run --quick` every results/compare/plot/report test reads.

    Run once per test session (two workloads, four models, 1 and 2 workers, 3 repetitions),
    so that readers, the gate, charts and the HTML report are all checked on real output.
    """
    d = tmp_path_factory.mktemp("quick-run")
    files = {k: d / f"r.{k}" for k in ("csv", "json", "md")} | {"gab": d / "gab.json"}
    res = cvbench(
        "run", "--quick",
        "--workload", ",".join(SHARED_RUN_WORKLOADS),
        "--models", ",".join(SHARED_RUN_MODELS),
        "--workers", "1,2", "--repeat", "3", "--warmup", "0", "--out", str(d),
        "--csv", str(files["csv"]), "--json", str(files["json"]),
        "--markdown", str(files["md"]), "--gab", str(files["gab"]),
    )  # fmt: skip
    assert res.returncode == 0, res.stderr[-2000:]
    return {"dir": d, "stdout": res.stdout, "stderr": res.stderr, **files}


# Fixtures that make real runs: a test that uses one is `slow` without having to say so.
_SLOW_FIXTURES = {"quick_run", "quick_jobs"}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if _SLOW_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.slow)


def shared_run_rows() -> tuple[int, int]:
    """(measured, predicted) row counts the shared quick run must produce: sequential once,
    every other model at 1 and 2 workers, 3 repetitions, per workload; the emulated kernel
    predicts every pool model at 1 and 2 workers for each batch workload (not the stream)."""
    from cvbench.runner import PREDICTABLE

    measured = len(SHARED_RUN_WORKLOADS) * 3 * (1 + 2 * (len(SHARED_RUN_MODELS) - 1))
    batch = [w for w in SHARED_RUN_WORKLOADS if w != "frames"]
    predictable = [m for m in SHARED_RUN_MODELS if m in PREDICTABLE]
    return measured, 2 * len(batch) * len(predictable)
