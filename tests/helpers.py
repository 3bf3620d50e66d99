"""Helpers the tests share (fixtures live in conftest.py; tests import nothing from it, nor
from each other: what two test modules need is here)."""

from __future__ import annotations

import csv
import glob
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import psutil

from cvbench.measure.affinity import Placement, allowed_cpus
from cvbench.measure.probes import Probes
from cvbench.results.schema import SCHEMA_VERSION, blank_row
from cvbench.work.digest import combine_digests

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "tests" / "data"
CVBENCH = [sys.executable, "-m", "cvbench.cli"]

# A real `cvbench run --quick` (see tests/data/README.md): the readers, the gate, history, the
# charts and the HTML report read it without running anything.
QUICK_RUN = {"csv": DATA / "quick-run.csv", "json": DATA / "quick-run.json"}

SHARED_RUN_MODELS = ("sequential", "threads", "processes", "asyncio")
SHARED_RUN_WORKLOADS = ("threshold", "frames")
SHARED_RUN_ARGS = (
    "run", "--quick",
    "--workload", ",".join(SHARED_RUN_WORKLOADS),
    "--models", ",".join(SHARED_RUN_MODELS),
    "--workers", "1,2", "--repeat", "3", "--warmup", "0",
)  # fmt: skip


def cvbench(*args: str, timeout: float = 240, **kw) -> subprocess.CompletedProcess:
    """The real CLI in a subprocess, as a user would run it."""
    env = {**os.environ, "COLUMNS": "200"}
    return subprocess.run(
        [*CVBENCH, *args], capture_output=True, text=True, timeout=timeout, env=env, cwd=ROOT, **kw
    )


def shared_run_rows() -> tuple[int, int]:
    """(measured, predicted) row counts a run with SHARED_RUN_ARGS produces: sequential once,
    every other model at 1 and 2 workers, 3 repetitions, per workload; the emulated kernel
    predicts every pool model at 1 and 2 workers for each batch workload (not the stream)."""
    from cvbench.runner import PREDICTABLE

    measured = len(SHARED_RUN_WORKLOADS) * 3 * (1 + 2 * (len(SHARED_RUN_MODELS) - 1))
    batch = [w for w in SHARED_RUN_WORKLOADS if w != "frames"]
    predictable = [m for m in SHARED_RUN_MODELS if m in PREDICTABLE]
    return measured, 2 * len(batch) * len(predictable)


def assert_one_error_line(result: Any, *needles: str) -> str:
    """Bad input: exit 2, no traceback, exactly one "Error: ..." line naming every needle.

    ``result`` is click's CliRunner result or a finished subprocess; returns the line."""
    if isinstance(result, subprocess.CompletedProcess):
        code, output = result.returncode, result.stdout + result.stderr
    else:
        code, output = result.exit_code, result.output
    assert code == 2, output
    assert "Traceback" not in output
    errors = [line for line in output.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1, output
    for needle in needles:
        assert needle in errors[0], output
    return errors[0]


def new_probes(heartbeat_ms: float = 1.0, **placement) -> Probes:
    cpus = placement.pop("cpus", tuple(allowed_cpus()))
    return Probes(Placement(tuple(cpus), **placement), int(heartbeat_ms * 1e6))


def run_digest(records) -> str:
    return combine_digests([r.digest for r in sorted(records, key=lambda r: r.index)])


def rows_for(speeds: dict[tuple[str, int], list[float]], inline: set[str] = frozenset()):
    """Rows of one workload: per (model, workers) a throughput per round, paired speedups."""
    seq = speeds[("sequential", 1)]
    rows = []
    for (model, workers), values in speeds.items():
        for rnd, thr in enumerate(values):
            rows.append(
                blank_row(
                    workload="w",
                    model=model,
                    workers=workers,
                    repetition=rnd,
                    round=rnd,
                    position=0,
                    seed=1,
                    ok=True,
                    status="ok",
                    items=100,
                    wall_s=100 / thr,
                    throughput_per_s=thr,
                    speedup=thr / seq[rnd],
                    predicted=False,
                    inline=model in inline,
                    ctx_voluntary=10 * workers,
                    ctx_involuntary=1,
                    lag_p99_ms=50.0 if model in inline else 2.0 + rnd * 0.01,
                    schema_version=SCHEMA_VERSION,
                )  # fmt: skip
            )
    return rows


def write_video(path: Path, frames: int, size: tuple[int, int] = (96, 64), fourcc="MJPG") -> Path:
    """A real video written with cv2.VideoWriter, every frame different (a moving texture
    and the frame number): MJPG makes every frame a key frame, mp4v groups of frames."""
    import cv2
    import numpy as np

    w, h = size
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*fourcc), 30.0, (w, h))
    assert writer.isOpened()
    rng = np.random.default_rng(5)
    base = cv2.resize(rng.integers(0, 255, (h // 4, w // 4, 3), np.uint8), (w, h))
    for i in range(frames):
        frame = np.roll(base, 3 * i, axis=1)
        cv2.putText(frame, str(i), (4, h // 2), cv2.FONT_HERSHEY_SIMPLEX, 0.6, (255, 255, 255))
        writer.write(frame)
    writer.release()
    return path


def cvbench_in(
    cwd: Path, *args: str, timeout: float = 120
) -> tuple[subprocess.CompletedProcess, float]:
    """The real CLI run in ``cwd`` (its folder importable, for a test's op module), and how long
    it took (s)."""
    env = {**os.environ, "PYTHONPATH": f"{ROOT}{os.pathsep}{cwd}"}
    t0 = time.monotonic()
    res = subprocess.run(
        [*CVBENCH, *args], capture_output=True, text=True, timeout=timeout, env=env, cwd=cwd
    )
    return res, time.monotonic() - t0


def measured_rows(path: Path) -> list[dict]:
    """A results CSV's measured rows (not the predictions), as strings."""
    with open(path, newline="") as fh:
        return [r for r in csv.DictReader(fh) if r["predicted"] == "false"]


def left_behind(pid: int) -> list[str]:
    """Processes that belong to run ``pid`` (they inherit its CVBENCH_MAIN_PID) and temp
    folders named after it, still there."""
    left = []
    for proc in psutil.process_iter(["pid"]):
        try:
            if proc.environ().get("CVBENCH_MAIN_PID") == str(pid) and proc.pid != pid:
                left.append(f"process {proc.pid}: {' '.join(proc.cmdline())}")
        except psutil.Error:
            continue
    left += [str(p) for p in Path(tempfile.gettempdir()).glob(f"cvbench-*-{pid}-*")]
    return left


def gone(pid: int, seconds: float = 10) -> list[str]:
    """What run ``pid`` left behind after waiting up to ``seconds`` for it to go."""
    deadline = time.monotonic() + seconds
    while (left := left_behind(pid)) and time.monotonic() < deadline:
        time.sleep(0.2)
    return left


def shm_now() -> set[str]:
    """Shared memory in /dev/shm that cvbench's runs make: its blocks, multiprocessing's
    semaphores."""
    return set(glob.glob("/dev/shm/cvbench_*")) | set(glob.glob("/dev/shm/sem.mp-*"))


def _mapped_shm() -> set[str]:
    used: set[str] = set()
    for maps in glob.glob("/proc/[0-9]*/maps"):
        try:
            with open(maps) as fh:
                used.update(line.split()[-1] for line in fh if "/dev/shm/" in line)
        except OSError:
            continue
    return used


def shm_left(pid: int, before: set[str]) -> list[str]:
    """What run ``pid`` (ended) left in /dev/shm: its own blocks (named after it), and
    semaphores made since ``before`` that no live process maps (other runs on the machine
    make, and map, their own); what is found is looked at again a second later, so that a
    semaphore another process is making right now has been mapped."""

    def left() -> set[str]:
        used = _mapped_shm()
        return {
            p
            for p in shm_now() - before
            if p.startswith(f"/dev/shm/cvbench_{pid}_") or ("/sem.mp-" in p and p not in used)
        }

    found = left()
    if found:
        time.sleep(1.0)
        found &= left()
    return sorted(found)
