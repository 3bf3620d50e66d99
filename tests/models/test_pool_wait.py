"""The pool models' main thread sleeps through the region, woken once when all is done: woken
at every future, it preempted a worker on every wake-up when each CPU had a pinned worker."""

from __future__ import annotations

import dataclasses
import statistics
import threading

from cvbench.measure.affinity import Placement, allowed_cpus
from cvbench.measure.probes import Probes
from cvbench.models import resolve_models
from cvbench.repetition import run_once


def _voluntary_switches() -> int:
    with open(f"/proc/self/task/{threading.get_native_id()}/status") as fh:
        line = next(x for x in fh if x.startswith("voluntary_ctxt_switches:"))
    return int(line.split()[1])


class CountingProbes(Probes):
    """The main thread's voluntary context switches (sleeps) inside the timed region."""

    def begin(self, thread_heartbeat: bool = False) -> None:
        super().begin(thread_heartbeat)
        self.before = _voluntary_switches()

    def end(self) -> None:
        self.sleeps = _voluntary_switches() - self.before
        super().end()


def test_the_thread_pools_main_thread_is_woken_once_not_per_future(quick_jobs) -> None:
    # one future per item: waiting for each in turn slept 6-78 times (2 CPUs) or 4-16 (1 CPU)
    job = dataclasses.replace(quick_jobs["threshold"], chunksize=1)
    assert job.items >= 32
    sleeps = []
    for _ in range(3):
        probes = CountingProbes(Placement(tuple(allowed_cpus()), pin="spread"), 0)
        records, error = run_once(resolve_models("threads")[0], job, 2, probes)
        assert error is None, error
        assert sorted(r.index for r in records) == list(range(job.items))
        sleeps.append(probes.sleeps)
    assert statistics.median(sleeps) <= 4, sleeps


def test_a_model_that_fails_in_its_region_leaves_no_heartbeat_ticking(quick_jobs) -> None:
    """The heartbeat thread is stopped in end(), which a raising model never reaches: it
    ticked every 1 ms for the rest of the run (and of the test session)."""
    job = quick_jobs["threshold"]

    class Failing(type(job.fn)):  # type: ignore[misc]
        def __call__(self, index, payload):
            if index == 3:
                raise ValueError("item 3 is bad")
            return super().__call__(index, payload)

    fields = {f.name: getattr(job.fn, f.name) for f in dataclasses.fields(job.fn)}
    job = dataclasses.replace(job, fn=Failing(**fields))
    for name, workers in (("sequential", 1), ("threads", 2)):
        before = set(threading.enumerate())
        probes = Probes(Placement(tuple(allowed_cpus())), 1_000_000)
        _, error = run_once(resolve_models(name)[0], job, workers, probes)
        assert error is not None and "item 3 is bad" in error, error
        ticking = [
            t
            for t in threading.enumerate()
            if t.name == "cvbench-heartbeat" and t not in before and t.is_alive()
        ]
        assert not ticking, name


def test_the_thread_pool_template_keeps_its_main_thread_asleep_too() -> None:
    """The emulated kernel's thread pool mirrors run_pool: what the parent spends beside the
    workers (the harness's CPU, in parent_item_s) is not charged to the pool's main thread."""
    from cvbench.emulated_kernel.predict.costs import ItemCost, MachineCosts
    from cvbench.emulated_kernel.predict.pool_models import predict_model

    items = [ItemCost(0.00002, 0.00055, 0.0, 810_000, 64) for _ in range(64)]
    quiet = dataclasses.replace(MachineCosts(), parent_item_s=0.0, worker_item_s=0.00001)
    busy = dataclasses.replace(quiet, parent_item_s=0.0005)  # 0.5 ms of harness per item
    for workers in (1, 2):
        a = predict_model("threads", items, quiet, workers, 2).throughput_per_s
        b = predict_model("threads", items, busy, workers, 2).throughput_per_s
        assert a == b
