"""The Python API without the CLI: the same rows from a plain call, a second call, a thread
and a running asyncio loop, and nothing of the caller's process changed afterwards."""

from __future__ import annotations

import asyncio
import inspect
import os
import signal
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import pytest

import cvbench
from cvbench.measure.procfs import tids

ROOT = Path(__file__).resolve().parents[1]


def _caller_state() -> dict:
    return {
        "sys.path": list(sys.path),
        "environ": dict(os.environ),
        "signals": {
            s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM, signal.SIGUSR1)
        },
        "affinity": {t: os.sched_getaffinity(t) for t in tids(os.getpid())},
        "threads": {t.name for t in threading.enumerate()},
    }


def _run(tmp_path: Path, name: str) -> cvbench.Results:
    return cvbench.run(
        workload="threshold", models="sequential,asyncio", workers=1, quick=True,
        repeat=1, warmup=0, seed=7, cpus="0", pythonpath=(str(tmp_path),),
        csv=str(tmp_path / f"{name}.csv"),
    )  # fmt: skip


def _fingerprint(res: cvbench.Results) -> list[tuple]:
    return sorted(
        (r["workload"], r["model"], r["workers"], r["ok"], r["items"], r["output_digest"])
        for r in res.rows
        if not r["predicted"]
    )


def test_signature_lists_the_options():
    params = inspect.signature(cvbench.run).parameters
    assert {"workload", "models", "workers", "quick", "csv", "input", "op"} <= set(params)
    with pytest.raises(ValueError, match="unknown run option 'worker'"):
        cvbench.run(worker=2)
    with pytest.raises(ValueError, match="--workers"):
        cvbench.run(workers="0")


def test_lists_and_paths_are_taken_as_python_callers_pass_them(tmp_path):
    res = cvbench.run(
        workload=["threshold"], models=["sequential", "threads"], workers=[1], quick=True,
        repeat=1, warmup=0, csv=tmp_path / "r.csv", pythonpath=tmp_path,
    )  # fmt: skip
    measured = [r for r in res.rows if not r["predicted"]]
    assert {r["model"] for r in measured} == {"sequential", "threads"}
    assert all(r["ok"] and r["workers"] == 1 for r in measured)
    assert (tmp_path / "r.csv").exists()
    with pytest.raises(ValueError, match="csv: expected a path"):
        cvbench.run(csv=123)
    with pytest.raises(ValueError, match="--workers: '0'"):
        cvbench.run(workers=[0])


@pytest.mark.slow
def test_same_rows_twice_from_a_thread_and_in_a_loop_and_nothing_left_behind(tmp_path):
    before = _caller_state()
    first = _run(tmp_path, "first")
    assert _fingerprint(first) and all(r[3] for r in _fingerprint(first))
    assert (tmp_path / "first.json").is_file()  # beside the CSV
    second = _run(tmp_path, "second")

    box: dict = {}
    thread = threading.Thread(target=lambda: box.update(res=_run(tmp_path, "thread")))
    thread.start()
    thread.join(120)
    assert not thread.is_alive() and "res" in box

    async def in_loop() -> cvbench.Results:
        return _run(tmp_path, "loop")

    looped = asyncio.run(in_loop())
    for other in (second, box["res"], looped):
        assert _fingerprint(other) == _fingerprint(first)
    after = _caller_state()
    for key in ("sys.path", "environ", "signals"):
        assert after[key] == before[key], key
    assert {t: m for t, m in after["affinity"].items() if t in before["affinity"]} == {
        t: m for t, m in before["affinity"].items() if t in after["affinity"]
    }
    assert after["threads"] <= before["threads"] | {"asyncio_0"}


SCRIPT = """
import cvbench
{call}
"""
CALL = 'cvbench.run(workload="threshold", models="sequential,processes", workers=1, quick=True, repeat=1, warmup=0, csv="r.csv")'  # noqa: E501


def _script(tmp_path: Path, body: str) -> subprocess.CompletedProcess:
    path = tmp_path / "bench.py"
    path.write_text(textwrap.dedent(SCRIPT.format(call=body)))
    return subprocess.run(
        [sys.executable, str(path)], cwd=tmp_path, capture_output=True, text=True, timeout=300,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )  # fmt: skip


def test_a_top_level_call_in_a_script_is_refused_before_any_work(tmp_path):
    res = _script(tmp_path, CALL)
    assert res.returncode != 0
    assert 'if __name__ == "__main__":' in res.stderr
    assert not (tmp_path / "r.csv").exists()


@pytest.mark.slow
def test_a_guarded_script_runs_once(tmp_path):
    res = _script(tmp_path, 'if __name__ == "__main__":\n    ' + CALL)
    assert res.returncode == 0, res.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bench.py", "r.csv", "r.json"]
