"""A broken user function under every model: one screen on the terminal (one line per
distinct failure, no framework tracebacks), the user's traceback in the JSON."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BROKEN = """import cv2
def squares(img):
    gray = cv2.cvtColor(img, cv2.COLOR_BGR2GRAY)
    _, contours, _h = cv2.findContours(gray, cv2.RETR_LIST, cv2.CHAIN_APPROX_SIMPLE)  # OpenCV 3
    return len(contours)
"""


@pytest.mark.slow
def test_a_broken_op_under_every_model_fits_one_screen(tmp_path):
    (tmp_path / "badop.py").write_text(BROKEN)
    res = subprocess.run(
        [sys.executable, "-m", "cvbench", "run", "--op", "badop:squares", "--quick", "-m", "all",
         "--csv", str(tmp_path / "r.csv")],
        cwd=tmp_path, capture_output=True, text=True, timeout=300,
        env={**os.environ, "PYTHONPATH": str(ROOT), "COLUMNS": "200"},
    )  # fmt: skip
    assert res.returncode == 1
    out = (res.stdout + res.stderr).splitlines()
    noise = [line for line in out if line.startswith("WARNING")]  # a busy machine's notes
    assert len(out) - len(noise) <= 15, "\n".join(out)
    assert "Traceback" not in res.stdout + res.stderr
    assert "not enough values to unpack (expected 3, got 2)" in res.stderr
    assert "every cell failed" in res.stdout and "converged" not in res.stdout
    doc = json.loads((tmp_path / "r.json").read_text())
    measured = [r for r in doc["rows"] if r["status"] == "failed"]
    assert doc["failures"] and len(doc["failures"]) == len(measured)
    traces = {f["cell"]: f["traceback"][0] for f in doc["failures"]}
    for cell in ("squares/sequential/1w", "squares/threads/2w", "squares/processes/2w"):
        assert "badop.py" in traces[cell] and "findContours" in traces[cell], cell  # the user's
    assert all(traces.values())
    assert all("expected 3, got 2" in r["error"] for r in measured)  # whole, never cut
