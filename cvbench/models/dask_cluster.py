"""The dask model's clusters: a LocalCluster of the run's own, or a client of an existing one.

A LocalCluster is started with SIGINT blocked in the starting thread: its event-loop thread
inherits the mask, and so does every worker process its nannies spawn from that thread (a
signal mask survives fork and exec; multiprocessing's resource tracker, which unblocks SIGINT
in the thread that first starts it, is started before). A terminal's Ctrl-C reaches the whole
process group; the workers then never see it (before, each printed a KeyboardInterrupt
traceback from asyncio's runner), and the parent alone ends them, as for every other pool
(work/lifeline.py). A stop signal that arrives while the cluster starts is held until it
has started, so that it is closed like any other (an interrupted LocalCluster() is closed by
nobody until dask's atexit hook, which then logged its whole shutdown after cvbench's last
line). dask's own logs stay silent, its CRITICAL "closed comm" lines at a Ctrl-C included.

An existing cluster (--dask-scheduler) is asked who it is, under a bound, before a client
connects (models/dask_calls.py), and the client is closed under a bound too.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import signal
import threading
import warnings
from collections.abc import Iterator
from typing import Any

from cvbench.models.dask_calls import CONNECT_S, scheduler_problem
from cvbench.work.temp_dirs import owned_dir

# An idle LocalCluster of 2 workers kept for the run (one per worker count) used 3.5 % of a
# CPU between dask's repetitions, taken from every other model's: its event loops' 20 ms
# tick monitor and the workers' 100 ms memory monitor, both diagnostics. At 1 s: 1.6 %.
CONFIG = {
    "distributed.worker.profile.enabled": False,
    "distributed.scheduler.allowed-failures": 0,
    "distributed.admin.tick.interval": "1s",
    "distributed.worker.memory.monitor-interval": "1s",
}
SCRATCH_PREFIX = "cvbench-dask-"
LOG_ENV = "DASK_LOGGING__DISTRIBUTED"  # dask's config from the environment: logging.distributed
CLOSE_S = 5.0  # closing a client: a scheduler that stopped answering is not waited for longer
SILENT = logging.CRITICAL + 1  # above dask's CRITICAL "closed comm" lines after a Ctrl-C
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


def _filter_dask_warnings() -> None:
    """dask's warnings that say nothing about the measurement, from the first cluster on, for
    the whole process (a scoped filter would be undone out of order when clusters close): that
    port 8787 is taken (dask's HTTP server binds even with the dashboard off), and, after a
    Ctrl-C interrupted a sync call, its own coroutine left unawaited when the client closed."""
    warnings.filterwarnings("ignore", message=r"Port \d+ is already in use")
    warnings.filterwarnings(
        "ignore", message=r"coroutine '(Future|Client)\.\w+' was never awaited",
        category=RuntimeWarning,
    )  # fmt: skip


class DaskUnreachable(Exception):
    """No dask scheduler answers at the address given (one line: which, and why)."""


class _Quiet:
    """dask quiet unless asked (CVBENCH_DASK_LOGS=1): its INFO lines at every cluster close and
    a warning that port 8787 is taken (its HTTP server binds even with the dashboard off) said
    nothing about the measurement and buried the findings. Creating a cluster re-initialises
    dask's loggers, so ``hush()`` is applied again after it; the levels come back when the
    last cluster or client is closed (an API caller's logging is left as it was). Counted:
    the run keeps one cluster per worker count, and a failed one is closed before the others
    (restoring at its close made the next one log its whole shutdown)."""

    FAMILIES = ("distributed", "tornado", "bokeh")
    _lock = threading.Lock()
    _depth = 0
    _saved: dict[str, int] = {}  # shared by every instance on purpose
    _env: str | None = None

    def __init__(self) -> None:
        self.off = bool(os.environ.get("CVBENCH_DASK_LOGS"))

    def hush(self) -> None:
        if self.off:
            return
        names = [n for n in list(logging.root.manager.loggerDict) if n.split(".")[0] in
                 self.FAMILIES]  # fmt: skip
        for name in dict.fromkeys([*self.FAMILIES, *names]):
            logger = logging.getLogger(name)
            _Quiet._saved.setdefault(name, logger.level)
            logger.setLevel(SILENT)

    def __enter__(self) -> _Quiet:
        _filter_dask_warnings()  # idempotent: warnings drops a filter it already has
        if self.off:
            return self
        with _Quiet._lock:
            if _Quiet._depth == 0:
                _Quiet._env = os.environ.get(LOG_ENV)
            _Quiet._depth += 1
        os.environ[LOG_ENV] = "error"  # worker processes read it at import
        self.hush()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.off:
            return
        with _Quiet._lock:
            _Quiet._depth -= 1
            if _Quiet._depth:
                return
            for name, level in _Quiet._saved.items():
                logging.getLogger(name).setLevel(level)
            _Quiet._saved.clear()
            if _Quiet._env is None:
                os.environ.pop(LOG_ENV, None)
            else:
                os.environ[LOG_ENV] = _Quiet._env


@contextlib.contextmanager
def _sigint_blocked() -> Iterator[None]:
    """SIGINT blocked in this thread (any thread: the mask is per thread), for what it starts."""
    from cvbench.work.lifeline import quiet_resource_tracker

    quiet_resource_tracker()  # its first start would unblock SIGINT in this thread
    old = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)


@contextlib.contextmanager
def _stop_signals_held() -> Iterator[None]:
    """Stop signals recorded, not acted on, for the length of the block; the first one is
    raised again afterwards, through the handler that was there (main thread only: elsewhere
    the signals are not ours)."""
    previous = {sig: signal.getsignal(sig) for sig in STOP_SIGNALS}
    if threading.current_thread() is not threading.main_thread() or None in previous.values():
        yield  # not ours to hold (another thread), or a handler Python cannot put back
        return
    arrived: list[int] = []
    for sig in STOP_SIGNALS:
        signal.signal(sig, lambda signum, frame: arrived.append(signum))
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        if arrived:
            signal.raise_signal(arrived[0])


def _close_bounded(client: Any) -> None:
    with contextlib.suppress(Exception):
        client.close(timeout=CLOSE_S)


@contextlib.contextmanager
def external_client(address: str) -> Iterator[Any]:
    """A client of the cluster at ``address``, after it answered who it is (DaskUnreachable
    otherwise: one line); closed under a bound."""
    import dask
    from distributed import Client

    problem = scheduler_problem(address, CONNECT_S)
    if problem is not None:
        raise DaskUnreachable(problem)
    # dask's own bound for every connection the client opens (to the scheduler, to workers)
    timeouts = {"distributed.comm.timeouts.connect": f"{CONNECT_S:g}s"}
    with dask.config.set({**CONFIG, **timeouts}), _Quiet():
        client = Client(address, timeout=f"{CONNECT_S:g}s", set_as_default=False)
        try:
            yield client
        finally:
            _close_bounded(client)


@contextlib.contextmanager
def _own_environment_kept() -> Iterator[None]:
    """What a nanny writes into this process's os.environ before it spawns a worker (dask's
    pre-spawn environment: MALLOC_TRIM_THRESHOLD_=65536; PYTHONHASHSEED) is taken back
    once the workers have started, and again when the cluster closes (a nanny that restarted a
    worker wrote it again). The workers keep it, as dask means them to; every process the run
    starts afterwards would inherit it too: with the variable set, glibc gives freed memory
    back at once, and the processes of a forkserver started after a dask cluster fault their
    outputs in again on every item (the ceiling's copies: 3,168 faults per loop of 8 tiles
    instead of 0, in a test process of a clean-clone CI run)."""
    before = {key: os.environ.get(key) for key in _pre_spawn_keys()}
    try:
        yield
    finally:
        for key, value in before.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def _pre_spawn_keys() -> list[str]:
    """dask's pre-spawn environment, and PYTHONHASHSEED, which the nanny adds to it itself."""
    import dask

    keys = dask.config.get("distributed.nanny.pre-spawn-environ", default=None) or {}
    return [*map(str, keys), "PYTHONHASHSEED"]


@contextlib.contextmanager
def local_client(workers: int) -> Iterator[Any]:
    """A client of a new LocalCluster of ``workers`` single-threaded worker processes whose
    scratch space is a folder of this run (removed with it, and by the next run after a
    kill), not /tmp/dask-scratch-space."""
    import dask
    from distributed import Client, LocalCluster

    scratch = owned_dir(SCRATCH_PREFIX)
    try:
        with (
            dask.config.set({**CONFIG, "temporary-directory": str(scratch)}),
            _Quiet() as quiet,
            contextlib.ExitStack() as stack,
        ):
            stack.enter_context(_own_environment_kept())
            with _stop_signals_held():  # raised again once the stack can close what exists
                with _sigint_blocked(), _own_environment_kept():
                    cluster = LocalCluster(
                        n_workers=workers,
                        threads_per_worker=1,
                        processes=True,
                        dashboard_address=None,
                        silence_logs=SILENT,
                        local_directory=str(scratch),
                    )
                stack.enter_context(cluster)
                client = stack.enter_context(Client(cluster, set_as_default=False))
            quiet.hush()
            yield client
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
