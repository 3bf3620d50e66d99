"""dask: the items as dask.distributed tasks, on a LocalCluster or on an existing cluster.

By default the model starts a LocalCluster of `workers` single-threaded worker processes
(spawned by dask's nannies, no dashboard, dask's statistical profiler off: it samples every
worker's stack every 10 ms, which would be measured as ours), all in start-up, outside the
timed region. With --dask-scheduler tcp://HOST:PORT it connects to that scheduler
instead; the worker count is then the cluster's (probes.extra["dask_workers"]), not
`workers`.

Each item is one `client.submit(fn, i, payload, pure=False)`: what dask's per-task overhead
(scheduler round trip, serialisation) costs is exactly what this model measures. Per-item
start/end are stamped inside the worker (perf_counter_ns, CLOCK_MONOTONIC): comparable with
the client's clock on one host only; on a remote cluster the latency columns mix two clocks.
Which worker ran an item comes from dask's task stream, kept compactly in
probes.extra["task_stream"] (wall-clock times from the workers, µs after the region began).

Every worker runs fn.prepare() in its task thread during start-up (cv2.setNumThreads, the
cascade), and local workers get the run's affinity and nice through probes.place_processes.
A dying worker fails the row (allowed-failures 0 on a LocalCluster) instead of being retried,
so a retried item never hides inside the timings. LocalCluster workers die with the parent:
distributed's AsyncProcess exits the child when its pipe to the parent closes.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import shutil
import socket
import time
import uuid
import warnings
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from cvbench.measure.probes import BACKGROUND, Probes
from cvbench.models.base import ItemRecord, Model, run_pool
from cvbench.work.job import Job
from cvbench.work.temp_dirs import owned_dir

if TYPE_CHECKING:
    from cvbench.config import RunConfig

CONFIG = {
    "distributed.worker.profile.enabled": False,
    "distributed.scheduler.allowed-failures": 0,
}


SCRATCH_PREFIX = "cvbench-dask-"
LOG_ENV = "DASK_LOGGING__DISTRIBUTED"  # dask's config from the environment: logging.distributed


class _Quiet:
    """dask quiet unless asked (CVBENCH_DASK_LOGS=1): its INFO lines at every cluster close and
    a warning that port 8787 is taken (its HTTP server binds even with the dashboard off) said
    nothing about the measurement and buried the findings. Creating a cluster re-initialises
    dask's loggers, so ``hush()`` is applied again after it; the levels come back at the end
    (an API caller's logging is left as it was)."""

    FAMILIES = ("distributed", "tornado", "bokeh")

    def __init__(self) -> None:
        self.saved: dict[str, int] = {}
        self.env = os.environ.get(LOG_ENV)
        self.off = bool(os.environ.get("CVBENCH_DASK_LOGS"))

    def hush(self) -> None:
        if self.off:
            return
        names = [n for n in list(logging.root.manager.loggerDict) if n.split(".")[0] in
                 self.FAMILIES]  # fmt: skip
        for name in dict.fromkeys([*self.FAMILIES, *names]):
            logger = logging.getLogger(name)
            self.saved.setdefault(name, logger.level)
            logger.setLevel(logging.CRITICAL)

    def __enter__(self) -> _Quiet:
        if not self.off:
            os.environ[LOG_ENV] = "error"  # worker processes read it at import
        self.warnings = warnings.catch_warnings()
        self.warnings.__enter__()
        warnings.filterwarnings("ignore", message=r"Port \d+ is already in use")
        self.hush()
        return self

    def __exit__(self, *exc: object) -> None:
        self.warnings.__exit__(*exc)
        for name, level in self.saved.items():
            logging.getLogger(name).setLevel(level)
        if self.off:
            return
        if self.env is None:
            os.environ.pop(LOG_ENV, None)
        else:
            os.environ[LOG_ENV] = self.env


@contextlib.contextmanager
def _client(workers: int, address: str | None = None) -> Iterator[Any]:
    """A Client on the cluster at ``address``, or on a new LocalCluster."""
    import dask
    from distributed import Client, LocalCluster

    if address:
        with dask.config.set(CONFIG), _Quiet(), Client(address, timeout="30s") as client:
            yield client
        return
    # the scheduler's and the workers' scratch space in a folder of this run, not
    # /tmp/dask-scratch-space: removed with the cluster, and by the next run after a kill
    scratch = owned_dir(SCRATCH_PREFIX)
    try:
        with (
            dask.config.set({**CONFIG, "temporary-directory": str(scratch)}),
            _Quiet() as quiet,
            LocalCluster(
                n_workers=workers,
                threads_per_worker=1,
                processes=True,
                dashboard_address=None,
                silence_logs=logging.CRITICAL,
                local_directory=str(scratch),
            ) as cluster,
            Client(cluster) as client,
        ):
            quiet.hush()
            yield client
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _start(client: Any, job: Job, probes: Probes) -> list[str]:
    """Prepare every worker in its task thread; place local workers. Returns the addresses
    in worker-index order."""
    addresses = sorted(client.scheduler_info()["workers"])
    if not addresses:
        raise RuntimeError(f"the dask cluster at {client.scheduler.address} has no workers")
    warm = [
        client.submit(job.fn.prepare, workers=[a], allow_other_workers=False, pure=False)
        for a in addresses
    ]
    client.gather(warm)
    hosts, pids = client.run(socket.gethostname), client.run(os.getpid)
    if all(hosts[a] == socket.gethostname() for a in addresses):
        probes.place_processes([pids[a] for a in addresses])
    probes.extra["dask_workers"] = len(addresses)
    client.get_task_stream()  # the first call installs the scheduler's task-stream plugin
    return addresses


def _cluster_pids(client: Any) -> set[int]:
    """The local cluster's worker processes and their nannies."""
    import psutil

    pids: set[int] = set()
    with contextlib.suppress(Exception):
        for pid in client.run(os.getpid).values():
            pids.add(pid)
            with contextlib.suppress(psutil.Error):
                pids.add(psutil.Process(pid).ppid())
    pids.discard(os.getpid())
    return pids


def _task_stream(
    stream: list[dict], keys: dict[str, int], addresses: list[str], begun_unix: float
) -> tuple[dict[str, Any], dict[int, int]]:
    """Our tasks' records, compact: one row per action of each task; and item -> worker."""
    rows, worker_of = [], {}
    for rec in stream:
        index = keys.get(rec["key"])
        if index is None:
            continue  # another client's task on a shared cluster
        w = addresses.index(rec["worker"]) if rec["worker"] in addresses else -1
        worker_of[index] = w
        for ss in rec["startstops"]:
            start, stop = ((ss[k] - begun_unix) * 1e6 for k in ("start", "stop"))
            rows.append([index, w, ss["action"], round(start), round(stop)])
    rows.sort()
    fields = ["index", "worker", "action", "start_us", "stop_us"]
    return {"fields": fields, "records": rows}, worker_of


class Dask(Model):
    name = "dask"
    summary = "dask.distributed: a LocalCluster of N single-threaded worker processes"
    runs_on = "dask worker processes (LocalCluster or a cluster)"
    requires = ("distributed",)

    @classmethod
    def cores(cls) -> str:
        return "N workers (or the cluster's)"

    @property
    def external(self) -> bool:
        """On an existing cluster (--dask-scheduler) the workers are the cluster's: one cell."""
        return self.scheduler is not None

    def configure(self, cfg: RunConfig) -> None:
        self.scheduler = cfg.dask_scheduler

    def __init__(self) -> None:
        self.scheduler: str | None = None  # tcp://HOST:PORT of an existing cluster
        # worker count -> (client, what closes it): one LocalCluster per worker count for the
        # whole run. Starting and closing one takes 2-3 s, more than the work it runs; its
        # start-up is in the first repetition's startup_s, and while other cells run its idle
        # processes are left out of their counters (probes.BACKGROUND).
        self._kept: dict[int, tuple[Any, contextlib.ExitStack]] = {}

    def _kept_client(self, workers: int) -> Any:
        kept = self._kept.get(workers)
        if kept is None:
            stack = contextlib.ExitStack()
            try:
                client = stack.enter_context(_client(workers))
            except BaseException:
                stack.close()
                raise
            kept = self._kept[workers] = (client, stack)
            BACKGROUND.update(_cluster_pids(client))
        return kept[0]

    def _drop(self, workers: int) -> None:
        kept = self._kept.pop(workers, None)
        if kept is not None:
            pids = _cluster_pids(kept[0])
            with contextlib.suppress(Exception):
                kept[1].close()
            BACKGROUND.difference_update(pids)

    def close(self) -> None:
        """End every kept cluster (the runner calls this once, at the end of the run)."""
        for workers in reversed(list(self._kept)):  # LIFO: each restores what it found
            self._drop(workers)

    def run(self, job: Job, workers: int, probes: Probes) -> list[ItemRecord]:
        if self.scheduler is not None:
            with _client(workers, self.scheduler) as client:
                return self._run(client, job, probes)
        client = self._kept_client(workers)
        try:
            return self._run(client, job, probes)
        except BaseException:
            self._drop(workers)  # a cluster that failed (a dead worker) is not reused
            raise

    def _run(self, client: Any, job: Job, probes: Probes) -> list[ItemRecord]:
        addresses = _start(client, job, probes)
        futures: list[Any] = []
        run_id = uuid.uuid4().hex[:8]  # keys unique per run, readable in errors and streams

        def submit(fn: Any, i: int, payload: Any) -> Any:
            key = f"cvbench-item-{i}-{run_id}"
            futures.append(client.submit(fn, i, payload, key=key, pure=False))
            return futures[-1]

        records = run_pool(job, probes, submit)
        # the workers' task stream is in wall-clock time: align it with begun_ns
        begun_unix = time.time() - (time.perf_counter_ns() - probes.begun_ns) / 1e9
        keys = {f.key: i for i, f in enumerate(futures)}
        stream, worker_of = _task_stream(
            client.get_task_stream(start=begun_unix - 1), keys, addresses, begun_unix
        )
        probes.extra["task_stream"] = stream
        return [dataclasses.replace(r, worker=worker_of.get(r.index, -1)) for r in records]
