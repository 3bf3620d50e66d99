"""Round-two models: gevent, uvloop, trio+processes, the unsupported rows, `cvbench models`.

Digests of every model are checked in test_digest.py; here what is particular to each.
"""

from __future__ import annotations

import asyncio
import dataclasses
import threading

import psutil
import pytest
import trio
from click.testing import CliRunner

from cvbench.commands.listing import models_cmd
from cvbench.measure.probes import Probes
from cvbench.models import MODELS, Model
from cvbench.models.asyncio_ import Asyncio
from cvbench.models.base import ItemRecord
from cvbench.models.free_threaded import FreeThreaded
from cvbench.models.gevent_ import Gevent, GeventThreads
from cvbench.models.subinterpreters import Subinterpreters
from cvbench.models.trio_ import run_unwrapped
from cvbench.models.trio_processes import TrioProcesses
from cvbench.models.uvloop_ import Uvloop, UvloopThreads
from cvbench.work.item import Fault, WorkFn
from cvbench.work.job import Job
from tests.helpers import new_probes

NEW = ("processes+shm", "uvloop", "uvloop+threads", "trio+processes", "gevent")
NEW += ("gevent+threads", "dask", "free-threaded", "subinterpreters")
ROUND_ONE = ("sequential", "threads", "processes", "asyncio", "asyncio+threads")
ROUND_ONE += ("asyncio+processes", "trio", "trio+threads", "curio", "curio+threads")
ROUND_ONE += ("curio+processes", "greenlet", "kernel")


# -- facts and availability (fast) -----------------------------------------------------------
def test_new_models_are_registered_and_state_their_facts():
    assert set(NEW) <= set(MODELS)
    for name in ROUND_ONE + NEW:
        cls = MODELS[name]
        assert cls.runs_on, f"{name}: set runs_on (what runs the items)"
        assert cls.cores() in ("1", "N workers", "N workers (or the cluster's)"), name
        assert cls.dependency(), name
    assert MODELS["sequential"].cores() == "1" and MODELS["gevent"].cores() == "1"
    assert MODELS["threads"].dependency() == "stdlib"
    assert MODELS["gevent"].dependency().startswith("gevent ")


class _NeedsMissing(Model):
    name = "needs-missing"
    runs_on = "nothing"
    requires = ("cvbench-no-such-dist",)

    def run(self, job: Job, workers: int, probes: Probes) -> list[ItemRecord]:
        raise AssertionError("never run")


def test_a_missing_package_makes_a_model_unavailable_with_the_reason():
    assert MODELS["threads"].unavailable() is None
    assert _NeedsMissing.unavailable() == (
        "cvbench-no-such-dist is not installed (pip install cvbench-no-such-dist)"
    )
    assert _NeedsMissing.dependency() == "cvbench-no-such-dist (not installed)"


def test_interpreters_that_cannot_run_here_say_why():
    reasons = {m: m.unavailable() for m in (Subinterpreters, FreeThreaded)}
    # CI runs a GIL build of CPython < 3.14: both must be rows with a reason
    assert (
        "InterpreterPoolExecutor" in reasons[Subinterpreters]
        or "subinterpreter" in (reasons[Subinterpreters])
    )
    assert reasons[FreeThreaded] in (
        "this interpreter is not a free-threaded build",
        "importing cv2 re-enabled the GIL (OpenCV has no free-threaded wheels)",
    )
    for model, reason in reasons.items():
        with pytest.raises(RuntimeError, match=reason[:20]):
            model().run(Job("threshold", WorkFn("threshold"), ()), 1, new_probes())


def test_cvbench_models_lists_every_model_with_availability():
    res = CliRunner().invoke(models_cmd, [], terminal_width=300)
    assert res.exit_code == 0, res.output
    lines = res.output.splitlines()
    for name in MODELS:
        assert any(f" {name} " in line for line in lines), name
    row = next(line for line in lines if " free-threaded " in line)
    assert "no:" in row and "yes" not in row
    row = next(line for line in lines if " gevent " in line)
    assert "yes" in row and "gevent " in row and "one OS thread" in row


# -- trio: failures come out as themselves -----------------------------------------------------
def test_run_unwrapped_raises_the_single_failure_and_keeps_interrupts():
    async def fail(exc: BaseException) -> None:
        async with trio.open_nursery() as n:
            n.start_soon(trio.sleep, 0)
            raise exc

    with pytest.raises(ValueError, match="boom"):
        run_unwrapped(trio.run, fail, ValueError("boom"))

    def interrupted() -> list:
        raise BaseExceptionGroup("g", [ValueError("x"), KeyboardInterrupt()])

    with pytest.raises(KeyboardInterrupt):
        run_unwrapped(interrupted)

    async def two() -> None:
        async with trio.open_nursery() as n:
            n.start_soon(fail, ValueError("a"))
            n.start_soon(fail, KeyError("b"))

    with pytest.raises(BaseExceptionGroup):
        run_unwrapped(trio.run, two)


# -- the models at work (real frameworks, real workers) ----------------------------------------
@pytest.mark.parametrize("model", [Gevent, GeventThreads])
def test_gevent_counts_switches_and_ends_its_threads(model, quick_jobs):
    job = quick_jobs["threshold"]
    before = threading.active_count()
    probes = new_probes()
    records = model().run(job, 2, probes)
    assert len(records) == job.items
    assert probes.user_switches >= job.items  # at least one yield (or wake-up) per item
    assert threading.active_count() == before  # the ThreadPool's threads ended with the run
    if model is GeventThreads:
        assert {r.worker for r in records} == {0, 1}
        assert len({t for g in probes.worker_tids for t in g}) == 2


def test_gevent_heartbeat_is_a_greenlet_starved_by_inline_items(quick_jobs):
    """Inline, the heartbeat cannot run during an item: its lag is at least one item."""
    job = quick_jobs["faces"]
    probes = new_probes()
    records = Gevent().run(job, 1, probes)
    shortest = min(r.finished_ns - r.started_ns for r in records)
    assert probes.heartbeat.lags_ns and max(probes.heartbeat.lags_ns) >= shortest * 0.9


def test_uvloop_models_run_on_uvloop(quick_jobs, monkeypatch):
    import uvloop

    assert Asyncio.loop_factory() is None  # asyncio's own loop
    assert Uvloop.loop_factory() is UvloopThreads.loop_factory() is uvloop.new_event_loop
    seen: list[type] = []

    def spy() -> asyncio.AbstractEventLoop:
        loop = uvloop.new_event_loop()
        seen.append(type(loop))
        return loop

    monkeypatch.setattr(Uvloop, "loop_factory", staticmethod(lambda: spy))
    for model in (Uvloop, UvloopThreads):
        assert len(model().run(quick_jobs["threshold"], 2, new_probes())) > 0
    assert seen == [uvloop.Loop, uvloop.Loop]


def _descendants() -> set[int]:
    return {p.pid for p in psutil.Process().children(recursive=True)}


def test_trio_processes_places_distinct_workers_and_ends_them(quick_jobs):
    job = quick_jobs["faces"]
    before = _descendants()
    probes = new_probes()
    records = TrioProcesses().run(job, 2, probes)
    assert len(probes.worker_tids) == 2 and {r.worker for r in records} == {0, 1}
    # workers are the forkserver's children; after the run only direct children (the
    # forkserver, the resource tracker) may be new
    assert _descendants() - before <= {p.pid for p in psutil.Process().children()}


def test_trio_processes_dead_worker_raises_itself_not_a_group(quick_jobs):
    from trio_parallel import BrokenWorkerError

    job = quick_jobs["faces"]
    job = dataclasses.replace(job, fn=dataclasses.replace(job.fn, fault=Fault(1, "kill")))
    with pytest.raises(BrokenWorkerError):
        TrioProcesses().run(job, 2, new_probes())
