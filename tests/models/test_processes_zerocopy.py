"""processes+zerocopy: the same digests as sequential, and nothing left behind (no /dev/shm
block, no worker process) after a clean run, a dead or stopped worker, Ctrl-C or a SIGKILLed
parent. Nothing here assumes two free cores: it passes on one CPU."""

from __future__ import annotations

import csv
import dataclasses
import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import cv2
import numpy as np
import psutil
import pytest

import cvbench as cvbench_pkg
from cvbench.measure.affinity import Placement, allowed_cpus, pin_order
from cvbench.measure.probes import Probes
from cvbench.measure.watchdog import Watchdog
from cvbench.models.processes_zerocopy import ProcessesZerocopy, WorkerDied, _Crew
from cvbench.models.sequential import Sequential
from cvbench.work import shm, zerocopy
from cvbench.work.digest import combine_digests
from cvbench.work.item import Fault

pytestmark = pytest.mark.slow

# Self-contained but for the quick_jobs fixture: the tests' helper modules are being moved.
ROOT = Path(cvbench_pkg.__file__).resolve().parents[1]
CVBENCH = [sys.executable, "-m", "cvbench.cli"]
SHM = Path("/dev/shm")


def _env() -> dict[str, str]:
    return {**os.environ, "COLUMNS": "200", "PYTHONPATH": str(ROOT)}


def cvbench(*args: str, timeout: float = 240) -> subprocess.CompletedProcess:
    return subprocess.run(
        [*CVBENCH, *args], capture_output=True, text=True, timeout=timeout, env=_env(), cwd=ROOT
    )


def new_probes(heartbeat_ms: float = 1.0) -> Probes:
    return Probes(Placement(tuple(allowed_cpus())), int(heartbeat_ms * 1e6))


def run_digest(records) -> str:
    return combine_digests([r.digest for r in sorted(records, key=lambda r: r.index)])


def _blocks(pid: int | None = None) -> list[str]:
    prefix = shm.block_prefix(pid)
    return sorted(p.name for p in SHM.iterdir() if p.name.startswith(prefix))


def _alive(pids: list[int]) -> list[int]:
    alive = []
    for pid in pids:
        try:
            if psutil.Process(pid).status() != psutil.STATUS_ZOMBIE:
                alive.append(pid)
        except psutil.NoSuchProcess:
            pass
    return alive


def _gone_soon(pids: list[int], timeout: float = 10.0) -> list[int]:
    deadline = time.monotonic() + timeout
    while _alive(pids) and time.monotonic() < deadline:
        time.sleep(0.05)
    return _alive(pids)


@pytest.mark.parametrize("workload", ["threshold", "threshold-io", "faces", "frames"])
def test_digests_equal_sequentials_and_nothing_is_left(quick_jobs, workload):
    job = quick_jobs[workload]
    expected = run_digest(Sequential().run(job, 1, new_probes()))
    for workers in (1, 2):
        probes = new_probes()
        records = ProcessesZerocopy().run(job, workers, probes)
        assert sorted(r.index for r in records) == list(range(job.items))
        assert run_digest(records) == expected
        assert {r.worker for r in records} <= set(range(workers))
        assert len(probes.worker_pids) == workers
        for r in records:
            assert probes.begun_ns <= r.arrival_ns <= r.started_ns <= r.finished_ns
            assert r.submitted_ns <= r.started_ns <= probes.ended_ns
        assert probes.extra["placement_s"] >= 0
        assert probes.stats().children >= workers  # the workers' CPU was counted
        assert not any("exited inside the region" in n for n in probes.stats().notes)
        assert _gone_soon(probes.worker_pids) == []
    assert _blocks() == []


class _ReadBack(Probes):
    """Reads every worker thread's affinity and nice from /proc as the timed region starts."""

    def begin(self, thread_heartbeat: bool = False) -> None:
        self.seen = {}
        for w, (pid, group) in enumerate(zip(self.worker_pids, self.worker_tids, strict=True)):
            self.seen[w] = [_affinity_and_nice(pid, t) for t in group]
        super().begin(thread_heartbeat)


def _affinity_and_nice(pid: int, tid: int) -> tuple[set[int], int]:
    with open(f"/proc/{pid}/task/{tid}/stat") as fh:
        nice = int(fh.read().rsplit(")", 1)[1].split()[16])
    return os.sched_getaffinity(tid), nice


def test_workers_are_pinned_and_niced_before_the_region(quick_jobs):
    cpus = allowed_cpus()
    probes = _ReadBack(Placement(tuple(cpus), pin="compact", nice=7), 0)
    ProcessesZerocopy().run(quick_jobs["faces"], 2, probes)
    order = pin_order(cpus, "compact")
    assert sorted(probes.seen) == [0, 1]
    for w, threads in probes.seen.items():
        assert threads  # the main thread (and the lifeline watcher in a real run)
        assert all(c == {order[w % len(order)]} and n == 7 for c, n in threads)


def _faulty(job, action: str, index: int = 1):
    return dataclasses.replace(job, fn=dataclasses.replace(job.fn, fault=Fault(index, action)))


@pytest.mark.parametrize(
    ("action", "how"), [("kill", "killed by signal SIGKILL"), ("exit", "exited with code 3")]
)
def test_a_dead_worker_fails_the_run_and_leaves_nothing(quick_jobs, action, how):
    probes = new_probes()
    with pytest.raises(WorkerDied, match=how):
        ProcessesZerocopy().run(_faulty(quick_jobs["faces"], action), 2, probes)
    assert _blocks() == []
    assert len(probes.worker_pids) == 2 and _gone_soon(probes.worker_pids) == []


def test_a_stopped_worker_is_killed_by_the_watchdog_and_the_run_ends(quick_jobs):
    job = quick_jobs["faces"]
    # ~15 s of work sequentially: the stop lands long before the end even on a loaded machine
    # (the watchdog ends the test at 3 s either way)
    job = dataclasses.replace(job, payloads=job.payloads * 200)
    probes = new_probes()
    dog = Watchdog(probes, 3.0)

    def stop_a_worker() -> None:
        while not probes.begun_ns:
            time.sleep(0.005)
        os.kill(probes.worker_pids[0], signal.SIGSTOP)

    stopper = threading.Thread(target=stop_a_worker, daemon=True)
    t0 = time.monotonic()
    with dog.armed(), pytest.raises(WorkerDied, match="SIGKILL"):
        stopper.start()
        ProcessesZerocopy().run(job, 2, probes)
    assert dog.fired and time.monotonic() - t0 < 30
    assert _blocks() == [] and _gone_soon(probes.worker_pids) == []


def test_cli_fault_fails_one_row_and_the_others_run(tmp_path):
    out = tmp_path / "r.csv"
    res = cvbench(
        "run", "--quick", "-w", "faces", "--workers", "2", "--repeat", "2",
        "-m", "sequential,processes+zerocopy,threads",
        "--inject-fault", "processes+zerocopy:3:kill",
        "--csv", str(out), "--json", str(tmp_path / "r.json"),
    )  # fmt: skip
    assert res.returncode == 1, res.stderr
    assert "Traceback" not in res.stdout + res.stderr
    with open(out, newline="") as fh:
        rows = [r for r in csv.DictReader(fh) if r["predicted"] == "false"]
    bad = [r for r in rows if r["model"] == "processes+zerocopy"]
    assert len(bad) == 1 and bad[0]["ok"] == "false" and "WorkerDied" in bad[0]["error"]
    assert all(r["ok"] == "true" for r in rows if r["model"] != "processes+zerocopy")


def test_cli_run_checks_digests_and_counts_worker_cpu(tmp_path):
    res = cvbench(
        "run", "--quick", "-w", "threshold,faces", "--workers", "1,2", "--repeat", "2",
        "-m", "sequential,processes+zerocopy", "--warmup", "0",
        "--csv", str(tmp_path / "r.csv"), "--json", str(tmp_path / "r.json"),
    )  # fmt: skip
    assert res.returncode == 0, res.stderr[-2000:]
    rows = [r for r in json.loads((tmp_path / "r.json").read_text())["rows"] if not r["predicted"]]
    zc = [r for r in rows if r["model"] == "processes+zerocopy"]
    assert len(zc) == 8 and all(r["ok"] for r in zc)  # ok: digests equal sequential's
    seq = {r["workload"]: r["output_digest"] for r in rows if r["model"] == "sequential"}
    assert all(r["output_digest"] == seq[r["workload"]] for r in zc)
    faces = [r for r in zc if r["workload"] == "faces"]
    # the workers' CPU is in the row: at least half of the items' service time
    assert all(r["cpu_user_s"] + r["cpu_sys_s"] > 0.5 * r["service_p50_ms"] / 1e3 for r in faces)


def _start(*args: str) -> subprocess.Popen:
    return subprocess.Popen(
        [*CVBENCH, *args], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env=_env(), start_new_session=True,
    )  # fmt: skip


def _wait_for_workers(proc: subprocess.Popen, timeout: float = 90) -> list[int]:
    """Every descendant once the run has placed a block and started two workers."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.communicate()[1][-2000:]
        kids = psutil.Process(proc.pid).children(recursive=True)
        workers = [k for k in kids if _ppid(k) not in (proc.pid, None)]  # the forkserver's
        if _blocks(proc.pid) and len(workers) >= 2:
            time.sleep(0.2)
            return [k.pid for k in psutil.Process(proc.pid).children(recursive=True)]
        time.sleep(0.02)
    pytest.fail("the run never placed its blocks and started its workers")


def _ppid(p: psutil.Process) -> int | None:
    """None for a child that has gone meanwhile (each repetition's workers come and go)."""
    try:
        return p.ppid()
    except psutil.Error:
        return None


def _cmdline(p: psutil.Process) -> list[str]:
    try:
        return p.cmdline()
    except psutil.Error:
        return []


def test_sigkill_of_the_parent_leaves_no_block_and_no_process(tmp_path):
    proc = _start(
        "run", "--quick", "-w", "faces", "--workers", "2", "--warmup", "0", "--repeat", "300",
        "-m", "processes+zerocopy",
        "--csv", str(tmp_path / "r.csv"), "--json", str(tmp_path / "r.json"),
    )  # fmt: skip
    try:
        pids = _wait_for_workers(proc)
        proc.kill()
        proc.wait()
    finally:
        proc.kill()
    assert _gone_soon(pids, 15) == [], [_cmdline(psutil.Process(p)) for p in _alive(pids)]
    deadline = time.monotonic() + 10  # the resource tracker unlinks once the last holder exits
    while _blocks(proc.pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _blocks(proc.pid) == []


_LOOP = textwrap.dedent(
    """
    import sys
    from cvbench.measure.affinity import Placement, allowed_cpus
    from cvbench.measure.probes import Probes
    from cvbench.models.processes_zerocopy import ProcessesZerocopy
    from cvbench.work import lifeline
    from cvbench.workloads import load_spec
    from cvbench.workloads.sources import JobOptions, build_job

    def new_probes():
        return Probes(Placement(tuple(allowed_cpus())), 1_000_000)

    if __name__ == "__main__":
        lifeline.mark_main()
        lifeline.quiet_resource_tracker()
        with build_job(load_spec("faces"), JobOptions(preset="quick")) as job:
            try:
                for n in range(1000):
                    ProcessesZerocopy().run(job, 2, new_probes())
                    print("done", n, flush=True)
            except KeyboardInterrupt:
                print("interrupted", flush=True)
                sys.exit(130)
    """
)


def test_ctrl_c_mid_run_unlinks_and_ends_the_workers(tmp_path):
    script = tmp_path / "loop.py"
    script.write_text(_LOOP)
    proc = subprocess.Popen(
        [sys.executable, str(script)],
        cwd=ROOT,
        env=_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),  # see DESIGN: SIGINT
    )
    try:
        assert proc.stdout.readline().startswith("done 0")  # one complete, normal run
        pids = _wait_for_workers(proc)
        proc.send_signal(signal.SIGINT)
        stdout, stderr = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 130, stderr
    assert "interrupted" in stdout
    assert _blocks(proc.pid) == []
    assert _gone_soon(pids) == []  # workers, fork server and resource tracker
    assert "Traceback" not in stderr, stderr


def test_each_worker_runs_the_op_twice_before_the_region(tmp_path):
    """A new process's first items ran ~2x slower than the sequential model's (a warm
    process): each worker makes two untimed calls, on items ``worker`` and ``worker + 1``,
    before it says ready. The op logs every call with its process's name, so the calls are
    counted from outside."""
    photos = tmp_path / "photos"
    photos.mkdir()
    for i, value in enumerate((10, 20, 30)):
        cv2.imwrite(str(photos / f"p{i}.png"), np.full((48, 64, 3), value, np.uint8))
    log = tmp_path / "calls.log"
    (tmp_path / "logging_op.py").write_text(
        "import multiprocessing, os\n"
        f"LOG = {str(log)!r}\n"
        "def op(img):\n"
        "    line = f'{multiprocessing.current_process().name} {int(img.mean())}\\n'\n"
        "    fd = os.open(LOG, os.O_WRONLY | os.O_APPEND | os.O_CREAT)\n"
        "    os.write(fd, line.encode())\n"
        "    os.close(fd)\n"
        "    return img.sum(axis=2)\n"
    )
    res = cvbench(
        "run", "--op", "logging_op:op", "--pythonpath", str(tmp_path), "--input", str(photos),
        "-m", "sequential,processes+zerocopy", "--workers", "2", "--repeat", "1",
        "--warmup", "0", "--csv", str(tmp_path / "r.csv"),
    )  # fmt: skip
    assert res.returncode == 0, res.stderr[-2000:]
    calls: dict[str, list[int]] = {}
    for line in log.read_text().splitlines():
        name, value = line.split()
        if name.startswith("cvbench-zerocopy-"):
            calls.setdefault(name, []).append(int(value))
    assert sorted(calls) == ["cvbench-zerocopy-0", "cvbench-zerocopy-1"]
    assert calls["cvbench-zerocopy-0"][:2] == [10, 20]
    assert calls["cvbench-zerocopy-1"][:2] == [20, 30]
    timed = sorted(v for values in calls.values() for v in values[2:])
    assert timed == [10, 20, 30]  # then every item exactly once, in the region


def test_the_regions_items_take_no_page_faults_in_a_worker(quick_jobs):
    """After one warm-up call the region's first item still took 264 minor faults (~1 MB of
    heap grown) and ~1.6x its time; after two, a worker's region takes next to none. Counted
    by the probes from /proc/<pid>/stat of each worker, over the region only."""
    quick = quick_jobs["threshold"]
    # the default preset's 810 KB tiles (the quick ones, 200 KB, stay under malloc's mmap
    # threshold and never showed it): each quick tile twice in each direction
    tiles = tuple(np.ascontiguousarray(np.tile(p, (2, 2, 1))) for p in quick.payloads[:8])
    job = dataclasses.replace(quick, payloads=tiles)
    pages_per_output = tiles[0].nbytes // 3 // 4096  # one grey 8-bit output per item
    probes = new_probes(0)
    ProcessesZerocopy().run(job, 1, probes)
    faults = probes.stats().workers_faults
    assert faults is not None
    assert faults < pages_per_output // 2, (faults, pages_per_output)  # 411 with one call


def _state(pid: int) -> str:
    with open(f"/proc/{pid}/stat") as fh:
        return fh.read().rsplit(")", 1)[1].split()[0]


def test_armed_workers_poll_then_sleep_and_the_go_word_starts_them(quick_jobs, monkeypatch):
    """Armed, a worker polls the go word (always runnable: a pipe read took 100-190 us to wake it);
    after SPIN_S it sleeps (no CPU burnt for a parent that never says go); one store of t0
    starts it, and it claims its first item after t0. Read from /proc, not from the model."""
    job = quick_jobs["threshold"]
    with (
        shm.shared_items(job.payloads) as refs,
        shm.shared_block(zerocopy.control_bytes(job.items)) as control,
    ):
        crew = _Crew(job, refs, control.name, 1)
        try:
            crew.start()
            pid = crew.pids[0]
            crew.arm()
            armed = time.monotonic()
            states = []
            while time.monotonic() - armed < zerocopy.SPIN_S / 2 and len(states) < 20:
                states.append(_state(pid))
                time.sleep(0.002)
            assert states and set(states) == {"R"}, states  # polling: never asleep
            deadline = time.monotonic() + zerocopy.SPIN_S + 5
            state = _state(pid)
            while state != "S" and time.monotonic() < deadline:
                time.sleep(0.05)
                state = _state(pid)
            # past SPIN_S: asleep between polls (read once: it wakes every ms, a second read
            # may catch it running)
            assert state == "S"
            slept = psutil.Process(pid).cpu_times()
            time.sleep(0.3)
            idle = psutil.Process(pid).cpu_times()
            assert (idle.user + idle.system) - (slept.user + slept.system) < 0.1
            t0 = time.perf_counter_ns()
            zerocopy.say_go(control.buf, t0)
            crew.wait()
            records = zerocopy.records_view(control.buf, job.items).copy()
        finally:
            crew.close()
    assert sorted(records["claimed"]) and min(records["claimed"]) >= t0
    assert all(records["finished"] > 0)


def test_the_parent_never_polls_on_a_cpu_a_worker_needs(tmp_path):
    """On one CPU two workers leave no CPU free when the first is done: the parent must sleep
    until the last one is (polling there would take turns on the CPU from it). Read in a child
    restricted to one CPU: its main thread's CPU time over the wait is a sliver of the wait,
    and it was never switched out involuntarily (each poll's sched_yield() would be)."""
    script = textwrap.dedent(
        """
        import dataclasses, os, sys, time
        import numpy as np
        from cvbench.models.processes_zerocopy import _Crew
        from cvbench.work import shm, zerocopy
        from cvbench.workloads import load_spec
        from cvbench.workloads.sources import JobOptions, build_job

        def switches():
            # the main thread's involuntary switches: a poll loop's sched_yield() counts so
            with open(f"/proc/self/task/{os.getpid()}/status") as fh:
                for line in fh:
                    if line.startswith("nonvoluntary_ctxt_switches"):
                        return int(line.split()[1])

        def main():
            os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
            with build_job(load_spec("threshold"), JobOptions(preset="quick")) as quick:
                # the default preset's 810 KB tiles: 0.6 ms items, a tail worth polling
                tiles = tuple(np.ascontiguousarray(np.tile(p, (2, 2, 1))) for p in quick.payloads)
                job = dataclasses.replace(quick, payloads=tiles)
                with shm.shared_items(job.payloads) as refs, shm.shared_block(
                    zerocopy.control_bytes(job.items)
                ) as control:
                    crew = _Crew(job, refs, control.name, 2)
                    try:
                        crew.start()
                        crew.arm()
                        zerocopy.say_go(control.buf, time.perf_counter_ns())
                        w0, c0, s0 = time.perf_counter(), time.thread_time(), switches()
                        crew.wait()
                        s1 = switches()
                        print(time.thread_time() - c0, time.perf_counter() - w0, s1 - s0)
                    finally:
                        crew.close()

        if __name__ == "__main__":
            main()
        """
    )
    (tmp_path / "one_cpu.py").write_text(script)
    res = subprocess.run(
        [sys.executable, str(tmp_path / "one_cpu.py")],
        capture_output=True, text=True, timeout=120, env=_env(), cwd=ROOT,
    )  # fmt: skip
    assert res.returncode == 0, res.stderr[-2000:]
    cpu_s, wall_s, yielded = map(float, res.stdout.split())
    assert wall_s > 0.02 and cpu_s < 0.1 * wall_s, (cpu_s, wall_s)
    # polling there: one sched_yield() switch per turn it got (11-14 measured); a sleeper is
    # switched out involuntarily only by another task woken on its CPU (2 seen once beside
    # another test's worker in a clean-clone CI run on a 2-vCPU VM)
    assert yielded <= 3, yielded


_ARMED_THEN_HANG = textwrap.dedent(
    """
    import time
    from cvbench.models.processes_zerocopy import _Crew
    from cvbench.work import lifeline, shm, zerocopy
    from cvbench.workloads import load_spec
    from cvbench.workloads.sources import JobOptions, build_job

    if __name__ == "__main__":
        lifeline.mark_main()
        lifeline.quiet_resource_tracker()
        with build_job(load_spec("threshold"), JobOptions(preset="quick")) as job:
            with shm.shared_items(job.payloads) as refs, shm.shared_block(
                zerocopy.control_bytes(job.items)
            ) as control:
                crew = _Crew(job, refs, control.name, 2)
                crew.start()
                crew.arm()
                print(*crew.pids, flush=True)
                time.sleep(600)  # never says go: killed here
    """
)


@pytest.mark.parametrize("after_s", [0.05, 1.0])
def test_a_parent_killed_while_its_workers_poll_for_go_leaves_nothing(tmp_path, after_s):
    """Armed workers poll the go word (first SPIN_S on the CPU, then once a millisecond): a
    SIGKILLed parent must still take them with it, in either phase, and its blocks go."""
    script = tmp_path / "armed.py"
    script.write_text(_ARMED_THEN_HANG)
    proc = subprocess.Popen(
        [sys.executable, str(script)], cwd=ROOT, env=_env(), stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True, start_new_session=True,
    )  # fmt: skip
    try:
        line = proc.stdout.readline()
        assert line, proc.communicate(timeout=30)[1][-2000:]
        pids = [int(p) for p in line.split()]
        assert len(pids) == 2 and _alive(pids) == pids
        time.sleep(after_s)  # inside SPIN_S, or past it
        proc.kill()
        proc.wait()
    finally:
        proc.kill()
    assert _gone_soon(pids, 15) == []
    deadline = time.monotonic() + 10  # the resource tracker unlinks once the last holder exits
    while _blocks(proc.pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _blocks(proc.pid) == []


def test_the_parent_polls_the_tail_of_a_region_longer_than_the_poll_budget(quick_jobs, monkeypatch):
    """TAIL_POLL_S bounds the polling from the first ``done`` on, not from the region's start:
    counted from the start, a region longer than it (faces at 2 workers: ~65 ms) never had
    its tail polled. The parent's waits are recorded through the module's wait_any; the
    parent is told it has two CPUs, so that the rule applies on a 1-CPU machine too."""
    import cvbench.models.processes_zerocopy as pz

    quick = quick_jobs["threshold"]
    tiles = tuple(np.ascontiguousarray(np.tile(p, (2, 2, 1))) for p in quick.payloads)
    job = dataclasses.replace(quick, payloads=tiles * 8)  # 512 items of ~0.6 ms
    calls: list[tuple[float | None, float]] = []
    real_wait = pz.wait_any
    started: list[float] = []

    def recording_wait(objects, timeout=None):
        if started:
            calls.append((timeout, time.perf_counter() - started[0]))
        return real_wait(objects, timeout)

    real_crew_wait = pz._Crew.wait

    def timed_wait(self):
        started.append(time.perf_counter())
        return real_crew_wait(self)

    monkeypatch.setattr(pz, "wait_any", recording_wait)
    monkeypatch.setattr(pz._Crew, "wait", timed_wait)
    monkeypatch.setattr(pz.os, "sched_getaffinity", lambda _pid: {0, 1})
    for _ in range(5):  # both workers may say done at once: then there is no tail to poll
        calls.clear()
        started.clear()
        probes = new_probes(0)
        ProcessesZerocopy().run(job, 2, probes)
        assert probes.wall_s > 2 * pz.TAIL_POLL_S  # the region outlasted the budget
        if len(calls) > 1:
            break
    else:
        pytest.skip("five regions without a tail: both workers always finished together")
    assert calls[0][0] is None  # slept until the first done ...
    after_first_done, at = calls[1]
    assert at > pz.TAIL_POLL_S  # ... which came after the budget, counted from the start ...
    assert after_first_done == 0  # ... and still polled for the last one
