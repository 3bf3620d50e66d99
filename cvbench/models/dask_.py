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
A dying worker fails the row (allowed-failures 0 on a LocalCluster; on an existing cluster, a
worker that left during the repetition) instead of being retried, so a retried item never
hides inside the timings. LocalCluster workers die with the parent: distributed's AsyncProcess
exits the child when its pipe to the parent closes.

Every wait has an end (models/dask_calls.py): the scheduler is asked who it is under a bound
before a client connects, every control request is bounded, and the tasks are waited for
until the repetition's deadline. When that passes, the run's tasks are cancelled. The workers
of an existing cluster are not ours: they are never signalled, and a task already running
there cannot be stopped (dask has no way to): the row says so, and the next run refuses a
worker still held by such a task with one line instead of queueing behind it.
"""

from __future__ import annotations

import contextlib
import socket
import time
import uuid
from typing import TYPE_CHECKING, Any

from cvbench.measure.probes import BACKGROUND, Probes
from cvbench.models.base import ItemRecord, Model, run_pool
from cvbench.models.dask_calls import CONTROL_S, address_of, bounded, wait_all
from cvbench.models.dask_cluster import external_client, local_client
from cvbench.work.dask_facts import worker_facts
from cvbench.work.job import Job

if TYPE_CHECKING:
    from cvbench.config import RunConfig

CANCEL_S = 5.0  # cancelling the run's tasks: best effort, never a long wait
LOST_CHECKS, LOST_CHECK_PAUSE_S = 5, 0.3  # a failed repetition: did a worker die?
HELD = (
    "a task already running on a worker of an existing cluster cannot be stopped from here "
    "(dask has no way to): it holds that worker until it returns"
)


class DaskClusterError(Exception):
    """The cluster cannot run the benchmark as it is (no workers, a worker held, one lost)."""


def _facts(client: Any, probes: Probes) -> dict[str, dict[str, Any]]:
    return bounded(
        client,
        lambda: client.run(worker_facts, asynchronous=True),
        "asking its workers who they are",
        probes=probes,
    )


def _workers(client: Any, probes: Probes | None, limit_s: float = CONTROL_S) -> list[str]:
    info = bounded(client, client.scheduler.identity, "asking for its workers", limit_s, probes)
    return sorted(info.get("workers", {}))


def _refuse_held(address: str, facts: dict[str, dict[str, Any]]) -> None:
    """One line for a worker whose every thread is held by a task nobody wants any more."""
    for worker, f in sorted(facts.items()):
        if f["held"] and len(f["held"]) >= max(1, f["nthreads"]):
            raise DaskClusterError(
                f"worker {worker} of the dask cluster at {address} is still running "
                f"{f['held'][0]}, a task its client gave up on (a hanging op of an earlier "
                "run?): dask cannot stop a running task, so this run's tasks would wait "
                "behind it; restart that worker"
            )


def _cancel(client: Any, futures: list[Any]) -> None:
    """Cancel the run's tasks on the cluster (best effort, bounded): a timed-out or stopped
    repetition leaves nothing queued there for the next run."""
    if not futures:
        return
    with contextlib.suppress(Exception):
        bounded(
            client,
            lambda: client.cancel(futures, force=True, asynchronous=True),
            "cancelling the run's tasks",
            CANCEL_S,
        )


def _start(client: Any, job: Job, probes: Probes, run_id: str, external: bool) -> list[str]:
    """Prepare every worker in its task thread; place local workers. Returns the addresses
    in worker-index order."""
    address = address_of(client)
    addresses = _workers(client, probes)
    if not addresses:
        raise DaskClusterError(f"the dask cluster at {address} has no workers")
    facts = _facts(client, probes)
    if external:
        _refuse_held(address, facts)
        probes.expiry_note = f"while preparing the workers of the dask cluster at {address}"
    warm = [
        client.submit(
            job.fn.prepare,
            key=f"cvbench-prepare-{i}-{run_id}",
            workers=[a],
            allow_other_workers=False,
            pure=False,
        )
        for i, a in enumerate(addresses)
    ]
    try:
        wait_all(warm, probes)
    except BaseException:
        _cancel(client, warm)
        raise
    here = socket.gethostname()
    if all(a in facts and facts[a]["host"] == here for a in addresses):
        pids = [facts[a]["pid"] for a in addresses]
        probes.place_processes(pids)
        if external:
            probes.foreign_pids.update(pids)  # placed and counted, never killed: not ours
    probes.extra["dask_workers"] = len(addresses)
    # the first request installs the scheduler's task-stream plugin
    bounded(
        client,
        lambda: client.scheduler.get_task_stream(start=time.time()),
        "starting its task stream",
        probes=probes,
    )
    return addresses


def _cluster_pids(client: Any) -> set[int]:
    """The local cluster's worker processes and their nannies."""
    import os

    import psutil

    pids: set[int] = set()
    with contextlib.suppress(Exception):
        facts = bounded(client, lambda: client.run(worker_facts, asynchronous=True), "listing")
        for f in facts.values():
            pids.add(f["pid"])
            with contextlib.suppress(psutil.Error):
                pids.add(psutil.Process(f["pid"]).ppid())
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
                client = stack.enter_context(local_client(workers))
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
            with external_client(self.scheduler) as client:
                return self._run(client, job, probes, external=True)
        client = self._kept_client(workers)
        try:
            return self._run(client, job, probes, external=False)
        except BaseException:
            self._drop(workers)  # a cluster that failed (a dead worker) is not reused
            raise

    def _run(self, client: Any, job: Job, probes: Probes, external: bool) -> list[ItemRecord]:
        run_id = uuid.uuid4().hex[:8]  # keys unique per run, readable in errors and streams
        address = address_of(client)
        if external:
            probes.expiry_note = f"while asking the dask cluster at {address} about its workers"
        addresses = _start(client, job, probes, run_id, external)
        futures: list[Any] = []

        def submit(fn: Any, i: int, payload: Any) -> Any:
            key = f"cvbench-item-{i}-{run_id}"
            futures.append(client.submit(fn, i, payload, key=key, pure=False))
            return futures[-1]

        if external:
            probes.expiry_note = (
                f"while waiting for the items on the dask cluster at {address}: the run's "
                f"tasks were cancelled; {HELD}"
            )
        try:
            records = run_pool(job, probes, submit)
            if external:
                _same_workers(client, address, addresses, probes)
        except BaseException as exc:
            lost = None
            if external and probes.expired:
                _name_lost_workers(client, addresses, probes)
            elif external and isinstance(exc, OSError):  # CommClosedError is one
                lost = _lost_worker(client, address, addresses)
            _cancel(client, futures)
            if lost is not None:
                raise lost from exc
            raise
        # the workers' task stream is in wall-clock time: align it with begun_ns
        begun_unix = time.time() - (time.perf_counter_ns() - probes.begun_ns) / 1e9
        keys = {f.key: i for i, f in enumerate(futures)}
        raw = bounded(
            client,
            lambda: client.scheduler.get_task_stream(start=begun_unix - 1),
            "collecting its task stream",
            probes=probes,
        )
        stream, worker_of = _task_stream(raw, keys, addresses, begun_unix)
        probes.extra["task_stream"] = stream
        return [r._replace(worker=worker_of.get(r.index, -1)) for r in records]


def _name_lost_workers(client: Any, addresses: list[str], probes: Probes) -> None:
    """After a timeout: say if the cluster lost workers meanwhile (killed with their nanny,
    nothing restarts them and the tasks wait for a worker that never comes)."""
    found = _gone_workers(client, addresses)  # no deadline: it has passed
    if found is not None:
        gone, now = found
        left = f"; {len(now)} left" if now else "; it has no workers left"
        probes.expiry_note += f" (worker {gone[0]} left the cluster meanwhile{left})"


def _gone_workers(client: Any, addresses: list[str]) -> tuple[list[str], set[str]] | None:
    """Which of ``addresses`` the scheduler no longer has, and those it has; None if none
    is gone (or it cannot say). It is asked again a few times: the scheduler may not have
    noticed a death yet (a clean-clone CI run on a VM with 10 % steal named no lost worker
    after a killed nanny and worker)."""
    for attempt in range(LOST_CHECKS):
        if attempt:
            time.sleep(LOST_CHECK_PAUSE_S)
        now: set[str] | None = None
        with contextlib.suppress(Exception):
            now = set(_workers(client, None, CANCEL_S))
        if now is None:
            return None
        gone = [a for a in addresses if a not in now]
        if gone:
            return gone, now
    return None


def _same_workers(client: Any, address: str, addresses: list[str], probes: Probes) -> None:
    """A worker of an existing cluster that died during the repetition had its tasks re-run
    by the scheduler (its allowed-failures are the cluster's, not ours): the timings would
    hide a retry, so the row fails instead."""
    gone = [a for a in addresses if a not in _workers(client, probes)]
    if gone:
        raise _left(gone[0], address)


def _left(worker: str, address: str) -> DaskClusterError:
    return DaskClusterError(
        f"worker {worker} left the dask cluster at {address} during the repetition: its "
        "tasks were run again elsewhere, so the timings would include the retry"
    )


def _lost_worker(client: Any, address: str, addresses: list[str]) -> DaskClusterError | None:
    """A repetition that failed because a worker died names the worker, whichever way dask
    reported it: fetching a result from the dead worker raised CommClosedError ("Connection
    reset by peer", seen in a clean-clone CI run), where a rerun elsewhere finishes the
    repetition and ``_same_workers`` catches it."""
    found = _gone_workers(client, addresses)
    return None if found is None else _left(found[0][0], address)
