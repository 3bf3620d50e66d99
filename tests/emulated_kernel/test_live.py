"""The live kernel: real preemption of pure Python, and none of a running cv2 call."""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Callable

import greenlet
import numpy as np
import pytest

from cvbench.emulated_kernel.live.greenlets import DEFERRED_NS, LiveKernel
from cvbench.emulated_kernel.policies import make_policy
from cvbench.measure.affinity import Placement, allowed_cpus
from cvbench.measure.probes import Probes
from cvbench.models.kernel_greenlets import EmulatedKernel
from cvbench.models.sequential import Sequential
from cvbench.work import digest
from cvbench.workloads import load_spec
from cvbench.workloads.sources import JobOptions, build_job

pytestmark = pytest.mark.slow


MS = 1_000_000


def _probes() -> Probes:
    return Probes(Placement(tuple(allowed_cpus())), 1 * MS)


def _digest(records) -> str:
    return digest.combine_digests([r.digest for r in sorted(records, key=lambda r: r.index)])


class Stamps:
    """Progress of a busy loop: perf_counter and thread CPU time, as two lists of ints.

    Ints, not tuples: a list of 100k tuples makes the cyclic GC's full collections take tens of
    ms, which (being C) no signal can interrupt; that would be the GC's lag, not the policy's.
    """

    def __init__(self) -> None:
        self.wall: list[int] = []
        self.cpu: list[int] = []


def _busy(stamps: Stamps, end_ns: int) -> Callable[[], None]:
    """A CPU-bound pure-Python loop that never yields and records when it makes progress."""

    def run() -> None:
        now, cpu = time.perf_counter_ns, time.thread_time_ns
        wall_add, cpu_add = stamps.wall.append, stamps.cpu.append
        while (t := now()) < end_ns:
            wall_add(t)
            cpu_add(cpu())
            for _ in range(100):
                pass

    return run


def _max_cpu_gap(stamps: Stamps, lo: int, hi: int) -> int:
    """Longest stretch of the emulated CPU's time (this thread's CPU time) without progress.

    CPU time, not wall time: the host may stop the whole process (other jobs share these 2
    cores; 150 ms stalls were seen), which no scheduler inside it can help.
    """
    pts = [lo] + [c for c in stamps.cpu if lo <= c <= hi] + [hi]
    return max(b - a for a, b in zip(pts, pts[1:], strict=False))


@pytest.fixture(autouse=True)
def _timer_left_clean():
    """Every test leaves no armed timer and the original SIGALRM handler behind."""
    before = signal.getsignal(signal.SIGALRM)
    yield
    assert signal.getitimer(signal.ITIMER_REAL) == (0.0, 0.0)
    assert signal.getsignal(signal.SIGALRM) is before


@pytest.mark.parametrize("policy", ["rr", "cfs", "eevdf"])
def test_two_busy_greenlets_both_progress_in_every_20ms_window(policy: str) -> None:
    kernel = LiveKernel(policy, slice_ns=5 * MS if policy == "rr" else None)
    a, b = Stamps(), Stamps()
    end = time.perf_counter_ns() + 300 * MS
    kernel.spawn(_busy(a, end), name="a")
    kernel.spawn(_busy(b, end), name="b")
    stats = kernel.run()
    lo, hi = max(a.cpu[0], b.cpu[0]), min(a.cpu[-1], b.cpu[-1])
    assert hi - lo > 100 * MS
    assert _max_cpu_gap(a, lo, hi) < 20 * MS
    assert _max_cpu_gap(b, lo, hi) < 20 * MS
    assert stats.preemptions > 10  # only the timer can switch them: neither ever yields
    assert stats.dispatches >= stats.preemptions
    # pure Python: the handler runs at once (a cv2 call would defer it by its whole length);
    # 10 ms leaves room for a tick or two of a loaded 2-core machine (5.3 ms seen under load)
    assert stats.max_signal_cpu_delay_ns < 10 * MS
    cpu = [stats.tasks[n]["cpu_ns"] for n in ("a", "b")]
    assert 0.4 < cpu[0] / sum(cpu) < 0.6


def test_fifo_never_preempts() -> None:
    kernel = LiveKernel("fifo")
    a, b = Stamps(), Stamps()
    end = time.perf_counter_ns() + 50 * MS
    kernel.spawn(_busy(a, end), name="a")
    kernel.spawn(_busy(b, end), name="b")
    stats = kernel.run()
    assert stats.preemptions == 0 and stats.timer_signals == 0
    assert not b.wall or b.wall[0] >= a.wall[-1]  # cooperative: b starts when a exits


def test_nice_weights_share_the_cpu_like_linux() -> None:
    """nice 0 vs 5 under cfs: 1024/335 = 3.06, what Linux gave here (3.04-3.055)."""
    kernel = LiveKernel("cfs")
    end = time.perf_counter_ns() + 400 * MS
    kernel.spawn(_busy(Stamps(), end), name="n0", nice=0)
    kernel.spawn(_busy(Stamps(), end), name="n5", nice=5)
    stats = kernel.run()
    ratio = stats.tasks["n0"]["cpu_ns"] / stats.tasks["n5"]["cpu_ns"]
    assert 2.3 < ratio < 4.0


def test_sleeper_wakes_on_time_under_pure_python_load() -> None:
    """cfs wake-up preemption: a 1 ms ticker beside a busy loop is barely late."""
    kernel = LiveKernel("cfs")
    lags: list[int] = []
    end = time.perf_counter_ns() + 200 * MS

    def ticker() -> None:
        while (due := time.perf_counter_ns() + MS) < end:
            kernel.sleep_until(due)
            lags.append(time.perf_counter_ns() - due)

    kernel.spawn(_busy(Stamps(), end), name="busy")
    kernel.spawn(ticker, name="ticker")
    stats = kernel.run()
    assert len(lags) > 50  # 1 ms apart plus the lag, on a host that others share
    # Without wake-up preemption the ticker waits out the busy loop's slice (~3 ms for two
    # tasks): most ticks would be late by ms. The tail is the host's: a clean-clone CI run on a
    # VM with steal saw one tick in ~150 late by 6-7 ms, which made a p99 bound fail.
    assert np.median(lags) < 1 * MS
    assert np.percentile(lags, 90) < 5 * MS
    assert stats.voluntary >= len(lags)


def test_all_asleep_means_idle_not_spinning() -> None:
    kernel = LiveKernel("eevdf")
    woke: list[int] = []

    def nap(ms: int) -> None:
        kernel.sleep(ms / 1e3)
        woke.append(ms)

    for ms in (30, 10, 20):
        kernel.spawn(nap, ms)
    t0 = time.process_time()
    stats = kernel.run()
    assert woke == [10, 20, 30]
    assert stats.idle_ns > 25 * MS
    assert time.process_time() - t0 < 0.02


def test_handler_never_switches_inside_policy_bookkeeping() -> None:
    """Slow bookkeeping + 20 us timers: signals hit the critical section; none may switch."""
    policy = make_policy("rr", 1, slice_ns=50_000)
    kernel = LiveKernel(policy)
    calls = {"n": 0, "outside": 0, "foreign": 0}

    def guarded(method: Callable) -> Callable:
        def wrapper(*args: object) -> object:
            calls["n"] += 1
            calls["outside"] += kernel._in_kernel is not True
            calls["foreign"] += greenlet.getcurrent() is not kernel._kernel
            spin = time.perf_counter_ns() + 100_000
            while time.perf_counter_ns() < spin:  # bytecodes: where a handler could run
                pass
            return method(*args)

        return wrapper

    base = type(kernel._rq)
    slow = {n: guarded(getattr(base, n)) for n in ("enqueue", "dequeue", "pick_next", "put_prev",
                                                   "account", "tick")}  # fmt: skip
    kernel._rq = type("SlowRQ", (base,), slow)(policy, 0)
    end = time.perf_counter_ns() + 150 * MS
    a, b = Stamps(), Stamps()
    kernel.spawn(_busy(a, end), name="a")
    kernel.spawn(_busy(b, end), name="b")
    stats = kernel.run()
    assert calls["n"] > 100
    assert calls["outside"] == 0 and calls["foreign"] == 0
    assert stats.preemptions > 10
    assert stats.timer_signals > stats.preemptions  # some landed in the critical section
    assert a.wall and b.wall


@pytest.mark.parametrize("exc", [ValueError, KeyboardInterrupt])
def test_timer_disarmed_and_tasks_unwound_on_failure(exc: type[BaseException]) -> None:
    kernel = LiveKernel("eevdf")
    unwound: list[str] = []

    def victim() -> None:
        try:
            _busy(Stamps(), time.perf_counter_ns() + 10 * 1_000 * MS)()
        finally:
            unwound.append("victim")

    def failing() -> None:
        _busy(Stamps(), time.perf_counter_ns() + 20 * MS)()
        if exc is KeyboardInterrupt:
            os.kill(os.getpid(), signal.SIGINT)  # a real Ctrl-C, raised wherever Python is
            _busy(Stamps(), time.perf_counter_ns() + 1_000 * MS)()
        raise exc("boom")

    kernel.spawn(victim)
    kernel.spawn(failing)
    with pytest.raises(exc):
        kernel.run()
    assert unwound == ["victim"]  # the autouse fixture checks the timer and the handler


def test_refuses_to_run_outside_the_main_thread() -> None:
    errors: list[BaseException] = []

    def attempt(run: Callable[[], object]) -> None:
        try:
            run()
        except BaseException as e:  # noqa: BLE001
            errors.append(e)

    kernel = LiveKernel()
    kernel.spawn(lambda: None)
    for run in (kernel.run, lambda: EmulatedKernel().run(None, 1, _probes())):
        t = threading.Thread(target=attempt, args=(run,))
        t.start()
        t.join()
    assert len(errors) == 2
    assert all(isinstance(e, RuntimeError) and "main thread" in str(e) for e in errors)


def test_unknown_policy_is_rejected() -> None:
    with pytest.raises(ValueError, match="unknown policy"):
        EmulatedKernel("sjf").run(None, 1, _probes())


# -- the model --------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def jobs():
    with (
        build_job(load_spec("threshold"), JobOptions(preset="quick")) as threshold,
        build_job(load_spec("faces"), JobOptions(preset="quick")) as faces,
    ):
        yield {"threshold": threshold, "faces": faces}


@pytest.mark.parametrize("workload", ["threshold", "faces"])
@pytest.mark.parametrize("policy", ["eevdf", "rr"])
def test_model_output_equals_sequential(workload: str, policy: str, jobs) -> None:
    job = jobs[workload]
    expected = _digest(Sequential().run(job, 1, _probes()))
    probes = _probes()
    model = EmulatedKernel(policy)
    records = model.run(job, 2, probes)
    assert sorted(r.index for r in records) == list(range(job.items))
    assert _digest(records) == expected
    assert all(probes.begun_ns <= r.started_ns <= r.finished_ns <= probes.ended_ns for r in records)
    assert {r.worker for r in records} <= {0, 1}
    st = model.last_stats
    assert probes.user_switches == st["dispatches"] > 0  # both at the end of the region
    assert {"preemptions", "voluntary", "timer_signals", "deferred_signals"} <= st.keys()


def test_cv2_call_cannot_be_preempted(jobs) -> None:
    """The lesson: the heartbeat is late by at least one whole cv2 call, whatever the timer."""
    job = jobs["faces"]
    seq = Sequential().run(job, 1, _probes())
    service_ns = float(np.median([r.finished_ns - r.started_ns for r in seq]))
    probes = _probes()
    model = EmulatedKernel()
    model.run(job, 2, probes)
    lags = probes.heartbeat.lags_ns
    st = model.last_stats
    assert lags and np.percentile(lags, 99) >= 0.8 * service_ns
    assert st["max_signal_delay_ms"] * MS >= 0.8 * service_ns > DEFERRED_NS
    assert st["deferred_signals"] >= job.items // 2
