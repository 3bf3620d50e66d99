"""Affinity and nice of every worker thread and child, read back from /proc (not psutil)."""

from __future__ import annotations

import contextlib
import os
import threading

import pytest

from cvbench.measure.affinity import Placement, allowed_cpus, pin_order
from cvbench.measure.probes import Probes
from cvbench.measure.procfs import tids
from cvbench.models import MODELS

pytestmark = [pytest.mark.slow, pytest.mark.host]


def _proc_cpus(pid: int, tid: int) -> set[int]:
    with open(f"/proc/{pid}/task/{tid}/status") as fh:
        line = next(x for x in fh if x.startswith("Cpus_allowed_list:"))
    cpus: set[int] = set()
    for part in line.split(":", 1)[1].strip().split(","):
        lo, _, hi = part.partition("-")
        cpus.update(range(int(lo), int(hi or lo) + 1))
    return cpus


def _proc_nice(pid: int, tid: int) -> int:
    with open(f"/proc/{pid}/task/{tid}/stat") as fh:
        fields = fh.read().rsplit(")", 1)[1].split()
    return int(fields[16])  # field 19 of stat; the first two are before ')'


class ReadBackProbes(Probes):
    """Reads /proc for every worker when the timed region starts."""

    seen: dict[int, list[tuple[int, int, set[int], int]]]

    def place_processes(self, pids: list[int]) -> None:
        super().place_processes(pids)
        self.pids = pids

    def begin(self, thread_heartbeat: bool = False) -> None:
        self.seen = {}
        pids = getattr(self, "pids", None)
        for w, group in enumerate(self.worker_tids):
            pid = pids[w] if pids else os.getpid()
            self.seen[w] = [(pid, t, _proc_cpus(pid, t), _proc_nice(pid, t)) for t in group]
        super().begin(thread_heartbeat)


@pytest.mark.parametrize(
    "model",
    ["threads", "processes", "asyncio+processes", "curio+processes", "trio+threads", "asyncio"],
)
def test_pin_and_nice_applied_to_every_worker(model, quick_jobs):
    cpus = allowed_cpus()
    probes = ReadBackProbes(Placement(tuple(cpus), pin="compact", nice=7), 0)
    main_nice = os.getpriority(os.PRIO_PROCESS, 0)
    main_cpus = os.sched_getaffinity(0)
    from cvbench.runner import run_once

    workers = 1 if MODELS[model].inline else 2
    records, error = run_once(MODELS[model](), quick_jobs["faces"], workers, probes)
    assert error is None
    order = pin_order(cpus, "compact")
    assert len(probes.seen) == workers
    for w, threads in probes.seen.items():
        assert threads, "every worker has at least one thread"
        for _pid, _tid, proc_cpus, nice in threads:
            assert proc_cpus == {order[w % len(order)]}
            assert nice == 7
    # the main thread is given back what it had (inline models pinned and niced it)
    assert os.getpriority(os.PRIO_PROCESS, 0) == main_nice
    assert os.sched_getaffinity(0) == main_cpus


def test_cpus_restricts_every_thread_and_child(tmp_path):
    """--cpus with one CPU: the main process's threads and all children read back that CPU."""
    import subprocess
    import sys
    import time

    cpu = allowed_cpus()[-1]
    script = tmp_path / "probe.py"
    script.write_text(
        "import sys\n"
        "from cvbench.cli import main\n"
        "sys.argv = ['cvbench', 'run', '--quick', '--workload', 'faces', '--repeat', '40',\n"
        f"  '--models', 'processes', '--workers', '2', '--cpus', '{cpu}',\n"
        f"  '--out', r'{tmp_path}']\n"
        "main()\n"
    )
    proc = subprocess.Popen(
        [sys.executable, str(script)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        deadline = time.time() + 60
        checked = 0
        import psutil

        while time.time() < deadline and not checked:
            time.sleep(0.1)
            try:
                family = [proc.pid] + [c.pid for c in psutil.Process(proc.pid).children(True)]
            except psutil.NoSuchProcess:
                break
            if len(family) < 4:  # the run, the forkserver and two workers
                continue
            for pid in family:
                for tid in tids(pid):
                    with contextlib.suppress(FileNotFoundError, ProcessLookupError):
                        assert _proc_cpus(pid, tid) == {cpu}, (pid, tid)
                        checked += 1
        assert checked, "never saw the worker processes"
    finally:
        proc.kill()
        proc.wait()


def test_pin_spread_orders_one_cpu_per_core_first():
    cpus = allowed_cpus()
    order = pin_order(cpus, "spread")
    assert sorted(order) == sorted(cpus)
    assert Placement(tuple(cpus), "none").worker_cpus(0) is None
    assert Placement(tuple(cpus), "compact").worker_cpus(len(cpus)) == [sorted(cpus)[0]]


def test_heartbeat_thread_is_not_a_worker(quick_jobs):
    """Nice applies to workers only: the heartbeat thread keeps the main thread's nice."""
    seen = {}

    class Spy(ReadBackProbes):
        def end(self) -> None:
            for t in threading.enumerate():
                if t.name == "cvbench-heartbeat":
                    seen["nice"] = _proc_nice(os.getpid(), t.native_id)
            super().end()

    probes = Spy(Placement(tuple(allowed_cpus()), nice=9), 1_000_000)
    MODELS["threads"]().run(quick_jobs["faces"], 2, probes)
    assert seen["nice"] == os.getpriority(os.PRIO_PROCESS, 0)


def test_the_bare_loop_runs_where_the_sequential_model_runs(quick_jobs):
    """The overhead's yardstick and the sequential model share one placement: with --pin the
    model could not leave a busy CPU while an unpinned loop could."""
    import dataclasses

    from cvbench.models import resolve_models
    from cvbench.repetition import bare_loop_times_s, run_once

    cpus = allowed_cpus()
    placement = Placement(tuple(cpus), pin="spread", nice=5)
    job = quick_jobs["threshold"]
    seen: dict[str, set[tuple[frozenset[int], int]]] = {"bare": set(), "sequential": set()}
    key = "bare"

    class Watched(type(job.fn)):  # type: ignore[misc]
        def __call__(self, index, payload):
            tid = threading.get_native_id()
            seen[key].add((frozenset(_proc_cpus(os.getpid(), tid)), _proc_nice(os.getpid(), tid)))
            return super().__call__(index, payload)

    fn = Watched(**{f.name: getattr(job.fn, f.name) for f in dataclasses.fields(job.fn)})
    job = dataclasses.replace(job, fn=fn)
    before = (os.sched_getaffinity(0), os.getpriority(os.PRIO_PROCESS, 0))
    try:
        assert bare_loop_times_s(job, placement)[0] > 0
        assert os.sched_getaffinity(0) == before[0]  # the mask given back
        key = "sequential"
        _, error = run_once(resolve_models("sequential")[0], job, 1, Probes(placement, 0))
        assert error is None, error
    finally:
        with contextlib.suppress(PermissionError):
            os.setpriority(os.PRIO_PROCESS, 0, before[1])
    first = pin_order(cpus, "spread")[0]
    assert seen["bare"] == seen["sequential"] == {(frozenset({first}), 5)}


@pytest.mark.skipif(len(allowed_cpus()) < 2, reason="one CPU: pinned and unpinned are the same")
def test_the_heartbeat_thread_runs_beside_the_pinned_workers_not_on_their_cpus(quick_jobs):
    """A thread inherits its creator's mask: started by the pinned sequential model, the probe
    woke on the worker's CPU and preempted the item it was probing."""
    import dataclasses
    import time

    from cvbench.models import resolve_models
    from cvbench.repetition import run_once

    cpus = allowed_cpus()
    job = quick_jobs["threshold"]
    masks: list[set[int]] = []
    others = set(threading.enumerate())

    class Watched(type(job.fn)):  # type: ignore[misc]
        def __call__(self, index, payload):
            if index == job.items - 1:
                time.sleep(0.005)  # the probe has started and woken meanwhile
                hb = [
                    t
                    for t in threading.enumerate()
                    if t.name == "cvbench-heartbeat" and t not in others
                ]
                masks.extend(_proc_cpus(os.getpid(), t.native_id) for t in hb)
            return super().__call__(index, payload)

    fn = Watched(**{f.name: getattr(job.fn, f.name) for f in dataclasses.fields(job.fn)})
    job = dataclasses.replace(job, fn=fn)
    probes = Probes(Placement(tuple(cpus), pin="spread"), 1_000_000)
    _, error = run_once(resolve_models("sequential")[0], job, 1, probes)
    assert error is None, error
    # not the worker's CPU: the kernel wakes a sleeper where it slept, so the probe preempted
    # the pinned item about once per tick even with every CPU allowed
    assert masks == [set(cpus) - {pin_order(cpus, "spread")[0]}]
    assert len(probes.heartbeat.lags_ns) > 0


def test_the_probe_shares_the_cpus_when_the_workers_take_them_all():
    cpus = allowed_cpus()
    probes = Probes(Placement(tuple(cpus), pin="spread"), 0)
    probes.worker_tids = [[1]] * len(cpus)  # as many pinned workers as CPUs
    assert probes.probe_cpus() == cpus
    probes.worker_tids = []
    assert probes.probe_cpus() == cpus  # nothing pinned
    unpinned = Probes(Placement(tuple(cpus)), 0)
    unpinned.worker_tids = [[1]]
    assert unpinned.probe_cpus() == cpus
