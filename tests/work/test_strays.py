"""An op that starts processes and forgets them: nothing of it outlives the run, under an
inline model (children of the main process) and a process pool (grandchildren, orphaned when
the pool worker exits, adopted by the subreaper)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import psutil
import pytest

ROOT = Path(__file__).resolve().parents[2]
OP = """import subprocess
def leaky(img):
    subprocess.Popen(["sleep", "{marker}"])  # forgotten: never waited for
    return int(img.sum()) % 97
"""


def _with_marker(marker: str) -> list[int]:
    pids = []
    for p in psutil.process_iter(["cmdline"]):
        if marker in " ".join(p.info["cmdline"] or []):
            pids.append(p.pid)
    return pids


@pytest.mark.slow
def test_processes_an_op_leaves_behind_end_with_the_run(tmp_path):
    marker = str(300 + uuid.uuid4().int % 600)  # sleep's argument: unique per test run
    (tmp_path / "leakyop.py").write_text(OP.format(marker=marker))
    res = subprocess.run(
        [sys.executable, "-m", "cvbench", "run", "--op", "leakyop:leaky", "--quick",
         "-m", "sequential,processes", "--workers", "1", "--repeat", "1", "--warmup", "0",
         "--csv", str(tmp_path / "r.csv")],
        cwd=tmp_path, capture_output=True, text=True, timeout=300,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )  # fmt: skip
    assert res.returncode == 0, res.stderr
    time.sleep(0.5)
    left = _with_marker(f"sleep {marker}")
    for pid in left:  # clean up before failing
        psutil.Process(pid).kill()
    assert left == []
    import json

    killed = json.loads((tmp_path / "r.json").read_text())["op_processes_killed"]
    assert killed  # the run says what it ended (the `sleep`s above, found by their command)
