"""The predictions' profiled pass has an end (issue 22: every wait has an end).

After the rounds, a user --op runs once more per item under a profiler, to split its time into
GIL-held and GIL-released (work/gil_split.py). An op that hangs only on a later call hung
cvbench there, after every row had been measured. The pass now runs under the deadline of a
repetition of the workload's sequential cell (--item-timeout here): the prediction falls back
to the assumed split and says the pass timed out, the rows and files are kept, and the run
exits 0. Stuck inside a C call (no bytecode runs, nothing can raise), the watchdog's thread
makes the predictions without the op, writes the files and ends the process, as for a stuck
repetition. A stop signal during the pass is 128 + N, with the files written.

The ops below hang on their first call made under a profiler: the pass's first, after every
call the rounds make (a module-level counter whose Nth call hangs, with N known exactly).
"""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import textwrap
import time
from pathlib import Path

import pytest

from cvbench.measure.watchdog import GRACE_S
from tests.helpers import CVBENCH, ROOT, gone, measured_rows

OPS = textwrap.dedent(
    """
    import ctypes, os, sys, time

    def _in_the_profiled_pass():
        if sys.getprofile() is None:
            return False
        open(os.environ["PASS_MARKER"], "w").close()
        return True

    def sleeps(img):
        if _in_the_profiled_pass():
            time.sleep(10**6)
        return int(img.mean())

    def deadlocks(img):
        if _in_the_profiled_pass():
            libc = ctypes.CDLL(None)
            mutex = ctypes.create_string_buffer(64)  # zeroed: PTHREAD_MUTEX_INITIALIZER
            libc.pthread_mutex_lock(mutex)
            libc.pthread_mutex_lock(mutex)  # never returns, whatever signal arrives
        return int(img.mean())
    """
)
TIMEOUT_S = 2.0
MEASURED = 3  # sequential, threads at 1 and 2 workers: one repetition each


@pytest.fixture
def ops(tmp_path: Path) -> Path:
    (tmp_path / "passops.py").write_text(OPS)
    return tmp_path


def _start(tmp: Path, op: str, *extra: str) -> subprocess.Popen:
    return subprocess.Popen(
        [*CVBENCH, "run", "--quick", "--op", f"passops:{op}", "-m", "sequential,threads",
         "--workers", "1,2", "--repeat", "1", "--warmup", "0",
         "--csv", str(tmp / "r.csv"), "--json", str(tmp / "r.json"), *extra],
        cwd=tmp, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "PYTHONPATH": f"{ROOT}{os.pathsep}{tmp}", "COLUMNS": "200",
             "PASS_MARKER": str(tmp / "in-pass")},
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )  # fmt: skip


def _in_the_pass(proc: subprocess.Popen, tmp: Path) -> float:
    """Wait until the op is inside the profiled pass; when it got there (monotonic s)."""
    deadline = time.monotonic() + 90
    while not (tmp / "in-pass").exists():
        assert time.monotonic() < deadline and proc.poll() is None, "the pass never ran"
        time.sleep(0.05)
    return time.monotonic()


def _gil_split(tmp: Path) -> str:
    (section,) = json.loads((tmp / "r.json").read_text())["predictions"].values()
    return section["gil_split"]


def _rows_kept(tmp: Path) -> None:
    rows = measured_rows(tmp / "r.csv")
    assert len(rows) == MEASURED and all(r["status"] == "ok" for r in rows)


@pytest.mark.slow
def test_an_op_that_hangs_in_the_profiled_pass_is_cut_at_the_deadline(ops):
    proc = _start(ops, "sleeps", "--item-timeout", f"{TIMEOUT_S:g}s")
    entered = _in_the_pass(proc, ops)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert time.monotonic() - entered < TIMEOUT_S + 10
    assert "Traceback" not in out + err
    _rows_kept(ops)
    assert "the profiled pass timed out" in _gil_split(ops)
    assert "profiled pass timed out" in out  # the findings say it
    with open(ops / "r.csv", newline="") as fh:
        predicted = [r for r in csv.DictReader(fh) if r["predicted"] == "true"]
    assert predicted and all("timed out" in r["notes"] for r in predicted)
    assert gone(proc.pid) == []


@pytest.mark.slow
def test_an_op_stuck_in_c_in_the_profiled_pass_still_ends_the_run(ops):
    proc = _start(ops, "deadlocks", "--item-timeout", f"{TIMEOUT_S:g}s")
    entered = _in_the_pass(proc, ops)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err  # every row was measured, none failed
    assert time.monotonic() - entered < TIMEOUT_S + GRACE_S + 10
    assert "Traceback" not in out + err
    assert "profiled pass" in err and "stuck inside the op" in err and "results:" in out
    _rows_kept(ops)
    assert "stuck inside the op" in _gil_split(ops)  # the predictions made without it
    assert gone(proc.pid) == []


@pytest.mark.slow
@pytest.mark.parametrize("op", ["sleeps", "deadlocks"])
def test_sigterm_during_the_profiled_pass_is_143_with_the_files(ops, op):
    """No --item-timeout (a deadline of 30 s or more): the signal itself ends it."""
    proc = _start(ops, op)
    _in_the_pass(proc, ops)
    time.sleep(0.3)
    t0 = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 143, err
    assert time.monotonic() - t0 < GRACE_S + 10
    assert "Traceback" not in out + err
    assert sum("interrupted by SIGTERM" in line for line in err.splitlines()) == 1, err
    assert json.loads((ops / "r.json").read_text())["interrupted"] is True
    _rows_kept(ops)
    assert gone(proc.pid) == []
