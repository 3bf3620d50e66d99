"""A stop signal while trio runs (issue 22: exit codes mean one thing, no tracebacks).

cvbench's stop handler raised KeyboardInterrupt wherever the main thread was, also inside
trio's own machinery: trio turned it into TrioInternalError (a failed row, and the run went on
to exit 1), or it left trio.run from trio's I/O wait with the run abandoned ("Exception
ignored in Nursery.__del__", trio's threads reporting into closed sockets: a traceback).
Inside a trio run the stop is now handed to trio (measure/interrupts.py, models/trio_.py):
the run is cancelled, ends its own way, and KeyboardInterrupt comes out of it.

First in-process, with the signal raised from trio's own code (its entry-queue task, where
run_sync_soon callbacks run) at a chosen moment: in the warm-up, or as the first items go;
then real runs of the three trio models stopped at several moments, checked as a user would:
128 + N, one "interrupted" line, no traceback, the rows measured so far in the CSV, nothing
left behind (processes, temp folders, shared memory).
"""

from __future__ import annotations

import gc
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest
import trio

from cvbench.commands.signals import stop_on_signals
from cvbench.models.cooperative import CooperativeBody
from cvbench.models.trio_ import Trio, TrioThreads
from cvbench.models.trio_processes import TrioProcesses
from cvbench.repetition import run_once
from tests.helpers import CVBENCH, ROOT, gone, measured_rows, new_probes, shm_left, shm_now

MODELS = {"trio": Trio, "trio+threads": TrioThreads, "trio+processes": TrioProcesses}


def _stop_from_inside_trio() -> None:
    """SIGTERM, its handler run by trio's entry-queue task: trio's own (KI-protected) code."""
    trio.lowlevel.current_trio_token().run_sync_soon(signal.raise_signal, signal.SIGTERM)


def _descendants() -> set[int]:
    return {p.pid for p in psutil.Process().children(recursive=True)}


@pytest.mark.parametrize("moment", ["warm-up", "items"])
@pytest.mark.parametrize("name", list(MODELS))
def test_a_stop_inside_trios_own_code_interrupts_the_repetition(
    quick_jobs, monkeypatch, handlers_kept, name, moment
):
    model = MODELS[name]
    if moment == "warm-up":
        start = model.start

        async def stopping_start(self, s):
            _stop_from_inside_trio()
            return await start(self, s)

        monkeypatch.setattr(model, "start", stopping_start)
    else:
        worker = CooperativeBody.worker

        async def stopping_worker(self, w):
            if w == 0:
                _stop_from_inside_trio()
            await worker(self, w)

        monkeypatch.setattr(CooperativeBody, "worker", stopping_worker)
    unraisable: list[str] = []
    monkeypatch.setattr(sys, "unraisablehook", lambda u: unraisable.append(repr(u.exc_value)))
    before = _descendants()
    with stop_on_signals() as stop, pytest.raises(KeyboardInterrupt, match="SIGTERM"):
        # before: ([], "TrioInternalError: internal error in Trio - please file a bug!")
        run_once(model(), quick_jobs["threshold"], 2, new_probes())
    gc.collect()  # an abandoned run's nurseries complained here
    assert stop.signum == signal.SIGTERM
    assert unraisable == []
    # trio-parallel's workers were shut down with the run (the fork server, a child, stays)
    assert _descendants() - before <= {p.pid for p in psutil.Process().children()}


def _start(tmp: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [*CVBENCH, "run", "-w", "threshold", "-m", ",".join(MODELS), "--workers", "1,2",
         "--quick", "--seed", "1", "--csv", str(tmp / "r.csv"), "--json", str(tmp / "r.json")],
        cwd=ROOT, env={**os.environ, "COLUMNS": "200"}, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True, start_new_session=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )  # fmt: skip


def _wait_for(proc: subprocess.Popen, tmp: Path, moment: str) -> None:
    """``workers``: the fork server has forked a worker and no row is written yet (trio-parallel
    warming its workers up, or another trio cell's warm-up); ``rows``: two rows written
    (the first round)."""
    deadline = time.monotonic() + 60
    csv = tmp / "r.csv"
    while True:
        assert time.monotonic() < deadline and proc.poll() is None, "the run ended first"
        rows = len(csv.read_text().splitlines()) - 1 if csv.exists() else 0
        if moment == "rows" and rows >= 2:
            return
        if moment == "workers":
            assert rows == 0, "no worker seen before the first row"
            try:
                kids = psutil.Process(proc.pid).children()
                if any(k.children() for k in kids):  # the fork server's worker
                    return
            except psutil.Error:
                pass
        time.sleep(0.02)


@pytest.mark.slow
@pytest.mark.parametrize(
    ("moment", "after_s", "sig"),
    [
        ("workers", 0.0, signal.SIGTERM),
        ("workers", 0.1, signal.SIGTERM),
        ("workers", 0.3, signal.SIGTERM),
        ("rows", 0.0, signal.SIGTERM),
        ("rows", 0.4, signal.SIGTERM),
        ("rows", 0.2, signal.SIGINT),
    ],
)
def test_a_stop_during_a_trio_run_is_one_line_and_its_exit_status(tmp_path, moment, after_s, sig):
    shm = shm_now()
    proc = _start(tmp_path)
    try:
        _wait_for(proc, tmp_path, moment)
        time.sleep(after_s)
        proc.send_signal(sig)
        out, err = proc.communicate(timeout=60)
    finally:  # a run that never ends (it once hung in the calibration) must not outlive us
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    assert proc.returncode == 128 + sig, err
    for noise in ("Traceback", "Exception ignored", "Error"):
        assert noise not in out + err, err
    lines = [line for line in err.splitlines() if "interrupted by" in line]
    assert len(lines) == 1 and signal.Signals(sig).name in lines[0], err
    kept = int(re.search(r"the (\d+) rows completed", lines[0]).group(1))
    rows = measured_rows(tmp_path / "r.csv")
    assert len(rows) == kept and all(r["status"] == "ok" for r in rows), err
    assert gone(proc.pid, 15) == []
    assert shm_left(proc.pid, shm) == []
