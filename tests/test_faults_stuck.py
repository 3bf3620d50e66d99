"""An op stuck inside a C call in the main thread (issue 22, point 1: inline models): a
default pthread mutex locked twice by the same thread deadlocks in the futex wait, which
glibc resumes after every signal, so no Python handler ever runs there again. The deadline
still ends the cell (row failed with the reason, the other rows saved), SIGTERM and Ctrl-C
are still honoured, cvbench.run() from a thread returns, and nothing is left behind."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from cvbench.measure.watchdog import GRACE_S
from cvbench.overhead import MAX_EXTRA_PAIRS
from tests.helpers import CVBENCH, ROOT, gone, measured_rows

OPS = textwrap.dedent(
    """
    import ctypes, os

    CALLS = 0

    def _deadlock():
        libc = ctypes.CDLL(None)
        mutex = ctypes.create_string_buffer(64)  # zeroed: PTHREAD_MUTEX_INITIALIZER
        libc.pthread_mutex_lock(mutex)
        libc.pthread_mutex_lock(mutex)  # never returns, whatever signal arrives

    def stuck(img):
        marker = os.environ.get("STUCK_MARKER")
        if marker:
            open(marker, "w").close()
        _deadlock()

    def stuck_later(img):
        global CALLS
        CALLS += 1
        if CALLS > int(os.environ["STUCK_AFTER"]):  # what completes first: see the test
            _deadlock()
        return int(img.mean())
    """
)


@pytest.fixture
def ops(tmp_path: Path) -> Path:
    (tmp_path / "stuckops.py").write_text(OPS)
    return tmp_path


def _env(tmp: Path, **extra: str) -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": f"{ROOT}{os.pathsep}{tmp}", **extra}


def _args(tmp: Path, op: str, model: str, *extra: str) -> list[str]:
    return [
        *CVBENCH, "run", "--quick", "--op", f"stuckops:{op}", "-m", model, "--workers", "1",
        "--warmup", "0", "--csv", str(tmp / "r.csv"), "--json", str(tmp / "r.json"), *extra,
    ]  # fmt: skip


@pytest.mark.slow
@pytest.mark.parametrize("model", ["sequential", "asyncio", "trio"])
def test_an_op_stuck_in_c_fails_its_row_and_the_run_ends(ops, model):
    # Two repetitions (4 items each) complete; sequential's first one (a round with the probe,
    # so no pair of its own) is followed by the overhead's extra pairs (two loops each, at
    # most MAX_EXTRA_PAIRS: these items are tiny), so they complete its first row.
    after = 8 * (1 + MAX_EXTRA_PAIRS) if model == "sequential" else 8
    t0 = time.monotonic()
    proc = subprocess.Popen(
        _args(ops, "stuck_later", model, "--repeat", "3", "--item-timeout", "2s"),
        cwd=ops, env=_env(ops, STUCK_AFTER=str(after)), stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    out, err = proc.communicate(timeout=90)
    took = time.monotonic() - t0
    assert proc.returncode == 1, err
    assert took < 2 + 10 + 10  # the deadline + 10 s (+ start-up on a loaded machine)
    assert "Traceback" not in out + err
    assert "stuck inside the op" in err and "results:" in out
    rows = measured_rows(ops / "r.csv")
    failed = [r for r in rows if r["ok"] == "false"]
    assert len(failed) == 1 and len(rows) >= 2  # what completed before is kept
    assert "main thread is stuck inside the op" in failed[0]["error"]
    assert "--item-timeout" in failed[0]["error"]
    doc = json.loads((ops / "r.json").read_text())
    assert "stuck" in doc["stop_reason"] and len(doc["rows"]) >= 2
    assert gone(proc.pid) == []


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_a_stop_signal_ends_a_run_stuck_in_c(ops, sig):
    """No --item-timeout (a 120 s deadline): the signal itself must end it."""
    marker = ops / "entered"
    proc = subprocess.Popen(
        _args(ops, "stuck", "sequential", "--repeat", "1"),
        cwd=ops, env=_env(ops, STUCK_MARKER=str(marker)), stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )  # fmt: skip
    deadline = time.monotonic() + 60
    while not marker.exists():
        assert time.monotonic() < deadline and proc.poll() is None, proc.stderr
        time.sleep(0.05)
    time.sleep(0.3)  # inside the deadlock
    t0 = time.monotonic()
    proc.send_signal(sig)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 128 + sig, err
    assert time.monotonic() - t0 < GRACE_S + 10
    assert "Traceback" not in out + err
    assert f"interrupted by {signal.Signals(sig).name}" in err
    assert json.loads((ops / "r.json").read_text())["interrupted"] is True
    assert gone(proc.pid) == []


@pytest.mark.slow
def test_api_from_a_thread_with_an_op_stuck_in_c_returns(ops):
    script = ops / "api_stuck.py"
    script.write_text(
        textwrap.dedent(
            """
            import threading
            import cvbench

            def go():
                r = cvbench.run(op="stuckops:stuck", models="sequential", repeat="1",
                                warmup=0, item_timeout="2s", quick=True, out="out")
                print("ROWS", [(x["ok"], x["error"]) for x in r.rows if not x["predicted"]])

            if __name__ == "__main__":
                t = threading.Thread(target=go)
                t.start()
                t.join()
                print("CALLER ALIVE")
            """
        )
    )
    t0 = time.monotonic()
    res = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, env=_env(ops), cwd=ops,
        timeout=90,
    )  # fmt: skip
    assert res.returncode == 0, res.stderr
    assert "CALLER ALIVE" in res.stdout and "stuck inside the op" in res.stdout
    assert "Traceback" not in res.stderr
    assert time.monotonic() - t0 < 2 + 10 + 10
