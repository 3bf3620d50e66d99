"""Every wait on a dask cluster has an end (issue 22, point 1): a real `dask scheduler` and
`dask worker` on 127.0.0.1, a plain TCP server that never answers, real kills. Each case ends
within its deadline + 10 s with the row failed and the reason (or one line and exit 2 at
connect), leaves the cluster's processes alone, and leaves nothing behind."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from cvbench.models.dask_ import Dask
from cvbench.models.dask_calls import scheduler_problem
from tests.helpers import CVBENCH, ROOT, cvbench_in, measured_rows

needs_dask = pytest.mark.skipif(Dask.unavailable() is not None, reason=str(Dask.unavailable()))
DASK = Path(sys.executable).with_name("dask")
OPS = textwrap.dedent(
    """
    import time

    def hang(img):
        time.sleep(10**6)

    def slow(img):
        time.sleep(0.4)
        return 1
    """
)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def _silent_server() -> Iterator[str]:
    """A TCP server that accepts every connection and never says a word."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        server.settimeout(0.2)
        while not stop.is_set():
            with contextlib.suppress(OSError):
                held.append(server.accept()[0])

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield f"tcp://127.0.0.1:{server.getsockname()[1]}"
    finally:
        stop.set()
        thread.join()
        for conn in held:
            conn.close()
        server.close()


class Cluster:
    """A real scheduler and one single-threaded worker, each in its own process group."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.address = f"tcp://127.0.0.1:{_free_port()}"
        self.env = {
            **os.environ,
            "DASK_TEMPORARY_DIRECTORY": str(tmp),  # its scratch space: in the test's folder
            "TMPDIR": str(tmp),  # and multiprocessing's: both are SIGKILLed at the end
            "PYTHONPATH": f"{ROOT}{os.pathsep}{tmp}",  # the worker imports cvbench and the op
        }
        port = self.address.rsplit(":", 1)[1]
        self.scheduler = self._start("scheduler", "--host", "127.0.0.1", "--port", port)
        self.worker = self._start_worker()

    def _start(self, *args: str) -> subprocess.Popen:
        return subprocess.Popen(
            [DASK, *args, "--no-dashboard"], cwd=self.tmp, env=self.env,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
        )  # fmt: skip

    def _start_worker(self) -> subprocess.Popen:
        return self._start("worker", self.address, "--nworkers", "1", "--nthreads", "1")

    def wait_for_workers(self, n: int = 1) -> None:
        from distributed import Client

        with Client(self.address, timeout="30s", set_as_default=False) as client:
            client.wait_for_workers(n, timeout=60)

    def worker_process(self) -> psutil.Process:
        """The worker itself (the nanny's child), not the nanny."""
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            kids = [k for k in psutil.Process(self.worker.pid).children() if
                    "spawn_main" in " ".join(k.cmdline())]  # fmt: skip
            if kids:
                return kids[0]
            time.sleep(0.1)
        pytest.fail("the dask worker process never started")

    def kill_group(self, pgid: int, spare_trackers: bool) -> list[psutil.Process]:
        """SIGKILL every process of the group (but its resource trackers, if asked: returned).
        The group is stopped first, at once, so that a nanny cannot restart its worker
        between the kills; the spared trackers are continued."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pgid, signal.SIGSTOP)
        members = [p for p in psutil.process_iter() if _pgid(p.pid) == pgid]
        trackers = [p for p in members if spare_trackers and _is_tracker(p)]
        for p in members:
            if p not in trackers:
                with contextlib.suppress(psutil.Error):
                    p.kill()
        for p in trackers:
            with contextlib.suppress(psutil.Error):
                p.resume()
        return trackers

    def close(self) -> None:
        """SIGTERM first (dask closes cleanly), then SIGKILL what did not end (a worker's
        stuck thread) -- all but multiprocessing's resource trackers, which unlink the named
        semaphores of the killed processes once those are gone, and then end on their own."""
        groups = [p.pid for p in (self.worker, self.scheduler)]
        for pgid in groups:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pgid, signal.SIGTERM)
        for proc in (self.worker, self.scheduler):
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=5)
        trackers = [t for pgid in groups for t in self.kill_group(pgid, spare_trackers=True)]
        for proc in (self.worker, self.scheduler):
            proc.wait(timeout=20)
        _, alive = psutil.wait_procs(trackers, timeout=10)
        for p in alive:
            with contextlib.suppress(psutil.Error):
                p.kill()


def _is_tracker(p: psutil.Process) -> bool:
    with contextlib.suppress(psutil.Error):
        return "resource_tracker" in " ".join(p.cmdline())
    return False


def _pgid(pid: int) -> int | None:
    try:
        return os.getpgid(pid)
    except ProcessLookupError:
        return None


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[Cluster]:
    (tmp_path / "dkops.py").write_text(OPS)
    c = Cluster(tmp_path)
    try:
        c.wait_for_workers()
        yield c
    finally:
        c.close()


def _dask_run(tmp: Path, op: str, address: str, *extra: str) -> list[str]:
    return [
        "run", "--quick", "--op", f"dkops:{op}", "-m", "dask", "--warmup", "0",
        "--dask-scheduler", address, "--csv", str(tmp / "r.csv"), "--json", str(tmp / "r.json"),
        *extra,
    ]  # fmt: skip


def _quiet(res: subprocess.CompletedProcess) -> None:
    assert "Traceback" not in res.stdout + res.stderr, res.stderr
    assert "distributed." not in res.stderr, res.stderr


def test_scheduler_problem_names_what_went_wrong():
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        closed = f"tcp://127.0.0.1:{s.getsockname()[1]}"
    assert "Connection refused" in scheduler_problem(closed, 5)
    with _silent_server() as address:
        t0 = time.monotonic()
        problem = scheduler_problem(address, 1.0)
        assert time.monotonic() - t0 < 5
    assert "accepted the connection, but no dask scheduler answered within 1 s" in problem


@needs_dask
def test_a_refused_scheduler_is_one_line_exit_2(tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        address = f"tcp://127.0.0.1:{s.getsockname()[1]}"
    res, took = cvbench_in(tmp_path, "run", "--quick", "-m", "dask", "--dask-scheduler", address)
    assert res.returncode == 2 and "Connection refused" in res.stderr, res.stderr
    assert "Traceback" not in res.stderr and took < 30


@needs_dask
@pytest.mark.slow
def test_a_scheduler_that_never_answers_is_one_line_exit_2(tmp_path):
    """The probe: a `python -c` socket server as the scheduler hung until SIGKILL."""
    with _silent_server() as address:
        res, took = cvbench_in(
            tmp_path, "run", "--quick", "-m", "dask", "--dask-scheduler", address
        )
    assert res.returncode == 2, res.stderr
    errors = [line for line in res.stderr.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1 and address in errors[0] and "no dask scheduler answered" in errors[0]
    assert "Traceback" not in res.stderr
    assert took < 10 + 10 + 5  # the connect bound + 10 s (+ start-up on a loaded machine)


@needs_dask
@pytest.mark.slow
def test_a_hanging_op_on_a_cluster_fails_its_row_and_the_next_run_says_why(cluster, tmp_path):
    worker = cluster.worker_process()
    res, took = cvbench_in(tmp_path, *_dask_run(tmp_path, "hang", cluster.address, "--repeat", "1",
                                          "--item-timeout", "3s"))  # fmt: skip
    assert res.returncode == 1, res.stderr
    _quiet(res)
    assert took < 3 + 10 + 5
    (row,) = measured_rows(tmp_path / "r.csv")
    assert row["ok"] == "false"
    assert f"waiting for the items on the dask cluster at {cluster.address}" in row["error"]
    assert "cannot be stopped from here" in row["error"]
    assert worker.is_running()  # not ours: never signalled (it is still running the op)
    # the next run on that cluster: refused at once, naming the worker and the task
    res, took = cvbench_in(tmp_path, *_dask_run(tmp_path, "slow", cluster.address, "--repeat", "1",
                                          "--item-timeout", "3s"))  # fmt: skip
    assert res.returncode == 1, res.stderr
    _quiet(res)
    assert took < 3 + 10 + 5
    (row,) = measured_rows(tmp_path / "r.csv")
    assert "is still running cvbench-item-" in row["error"]
    assert "restart that worker" in row["error"]


def _kill_after_first_row(cluster: Cluster, tmp: Path, victim: str, *extra: str):
    """Start a run, kill the cluster's worker (or its nanny too) once a row exists."""
    env = {**os.environ, "PYTHONPATH": f"{ROOT}{os.pathsep}{tmp}"}
    args = _dask_run(tmp, "slow", cluster.address, "--repeat", "30", *extra)
    proc = subprocess.Popen(
        [*CVBENCH, *args], cwd=tmp, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    worker = cluster.worker_process()
    deadline = time.monotonic() + 60
    while not (tmp / "r.csv").exists() or len((tmp / "r.csv").read_text().splitlines()) < 2:
        assert time.monotonic() < deadline and proc.poll() is None, proc.stderr
        time.sleep(0.05)
    time.sleep(0.3)  # inside the next repetition
    t0 = time.monotonic()
    if victim == "worker":
        worker.kill()
    else:  # the nanny and its worker: nothing restarts them (their resource tracker is
        # spared: it unlinks their named semaphores once they are gone)
        cluster.kill_group(cluster.worker.pid, spare_trackers=True)
    out, err = proc.communicate(timeout=60)
    return proc.returncode, out, err, time.monotonic() - t0


@needs_dask
@pytest.mark.slow
def test_a_worker_killed_mid_run_fails_the_row_and_the_next_run_works(cluster, tmp_path):
    code, out, err, took = _kill_after_first_row(cluster, tmp_path, "worker")
    assert code == 1, err
    assert "Traceback" not in out + err and took < 20
    failed = [r for r in measured_rows(tmp_path / "r.csv") if r["ok"] == "false"]
    assert len(failed) == 1 and "left the dask cluster" in failed[0]["error"], failed
    cluster.wait_for_workers()  # its nanny started a new one
    res, _ = cvbench_in(tmp_path, *_dask_run(tmp_path, "slow", cluster.address, "--repeat", "1"))
    assert res.returncode == 0, res.stderr
    _quiet(res)


@needs_dask
@pytest.mark.slow
def test_a_cluster_that_loses_every_worker_fails_at_the_deadline(cluster, tmp_path):
    code, out, err, took = _kill_after_first_row(cluster, tmp_path, "nanny", "--item-timeout", "3s")
    assert code == 1, err
    assert "Traceback" not in out + err and took < 3 + 10
    failed = [r for r in measured_rows(tmp_path / "r.csv") if r["ok"] == "false"]
    assert len(failed) == 1 and "no workers left" in failed[0]["error"], failed
    res, took = cvbench_in(tmp_path, *_dask_run(tmp_path, "slow", cluster.address, "--repeat", "1"))
    assert res.returncode == 1 and took < 20, res.stderr
    (row,) = measured_rows(tmp_path / "r.csv")
    assert "has no workers" in row["error"]


@needs_dask
@pytest.mark.slow
def test_a_repetition_that_failed_on_a_dead_worker_names_it(cluster):
    """A worker killed while the client fetched its result failed the repetition with
    CommClosedError ("Connection reset by peer", a clean-clone CI run) instead of saying
    which worker left: the failure path asks the scheduler, as a finished repetition does."""
    from distributed import Client

    from cvbench.models.dask_ import _lost_worker

    with Client(cluster.address, timeout="30s", set_as_default=False) as client:
        before = sorted(client.scheduler_info()["workers"])
        assert _lost_worker(client, cluster.address, before) is None  # all still there
        cluster.worker_process().kill()
        err = _lost_worker(client, cluster.address, before)
    assert err is not None and f"worker {before[0]} left the dask cluster" in str(err)
