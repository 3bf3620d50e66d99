"""Shared fixtures: small real jobs (quick preset) and one real quick run, built once per session.
Helpers the tests share live in tests/helpers.py."""

from __future__ import annotations

import contextlib
import signal
from typing import Any

import pytest

from cvbench.commands.signals import STOP_SIGNALS
from cvbench.measure.caller_state import environment_kept
from cvbench.workloads import load_spec
from cvbench.workloads.sources import JobOptions, build_job
from tests.helpers import SHARED_RUN_ARGS, cvbench


@pytest.fixture(autouse=True)
def _environment_kept():
    """What a test leaves in os.environ reaches every process started after it in this pytest
    worker: a forkserver started after an in-process dask test inherited its nannies'
    MALLOC_TRIM_THRESHOLD_, and every process it forked gave its freed memory back at once
    and faulted it in again on every item (a clean-clone CI run failed on 3,168 faults where
    0 are expected). The environment is put back after each test."""
    with environment_kept():
        yield


@pytest.fixture
def handlers_kept():
    """A stop leaves the stop signals ignored (a second one is only counted): put them back."""
    saved = {sig: signal.getsignal(sig) for sig in STOP_SIGNALS}
    yield
    for sig, handler in saved.items():
        signal.signal(sig, handler)


@pytest.fixture(scope="session")
def quick_jobs():
    """One quick Job per built-in workload; temporary files live for the session."""
    with contextlib.ExitStack() as stack:
        yield {
            name: stack.enter_context(build_job(load_spec(name), JobOptions(preset="quick")))
            for name in ("threshold", "threshold-io", "faces", "frames")
        }


@pytest.fixture(scope="session")
def quick_run(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """One real `cvbench run --quick` (SHARED_RUN_ARGS), for the tests of the run itself.

    Run once per test session (two workloads, four models, 1 and 2 workers, 3 repetitions).
    Tests that only read a results file use tests/data (helpers.QUICK_RUN) instead.
    """
    d = tmp_path_factory.mktemp("quick-run")
    files = {k: d / f"r.{k}" for k in ("csv", "json", "md")} | {"gab": d / "gab.json"}
    res = cvbench(
        *SHARED_RUN_ARGS, "--out", str(d),
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


def pytest_xdist_auto_num_workers(config: pytest.Config) -> int:
    """`-n auto` means the CPUs this process may use (taskset, cgroup cpusets), not the host's
    physical cores: on a 1-CPU runner the fast tier then runs in one worker."""
    import os

    return max(1, len(os.sched_getaffinity(0)))
