"""processes+shm: zero-copy views, and no /dev/shm block left behind, whatever happens."""

from __future__ import annotations

import contextlib
import dataclasses
import os
import signal
import subprocess
import sys
import textwrap
import time
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path

import numpy as np
import psutil
import pytest

from cvbench.models.processes_shm import ProcessesShm
from cvbench.work import shm
from cvbench.work.item import Fault
from tests.helpers import ROOT, new_probes

SHM = Path("/dev/shm")


def _blocks(pid: int | None = None) -> list[str]:
    prefix = shm.block_prefix(pid)
    return sorted(p.name for p in SHM.iterdir() if p.name.startswith(prefix))


def test_views_are_zero_copy_read_only_and_the_block_goes_away():
    arrays = [
        np.arange(450 * 600 * 3, dtype=np.uint8).reshape(450, 600, 3),
        np.linspace(0, 1, 7, dtype=np.float64),
        np.arange(12, dtype=np.int32).reshape(3, 4)[:, ::2],  # not contiguous: copied in
    ]
    payloads = [*arrays, ("a.png", "b.png")]
    with shm.shared_items(payloads) as refs:
        assert len(_blocks()) == 1
        assert refs[3] == ("a.png", "b.png")  # not an array: passed through as is
        views = [shm.view(r) for r in refs[:3]]
        for original, view in zip(arrays, views, strict=True):
            assert view.dtype == original.dtype and np.array_equal(view, original)
            assert not view.flags.writeable
        assert all(r.offset % shm.ALIGN == 0 for r in refs[:3])
        assert np.shares_memory(views[0], shm.view(refs[0]))  # one mapping, no copies
        del views
        shm.release()
    assert _blocks() == []


def test_block_is_unlinked_when_the_body_raises():
    with pytest.raises(ZeroDivisionError), shm.shared_items([np.zeros(10)]):
        assert len(_blocks()) == 1
        1 / 0  # noqa: B018
    assert _blocks() == []


def test_no_arrays_no_block():
    with shm.shared_items([("x", "y")]) as refs:
        assert refs == (("x", "y"),) and _blocks() == []


def _mapped_by_children(name_prefix: str) -> list[int]:
    pids = []
    for child in psutil.Process().children(recursive=True):
        try:
            maps = Path(f"/proc/{child.pid}/maps").read_text()
        except OSError:
            continue
        if name_prefix in maps:
            pids.append(child.pid)
    return pids


@pytest.mark.slow
def test_normal_run_leaves_no_block_and_no_worker_mapping(quick_jobs):
    probes = new_probes()
    records = ProcessesShm().run(quick_jobs["threshold"], 2, probes)
    assert len(records) == quick_jobs["threshold"].items
    assert probes.extra["placement_s"] > 0
    assert _blocks() == []
    assert _mapped_by_children(shm.block_prefix()) == []


@pytest.mark.slow
def test_killed_worker_fails_the_run_and_unlinks(quick_jobs):
    job = quick_jobs["faces"]
    job = dataclasses.replace(job, fn=dataclasses.replace(job.fn, fault=Fault(1, "kill")))
    with pytest.raises(BrokenProcessPool):
        ProcessesShm().run(job, 2, new_probes())
    assert _blocks() == []


_LOOP = textwrap.dedent(
    """
    import sys
    from cvbench.models.processes_shm import ProcessesShm
    from cvbench.workloads import load_spec
    from cvbench.workloads.sources import JobOptions, build_job
    from tests.helpers import new_probes

    if __name__ == "__main__":
        with build_job(load_spec("threshold"), JobOptions(preset="quick")) as job:
            try:
                for n in range(1000):
                    ProcessesShm().run(job, 2, new_probes())
                    print("done", n, flush=True)
            except KeyboardInterrupt:
                print("interrupted", flush=True)
                sys.exit(130)
    """
)


@pytest.mark.slow
def test_ctrl_c_mid_run_unlinks_and_the_resource_tracker_stays_quiet(tmp_path):
    script = tmp_path / "loop.py"
    script.write_text(_LOOP)
    proc = subprocess.Popen(
        [sys.executable, str(script)],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        # a job started with SIGINT ignored (nohup, CI) passes that on: Python then installs
        # no KeyboardInterrupt handler, so the child gets the default back before exec
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
        start_new_session=True,  # its fork server and resource tracker: one group to end
    )
    try:
        assert proc.stdout.readline().startswith("done 0")  # one complete, normal run
        deadline = time.monotonic() + 60
        while not _blocks(proc.pid):  # the next run has placed its block
            assert time.monotonic() < deadline and proc.poll() is None
            time.sleep(0.005)
        time.sleep(0.2)
        proc.send_signal(signal.SIGINT)
        stdout, stderr = proc.communicate(timeout=60)
    finally:
        # the script is no `cvbench run` (no lifeline): if the test fails midway, nothing of
        # it may outlive the test (a failed run here once left its fork server behind)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode == 130, stderr
    assert "interrupted" in stdout
    assert _blocks(proc.pid) == []
    assert "resource_tracker" not in stderr and "leaked" not in stderr, stderr
