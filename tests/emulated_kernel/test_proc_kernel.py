"""kernel-proc: worker processes preempted by SIGSTOP/SIGCONT under an emulated policy.

What must hold whatever the machine's load: the same digests as sequential, cv2 calls really
preempted at M = 1, nice weights honoured, and no worker ever left stopped or alive, after a
normal run, a Ctrl-C, a crash, or the death of the parent.  Timings are measured and reported
elsewhere (docs), never asserted here.
"""

from __future__ import annotations

import dataclasses
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

from cvbench.emulated_kernel.live.processes import segments
from cvbench.emulated_kernel.validate.proc_vs_linux import measure_kernel_proc
from cvbench.measure.affinity import allowed_cpus
from cvbench.models.kernel_processes import KernelProc
from cvbench.models.sequential import Sequential
from cvbench.work.item import Fault
from cvbench.work.job import Job
from tests.helpers import ROOT, new_probes, run_digest


def _state(pid: int) -> str | None:
    """The process state letter from /proc/<pid>/stat ('T' stopped, 'Z' zombie), None if gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return text.rsplit(")", 1)[1].split()[0]


def _assert_all_gone(pids: list[int], within_s: float = 3.0) -> None:
    """Every worker is gone (or a zombie): neither stopped nor running."""
    assert pids, "the model never reported its workers"
    deadline = time.monotonic() + within_s
    while True:
        states = {p: _state(p) for p in pids}
        if all(s in (None, "Z", "X") for s in states.values()):
            return
        if time.monotonic() > deadline:
            pytest.fail(f"workers left behind: {states}")
        time.sleep(0.05)


def _long_faces(quick_jobs, copies: int = 12) -> Job:
    """The quick faces frames over and over: long enough to interrupt in the middle."""
    job = quick_jobs["faces"]
    return dataclasses.replace(job, payloads=job.payloads * copies)


@pytest.mark.slow
@pytest.mark.parametrize("workload", ["faces", "threshold"])
def test_digests_equal_sequential_and_cv2_calls_are_preempted(workload, quick_jobs):
    job = quick_jobs[workload]
    expected = run_digest(Sequential().run(job, 1, new_probes()))
    model = KernelProc(cpus=1)  # 2 workers, 1 emulated CPU: the policy must take turns
    probes = new_probes()
    records = model.run(job, 2, probes)
    assert sorted(r.index for r in records) == list(range(job.items))
    assert run_digest(records) == expected
    assert all(probes.begun_ns <= r.started_ns <= r.finished_ns <= probes.ended_ns for r in records)
    assert {r.worker for r in records} <= {0, 1}
    assert probes.heartbeat.lags_ns, "the scheduler loop beats the heartbeat"
    sched = probes.extra["schedule"]
    assert sched["cpus"] == 1 and sched["policy"] == "eevdf"
    assert probes.user_switches == model.last_stats["dispatches"] >= job.items
    if workload == "faces":  # ~40 ms calls, 4 ms ticks: preempted inside cv2
        assert probes.extra["preemptions"] > 0
    # one emulated CPU: its run segments never overlap
    segs = segments([tuple(e) for e in sched["events"]], end_ns=10**15)
    for a, b in zip(segs, segs[1:], strict=False):
        assert a[3] <= b[2], (a, b)
    # a stopped worker computes nothing: between two items of one worker (it blocked, was
    # woken with the next) the kernel dispatched it again before the next item started
    dispatched = [(w, t) for t, w, _c, e in sched["events"] if e == "D"]
    us = lambda ns: (ns - probes.begun_ns) // 1000  # noqa: E731
    for w in {r.worker for r in records}:
        mine = sorted((r for r in records if r.worker == w), key=lambda r: r.started_ns)
        for prev, nxt in zip(mine, mine[1:], strict=False):
            assert any(
                d == w and us(prev.finished_ns) <= t <= us(nxt.started_ns) for d, t in dispatched
            ), f"worker {w} started item {nxt.index} without being dispatched"
    _assert_all_gone(model.last_pids)


@pytest.fixture
def python_ctrl_c():
    """Python's own Ctrl-C handler, also when the test run started with SIGINT ignored (nohup,
    CI): Python then installed none, and a SIGINT would do nothing. Restored afterwards."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, previous)


@pytest.mark.slow
def test_ctrl_c_mid_run_leaves_no_worker_stopped(quick_jobs, python_ctrl_c):
    """A real SIGINT while one worker is stopped (M = 1): every worker ends anyway."""
    job = _long_faces(quick_jobs)
    model = KernelProc(cpus=1)
    probes = new_probes()
    seen: dict[int, str | None] = {}

    def interrupt() -> None:
        deadline = time.monotonic() + 60
        while not (probes.begun_ns and model.last_pids) and time.monotonic() < deadline:
            time.sleep(0.01)
        while "T" not in seen.values() and time.monotonic() < deadline:
            time.sleep(0.02)
            seen.update({p: _state(p) for p in model.last_pids})
        os.kill(os.getpid(), signal.SIGINT)

    t = threading.Thread(target=interrupt, daemon=True)
    t.start()
    with pytest.raises(KeyboardInterrupt):
        model.run(job, 2, probes)
        time.sleep(5)  # pragma: no cover - only if the run ended before the signal
    t.join()
    assert "T" in seen.values(), f"no worker was stopped when Ctrl-C came: {seen}"
    _assert_all_gone(model.last_pids)


@pytest.mark.slow
@pytest.mark.parametrize("fault", ["kill", "bad-payload"])
def test_failure_mid_run_raises_and_leaves_no_worker(fault, quick_jobs):
    job = _long_faces(quick_jobs, copies=3)
    if fault == "kill":
        job = dataclasses.replace(job, fn=dataclasses.replace(job.fn, fault=Fault(5, "kill")))
    else:
        payloads = list(job.payloads)
        payloads[5] = None  # cv2 raises inside the worker
        job = dataclasses.replace(job, payloads=tuple(payloads))
    model = KernelProc(cpus=1)
    with pytest.raises(RuntimeError, match="kernel-proc worker"):
        model.run(job, 2, new_probes())
    _assert_all_gone(model.last_pids)


_ORPHAN_SCRIPT = """
import sys, threading, time, dataclasses
from cvbench.models.kernel_processes import KernelProc
from cvbench.workloads import load_spec
from cvbench.workloads.sources import JobOptions, build_job
from tests.helpers import new_probes

def main():
    model, probes = KernelProc(cpus=1), new_probes()
    def report():
        while not (probes.begun_ns and model.last_pids):
            time.sleep(0.01)
        print(*model.last_pids, flush=True)
    threading.Thread(target=report, daemon=True).start()
    with build_job(load_spec("faces"), JobOptions(preset="quick")) as job:
        job = dataclasses.replace(job, payloads=job.payloads * 500)
        model.run(job, 2, probes)

if __name__ == "__main__":
    main()
"""


@pytest.mark.slow
def test_parent_killed_with_sigkill_takes_stopped_workers_along(tmp_path):
    """SIGKILL runs no finally: the workers' death signal (and the fork server exiting once
    no worker holds its lifeline) must end them, stopped or not."""
    script = tmp_path / "orphan.py"
    script.write_text(textwrap.dedent(_ORPHAN_SCRIPT))
    # SIGKILLed below, the script cannot remove multiprocessing's temp folder: in tmp_path
    env = {**os.environ, "PYTHONPATH": str(ROOT), "TMPDIR": str(tmp_path)}
    proc = subprocess.Popen(
        [sys.executable, str(script)], stdout=subprocess.PIPE, text=True, cwd=ROOT, env=env
    )
    try:
        line = proc.stdout.readline()
        pids = [int(p) for p in line.split()]
        assert len(pids) == 2, line
        deadline = time.monotonic() + 10
        while "T" not in {_state(p) for p in pids} and time.monotonic() < deadline:
            time.sleep(0.02)
        assert "T" in {_state(p) for p in pids}
    finally:
        proc.kill()
        proc.wait()
    _assert_all_gone(pids, within_s=5.0)


@pytest.mark.slow
@pytest.mark.parametrize("policy", ["cfs", "eevdf"])
def test_nice_0_vs_5_shares_follow_the_weights(policy):
    """1024 : 335 is 75.4 / 24.6; 50 / 50 would mean nice is ignored.  Loose bound: this
    window is short and the CI machine is shared."""
    cpu = allowed_cpus()[-1]
    samples = measure_kernel_proc((0, 5), cpu, 1.0, policy, hz=250, slice_ns=None)
    share = samples[0].run_ns / (samples[0].run_ns + samples[1].run_ns) * 100
    assert abs(share - 75.35) <= 6.0, share
    assert all(s.emulated_dispatches and s.emulated_dispatches > 10 for s in samples)


def test_bad_input_is_one_line_value_error():
    too_many = len(os.sched_getaffinity(0)) + 1
    for kwargs, text in (
        ({"policy": "lottery"}, "unknown policy 'lottery'"),
        ({"cpus": too_many}, f"{too_many} emulated CPUs but"),
        ({"cpus": 0}, "must be >= 1"),
        ({"nices": (0, 25)}, "nice 25 out of range"),
    ):
        with pytest.raises(ValueError, match=text) as info:
            KernelProc(**kwargs)
        assert "\n" not in str(info.value) and str(info.value).startswith("kernel-proc: ")
