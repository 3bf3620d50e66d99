"""A stop during the calibration is raised between its steps, never inside a pool's locks.

Raised wherever the main thread was, a stop once landed inside a ThreadPoolExecutor's
semaphore just after its lock was taken: the lock stayed held, the pool's worker waited for it,
the pool's shutdown waited for the worker, and the run never ended."""

from __future__ import annotations

import contextlib
import importlib
import json
import signal
import sys
import threading
import time

import psutil
import pytest

from cvbench.commands.signals import stop_on_signals
from cvbench.measure import costs, interrupts


def test_a_deferred_stop_is_noted_and_raised_at_the_end(handlers_kept):
    reached = []
    with (
        stop_on_signals() as request,
        pytest.raises(KeyboardInterrupt, match="SIGTERM"),
        interrupts.deferred() as stop,
    ):
        signal.raise_signal(signal.SIGTERM)
        reached.append("after the signal")  # not interrupted here
        assert stop.name == "SIGTERM"
    assert reached == ["after the signal"] and request.signum == signal.SIGTERM


def test_check_raises_a_noted_stop_where_the_block_chooses(handlers_kept):
    with stop_on_signals(), interrupts.deferred() as stop:
        stop.check()  # nothing noted: nothing raised
        signal.raise_signal(signal.SIGTERM)
        with pytest.raises(KeyboardInterrupt, match="SIGTERM"):
            stop.check()
        stop.name = None  # taken: the block's end has nothing left to raise


def test_a_noted_stop_wins_over_a_failure_of_the_block(handlers_kept):
    # the calibration's failures are caught (no prediction, the run goes on): a stop noted
    # before one must still stop the run
    with (
        stop_on_signals(),
        pytest.raises(KeyboardInterrupt, match="SIGTERM"),
        interrupts.deferred(),
    ):
        signal.raise_signal(signal.SIGTERM)
        raise OSError("no processes here")


@pytest.mark.slow
@pytest.mark.parametrize("after_s", [0.0, 0.02, 0.05, 0.1, 0.2, 0.35])
def test_a_stop_at_any_moment_of_the_calibration_ends_it_promptly(handlers_kept, after_s):
    before = {t.ident for t in threading.enumerate()}
    main = threading.main_thread().ident
    timer = threading.Timer(after_s, lambda: signal.pthread_kill(main, signal.SIGTERM))
    t0 = time.monotonic()
    with stop_on_signals() as request:
        try:
            timer.start()
            costs.calibrate()
            time.sleep(1.0)  # it finished first: then the stop lands after it, here
        except KeyboardInterrupt:
            pass
    timer.join()
    assert request.signum == signal.SIGTERM
    assert time.monotonic() - t0 < 10  # a hang was forever
    time.sleep(0.2)
    left = {t.ident for t in threading.enumerate() if t.is_alive()} - before
    assert left == set(), [t.name for t in threading.enumerate()]
    kids = [p for p in psutil.Process().children() if "forkserver" not in " ".join(p.cmdline())]
    assert all(p.status() != psutil.STATUS_ZOMBIE for p in kids)


def test_a_stop_whose_interrupt_was_lost_is_raised_between_repetitions(handlers_kept):
    # a Ctrl-C once left a run measuring on for over 60 s: its KeyboardInterrupt never reached
    # the rounds. The runner asks before every repetition.
    with stop_on_signals():
        interrupts.raise_if_requested()  # nothing delivered: nothing raised
        with contextlib.suppress(KeyboardInterrupt):  # swallowed, as by whatever lost it
            signal.raise_signal(signal.SIGINT)
        with pytest.raises(KeyboardInterrupt, match="SIGINT"):
            interrupts.raise_if_requested()
    with stop_on_signals():  # the next run starts with no stop
        interrupts.raise_if_requested()


def test_a_start_up_stop_whose_exit_was_swallowed_ends_the_command(monkeypatch):
    # 3.13 on a slow VM: SIGINT 0.1 s in landed in an import's weakref callback, Python printed
    # "Exception ignored" and the run went on to exit 0
    from cvbench import _entry

    monkeypatch.setattr(_entry, "STOPPED", [signal.SIGINT])
    with pytest.raises(SystemExit) as exc, stop_on_signals():
        pytest.fail("the command's handlers must not be installed")
    assert exc.value.code == 130


SWALLOWED = """
import gc, signal, sys, weakref
from cvbench import _entry

class Thing:
    pass

def stop_inside_the_callback(_ref):  # as an import's module lock or a finalizer would
    signal.raise_signal(getattr(signal, sys.argv[1]))

def main():
    sys.unraisablehook = _entry._quiet_unraisable  # as _entry.main() installs them
    signal.signal(signal.SIGINT, _entry._quiet_exit)
    if sys.argv[2] == "run":  # the run's own handlers: KeyboardInterrupt, the stop recorded
        from cvbench.commands.signals import stop_on_signals
        handlers = stop_on_signals()
        handlers.__enter__()
    thing = Thing()
    fails = (lambda _r: 1 / 0) if sys.argv[2] == "other" else stop_inside_the_callback
    ref = weakref.ref(thing, fails)
    del thing
    gc.collect()
    print("went on", _entry.STOPPED, ref, flush=True)

main()
"""


@pytest.mark.parametrize("when", ["start-up", "run", "other"])
def test_a_stop_swallowed_in_a_weakref_callback_prints_no_traceback(tmp_path, when):
    """A clean-clone CI run: SIGINT 0.6 s into `cvbench run` landed in an import's weakref
    callback; Python printed "Exception ignored ... Traceback ... SystemExit: 130". The
    stop is recorded (the command ends with 130 when it installs its handlers, or the runner
    raises it before the next repetition), so it is not printed; another exception still is."""
    import os
    import subprocess
    import sys

    from tests.helpers import ROOT

    (tmp_path / "swallowed.py").write_text(SWALLOWED)
    res = subprocess.run(
        [sys.executable, str(tmp_path / "swallowed.py"), "SIGINT", when],
        capture_output=True, text=True, timeout=60, cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )  # fmt: skip
    assert res.returncode == 0 and "went on" in res.stdout, res.stderr
    if when == "other":
        assert "ZeroDivisionError" in res.stderr  # not ours: still printed
    else:
        assert "Traceback" not in res.stderr and "Exception ignored" not in res.stderr, res.stderr


def _module_that_stops_itself(tmp_path, monkeypatch, name: str) -> None:
    """A module whose body receives SIGTERM half-way (where scipy.stats's import met one)."""
    (tmp_path / f"{name}.py").write_text(
        "import signal\nsignal.raise_signal(signal.SIGTERM)\nAFTER_THE_STOP = True\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, name, raising=False)


def test_a_stop_that_lands_in_an_import_is_recorded_not_raised(handlers_kept, tmp_path,
                                                                monkeypatch):  # fmt: skip
    # raised in a module's body, it would leave the submodules that body had imported bound to
    # a half-built module: a run's finish then failed on scipy.stats without its `quantile`
    _module_that_stops_itself(tmp_path, monkeypatch, "stopped_mid_import")
    with stop_on_signals() as request:
        module = importlib.import_module("stopped_mid_import")
        assert module.AFTER_THE_STOP  # the body ran to its end
        assert request.signum == signal.SIGTERM and interrupts.stop_requested() == "SIGTERM"
        with pytest.raises(KeyboardInterrupt, match="SIGTERM"):
            interrupts.raise_if_requested()  # the runner's next check
    with stop_on_signals(), pytest.raises(KeyboardInterrupt, match="SIGTERM"):
        signal.raise_signal(signal.SIGTERM)  # outside an import: raised where it lands


@pytest.mark.slow
def test_a_run_whose_finish_imported_through_a_stop_is_interrupted(handlers_kept, tmp_path,
                                                                   monkeypatch):  # fmt: skip
    # after the last repetition nothing checks again: the runner marks the result itself
    from cvbench import runner
    from cvbench.config import build_config
    from cvbench.config.options import RunOptions
    from cvbench.pipeline import RunSession

    _module_that_stops_itself(tmp_path, monkeypatch, "stopped_in_the_finish")
    finish = runner.finish_run

    def finish_importing(run: object) -> None:
        importlib.import_module("stopped_in_the_finish")
        finish(run)

    monkeypatch.setattr(runner, "finish_run", finish_importing)
    opts = {"workload": "threshold", "models": "sequential", "quick": True, "repeat": 1,
            "warmup": 0, "json": str(tmp_path / "r.json"), "out": str(tmp_path)}  # fmt: skip
    with stop_on_signals() as request:
        result = RunSession(build_config(RunOptions.from_mapping(opts))).run()
    assert request.signum == signal.SIGTERM
    assert result.interrupted and result.rows
    assert json.loads((tmp_path / "r.json").read_text())["interrupted"] is True
