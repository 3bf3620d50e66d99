"""The parallel ceiling's copies (work/corun.py) and its summary (ceiling.py): real forkserver
processes on a real quick job, checked against the copies' own CPU time from /proc."""

from __future__ import annotations

import dataclasses
import json
import os
import time
from pathlib import Path

import numpy as np
import psutil
import pytest

from cvbench.ceiling import MAX_REFERENCE_S, Ceilings
from cvbench.report.ceiling import ceiling_line
from cvbench.work.corun import CoRun, CoRunError
from tests.helpers import cvbench

pytestmark = pytest.mark.slow  # forkserver copies of a real job (quick_jobs)


def _shm_blocks() -> set[str]:
    return set(os.listdir("/dev/shm"))


def _run_ns(pid: int) -> int:
    """The process's CPU time from /proc/<pid>/schedstat (ns; single-threaded copies)."""
    return int(Path(f"/proc/{pid}/schedstat").read_text().split()[0])


def test_a_pair_is_real_work_and_nothing_stays(quick_jobs):
    job = quick_jobs["threshold"]
    job.fn.prepare()
    t0 = time.thread_time_ns()
    for i, payload in enumerate(job.payloads):
        job.fn(i, payload)
    bare_cpu_ns = time.thread_time_ns() - t0
    cpus = sorted(os.sched_getaffinity(0))
    cpus = cpus[:2] if len(cpus) >= 2 else cpus * 2  # one CPU: both copies on it
    before = _shm_blocks()
    crew = CoRun(job, cpus, timeout_s=60)
    try:
        crew.start()
        pids = [p.pid for p in crew.procs]
        cpu0 = [_run_ns(p) for p in pids]
        alone, together = crew.pair(alone_first=True)
        cpu1 = [_run_ns(p) for p in pids]
    finally:
        crew.close()
    assert alone > 0 and together > 0
    # copy 0 ran the loop twice (alone, then together), copy 1 once. What the kernel counted
    # as their CPU time is that work: no more than the loops' wall time (plus the messages),
    # and about what the same loop costs in this process
    used = [b - a for a, b in zip(cpu0, cpu1, strict=True)]
    assert used[0] <= (alone + together) * 1e9 + 5e6
    assert used[1] <= together * 1e9 + 5e6
    assert 0.4 < used[1] / bare_cpu_ns < 2.5, (used, bare_cpu_ns)
    assert 0.4 < used[0] / (2 * bare_cpu_ns) < 2.5, (used, bare_cpu_ns)
    assert not any(psutil.pid_exists(p) and psutil.Process(p).status() != "zombie" for p in pids)
    assert _shm_blocks() - before == set()


def _faults(pid: int) -> int:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[7]) + int(fields[9])  # minflt + majflt


def test_the_copies_are_warm_before_the_first_pair(quick_jobs):
    """start() runs every copy's loop once, untimed: the first pair's copies take next to no
    page faults (a new process's first loop over the default preset's 810 KB tiles faulted
    its heap in: the part of the first pair that ran first paid it alone)."""
    quick = quick_jobs["threshold"]
    tiles = tuple(np.ascontiguousarray(np.tile(p, (2, 2, 1))) for p in quick.payloads[:8])
    job = dataclasses.replace(quick, payloads=tiles)
    pages_per_output = tiles[0].nbytes // 3 // 4096
    cpus = sorted(os.sched_getaffinity(0))
    cpus = cpus[:2] if len(cpus) >= 2 else cpus * 2
    crew = CoRun(job, cpus, timeout_s=60)
    try:
        crew.start()
        pids = [p.pid for p in crew.procs]
        before = [_faults(p) for p in pids]
        crew.pair(alone_first=True)
        after = [_faults(p) for p in pids]
    finally:
        crew.close()
    taken = [b - a for a, b in zip(before, after, strict=True)]
    assert max(taken) < pages_per_output // 2, (taken, pages_per_output)


class _Broken:
    """A work function whose every item raises (module level: the copies unpickle it)."""

    def __init__(self, fn):
        self.fn = fn

    def prepare(self):
        return self.fn.prepare()

    def __call__(self, index, payload):
        raise ValueError("no such thing")


def test_a_failing_op_is_an_error_not_a_number(quick_jobs):
    bad = dataclasses.replace(quick_jobs["threshold"], fn=_Broken(quick_jobs["threshold"].fn))
    crew = CoRun(bad, [sorted(os.sched_getaffinity(0))[0]], timeout_s=60)
    try:
        with pytest.raises(CoRunError, match="ValueError: no such thing"):
            crew.start()
            crew.pair(alone_first=False)
    finally:
        crew.close()


def test_no_ceiling_beside_a_long_reference(quick_jobs):
    # a pair costs two bare loops and the crew's warm-up one more, outside the rounds' budget:
    # beside a 9 s reference (400 frames of 1080p here) that was ~40 s of a 80 s run
    before = set(psutil.Process().children(recursive=True))
    c = Ceilings(sorted(os.sched_getaffinity(0))[:2] * 2, 2)
    c.after_reference("threshold", quick_jobs["threshold"], 0, 60.0, MAX_REFERENCE_S + 0.5)
    assert c.crews == {} and set(psutil.Process().children(recursive=True)) == before
    assert "more than 2 s" in c.errors["threshold"] and c.ratios["threshold"] == []
    line = ceiling_line("threshold", c.summary([])["threshold"])
    assert line.startswith("parallel ceiling on threshold: not measured (a sequential")


def test_summary_is_copies_times_the_median_ratio_and_models_a_share_of_it():
    c = Ceilings([0, 1], 2)
    c.ratios["w"] = [(1.0, 1.1), (1.0, 1.0), (1.0, 1.25), (1.0, 1.05)]
    rows = [
        {"workload": "w", "model": "threads", "workers": 2, "ok": True, "speedup": s}
        for s in (1.6, 1.7, 1.8)
    ] + [{"workload": "w", "model": "threads", "workers": 1, "ok": True, "speedup": 0.9}]
    s = c.summary(rows)["w"]
    ratios = sorted(2 / t for t in (1.1, 1.0, 1.25, 1.05))
    assert s["speedup"] == pytest.approx((ratios[1] + ratios[2]) / 2)
    assert s["ci"][0] <= s["speedup"] <= s["ci"][1]
    assert s["of_ceiling_pct"] == {"threads": pytest.approx(100 * 1.7 / s["speedup"])}
    assert "threads" in ceiling_line("w", s)
    assert Ceilings([0], 2).cpus == []  # one CPU: no ceiling to measure


def test_a_run_reports_the_ceiling_in_its_json_and_output(tmp_path: Path):
    if len(os.sched_getaffinity(0)) < 2:
        pytest.skip("one CPU: a ceiling at 2 workers needs two")
    out = tmp_path / "r.json"
    res = cvbench(
        "run", "--quick", "-w", "threshold", "-m", "sequential,threads", "--workers", "1,2",
        "--repeat", "3", "--warmup", "0", "--json", str(out), "--csv", str(tmp_path / "r.csv"),
    )  # fmt: skip
    assert res.returncode == 0, res.stderr[-2000:]
    doc = json.loads(out.read_text())
    c = doc["parallel_ceiling"]["threshold"]
    assert c["workers"] == 2 and c["pairs"] == 3 and c["speedup"] > 0
    assert set(c["of_ceiling_pct"]) == {"threads"}
    assert "parallel ceiling on threshold at 2 workers" in res.stdout
