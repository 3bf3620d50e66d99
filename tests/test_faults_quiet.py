"""Quiet children (issue 22, point 8): after a Ctrl-C to the whole process group, a SIGTERM or
a SIGKILL of the main process, the main process prints its one line and exits 128 + N, and
the processes it started print nothing: no dask AllExit/CommClosedError/"Stream is closed",
no forkserver SemLock or BrokenPipe tracebacks, no kernel-proc BrokenPipeError. Real runs,
real signals; the unit tests below pin the two mechanisms (work/quiet_child.py)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import psutil
import pytest

from cvbench.work.quiet_child import parent_went_away
from cvbench.work.temp_dirs import MP_PREFIX, remove_stale
from tests.helpers import CVBENCH, ROOT, gone

MODELS = ["dask", "processes", "kernel-proc"]
# what children said after a stop or a kill, as the probe saw it (the main process's own
# lines: its warnings, the interrupted line, never contain these)
NOISE = (
    "Traceback", "Process ", "distributed.", "Error", "Exception ignored", "Exception in",
    "Task exception", "KeyboardInterrupt", "Warning:", "never awaited", "Stream is closed",
)  # fmt: skip


def _start(tmp: Path, model: str) -> subprocess.Popen:
    return subprocess.Popen(
        [*CVBENCH, "run", "-w", "threshold", "-m", model, "--workers", "2", "--repeat", "200",
         "--csv", str(tmp / "r.csv"), "--json", str(tmp / "r.json")],
        # TMPDIR: a SIGKILLed run cannot remove its temp folders (dask's scratch space); the
        # next run would, but there may be none on this machine: they go in the test's folder
        cwd=ROOT, env={**os.environ, "COLUMNS": "200", "TMPDIR": str(tmp)}, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True, start_new_session=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )  # fmt: skip


def _measuring(proc: subprocess.Popen, tmp: Path, seconds: float = 2.0) -> None:
    """Wait until rows are being written, then a little more: inside the measurement."""
    deadline = time.monotonic() + 90
    csv = tmp / "r.csv"
    while not csv.exists() or len(csv.read_text().splitlines()) < 2:
        assert time.monotonic() < deadline and proc.poll() is None, proc.stderr
        time.sleep(0.05)
    time.sleep(seconds)


def _children_said(err: str) -> list[str]:
    return [line for line in err.splitlines() if any(n in line for n in NOISE)]


@pytest.mark.slow
@pytest.mark.parametrize("model", MODELS)
def test_ctrl_c_to_the_group_leaves_children_quiet(tmp_path, model):
    proc = _start(tmp_path, model)
    _measuring(proc, tmp_path)
    os.killpg(proc.pid, signal.SIGINT)  # a terminal's Ctrl-C reaches every process
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "Traceback" not in out + err
    assert _children_said(err) == [], err
    assert sum("interrupted by SIGINT" in line for line in err.splitlines()) == 1
    assert gone(proc.pid, 15) == []


@pytest.mark.slow
@pytest.mark.parametrize("model", MODELS)
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL])
def test_a_killed_main_process_leaves_children_quiet(tmp_path, model, sig):
    proc = _start(tmp_path, model)
    _measuring(proc, tmp_path)
    kids = [k.pid for k in psutil.Process(proc.pid).children(recursive=True)]
    proc.send_signal(sig)
    proc.wait(timeout=60)
    deadline = time.monotonic() + 15  # the children end through their lifeline
    while any(psutil.pid_exists(k) and psutil.Process(k).status() != "zombie" for k in kids):
        assert time.monotonic() < deadline, "children outlived the run"
        time.sleep(0.1)
    out, err = proc.stdout.read(), proc.stderr.read()  # the children's too: same pipe
    assert proc.returncode in (128 + sig, -sig), err
    assert "Traceback" not in out + err
    assert _children_said(err) == [], err
    if sig == signal.SIGTERM:
        assert gone(proc.pid, 15) == []
    else:  # nothing could remove a killed run's folders: the next run's start does (owned_dir)
        for base in (str(tmp_path), "/tmp"):
            remove_stale(MP_PREFIX, base)
            assert not list(Path(base).glob(f"{MP_PREFIX}{proc.pid}-*"))


def test_what_counts_as_the_parent_going_away():
    assert parent_went_away(EOFError("Ran out of input"))
    assert parent_went_away(BrokenPipeError())
    assert parent_went_away(KeyboardInterrupt())
    assert parent_went_away(OSError("got end of file during message"))
    assert not parent_went_away(ValueError("a bug"))
    assert not parent_went_away(ModuleNotFoundError("no module named myop"))
    try:
        open("/nonexistent/op.py")  # noqa: SIM115 - a FileNotFoundError of the user's own
    except FileNotFoundError as exc:
        assert not parent_went_away(exc)


_BOOTSTRAP = textwrap.dedent(
    """
    import multiprocessing, os, sys
    from cvbench.work import lifeline
    from cvbench.work.own_workers import ensure_preloaded

    class Broken:
        def __init__(self, kind):
            self.kind = kind
        def __reduce__(self):
            return (_explode, (self.kind,))

    def _explode(kind):
        raise {"pipe": BrokenPipeError, "eof": EOFError, "bug": ValueError}[kind](kind)

    def target(_):
        pass

    if __name__ == "__main__":
        lifeline.mark_main()
        ensure_preloaded("cvbench.work.quiet_child")
        ctx = multiprocessing.get_context("forkserver")
        p = ctx.Process(target=target, args=(Broken(sys.argv[1]),))
        p.start()
        p.join(30)
        print("EXIT", p.exitcode)
    """
)


@pytest.mark.parametrize(("kind", "quiet"), [("pipe", True), ("eof", True), ("bug", False)])
def test_a_forkserver_child_that_cannot_start_is_quiet_only_when_the_parent_left(
    tmp_path, kind, quiet
):
    """The fork server reports a child's start-up failure through sys.excepthook: ours there
    keeps parent-gone failures quiet and prints the rest (the user's op failing to import)."""
    script = tmp_path / "boot.py"
    script.write_text(_BOOTSTRAP)
    res = subprocess.run(
        [sys.executable, str(script), kind], capture_output=True, text=True, timeout=60,
        cwd=tmp_path, env={**os.environ, "PYTHONPATH": f"{ROOT}{os.pathsep}{tmp_path}"},
    )  # fmt: skip
    assert "EXIT 1" in res.stdout, res.stderr
    assert ("Traceback" in res.stderr) is not quiet, res.stderr
