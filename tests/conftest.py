"""Shared fixtures: small real jobs (quick preset), built once per session."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from pathlib import Path

import pytest

from cvbench.cv import combine_digests
from cvbench.measure.affinity import Placement, allowed_cpus
from cvbench.measure.probes import Probes
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
