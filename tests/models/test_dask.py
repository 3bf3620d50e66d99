"""dask: a real LocalCluster, a real `dask scheduler` + `dask worker` pair, real worker deaths."""

from __future__ import annotations

import dataclasses
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import psutil
import pytest

from cvbench.measure.probes import BACKGROUND
from cvbench.models import MODELS
from cvbench.models.dask_ import Dask
from cvbench.models.sequential import Sequential
from cvbench.work.item import Fault
from tests.helpers import ROOT, new_probes, run_digest

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(Dask.unavailable() is not None, reason=str(Dask.unavailable())),
]
DASK = Path(sys.executable).with_name("dask")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _check_run(job, probes, records, workers: int) -> None:
    assert run_digest(records) == run_digest(Sequential().run(job, 1, new_probes()))
    assert probes.extra["dask_workers"] == workers
    assert {r.worker for r in records} <= set(range(workers))
    assert all(probes.begun_ns <= r.started_ns <= r.finished_ns <= probes.ended_ns for r in records)
    stream = probes.extra["task_stream"]
    assert stream["fields"] == ["index", "worker", "action", "start_us", "stop_us"]
    computes = [row for row in stream["records"] if row[2] == "compute"]
    assert sorted(row[0] for row in computes) == list(range(job.items))
    assert len(probes.worker_tids) == workers  # local workers were placed


def test_local_cluster(quick_jobs):
    job, probes = quick_jobs["faces"], new_probes()
    model = Dask()
    try:
        records = model.run(job, 2, probes)
        _check_run(job, probes, records, 2)
        assert probes.startup_s > 0.1  # the cluster's start-up is outside the timed region
        # kept for the run: the second repetition reuses it, and its processes stay out of
        # other cells' counters while idle
        cluster_pids = set(BACKGROUND)
        assert len(cluster_pids) >= 2
        again = new_probes()
        _check_run(job, again, model.run(job, 2, again), 2)
        assert again.startup_s < probes.startup_s
        other = new_probes()
        MODELS["threads"]().run(job, 2, other)
        assert not cluster_pids & other.counted_pids
    finally:
        model.close()
    assert not BACKGROUND & cluster_pids
    time.sleep(1)
    assert not [p for p in cluster_pids if psutil.pid_exists(p) and
                psutil.Process(p).status() != psutil.STATUS_ZOMBIE]  # fmt: skip


def test_existing_cluster_from_the_environment(quick_jobs, monkeypatch, tmp_path):
    port = _free_port()
    address = f"tcp://127.0.0.1:{port}"
    common = ["--no-dashboard"]
    # the cluster's scratch space in the test's folder, not /tmp/dask-scratch-space (it is
    # SIGKILLed below and cannot clean up)
    scratch = {**os.environ, "DASK_TEMPORARY_DIRECTORY": str(tmp_path)}
    scheduler = subprocess.Popen(
        [DASK, "scheduler", "--host", "127.0.0.1", "--port", str(port), *common],
        env=scratch,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    worker = subprocess.Popen(
        [DASK, "worker", address, "--nworkers", "1", "--nthreads", "1", *common],
        cwd=ROOT,  # workers unpickle cvbench's work function: it must be importable there
        env={**scratch, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        from distributed import Client

        with Client(address, timeout="30s") as client:
            client.wait_for_workers(1, timeout=60)
        job, probes = quick_jobs["faces"], new_probes()
        model = Dask()
        model.scheduler = address  # what configure() takes from --dask-scheduler
        assert model.external
        records = model.run(job, 3, probes)  # 3 asked; the cluster has 1: 1 is reported
        _check_run(job, probes, records, 1)
        assert worker.poll() is None and scheduler.poll() is None  # not ours to stop
        # the same through the CLI: one dask cell, labelled with the cluster's worker count
        from tests.helpers import cvbench

        out = tmp_path / "r.csv"
        res = cvbench(
            "run", "--quick", "-w", "faces", "-m", "sequential,dask", "--workers", "1,2",
            "--repeat", "1", "--warmup", "0", "--dask-scheduler", address,
            "--csv", str(out), "--json", str(tmp_path / "r.json"),
        )  # fmt: skip
        assert res.returncode == 0, res.stderr
        import csv

        dask_rows = [r for r in csv.DictReader(out.open()) if r["model"] == "dask"]
        assert [(r["workers"], r["dask_workers"], r["ok"]) for r in dask_rows] == [
            ("1", "1", "true")
        ]
    finally:
        for p in (worker, scheduler):  # SIGTERM takes dask ~8 s; a killed nanny's worker
            p.kill()  # exits by itself (see the test below)
            p.wait(timeout=20)


def test_a_dying_worker_fails_the_run(quick_jobs):
    job = quick_jobs["faces"]
    job = dataclasses.replace(job, fn=dataclasses.replace(job.fn, fault=Fault(1, "kill")))
    t0 = time.monotonic()
    with pytest.raises(Exception, match="KilledWorker|died|Attempted to run task"):
        model = Dask()
        try:
            model.run(job, 1, new_probes())
        finally:
            model.close()
    assert time.monotonic() - t0 < 60  # failed, not retried forever


_ORPHAN = textwrap.dedent(
    """
    import os, time
    from cvbench.models.dask_cluster import local_client

    if __name__ == "__main__":
        with local_client(1) as client:
            print(*client.run(os.getpid).values(), flush=True)
            time.sleep(120)
    """
)


def test_local_workers_die_with_a_killed_parent(tmp_path):
    script = tmp_path / "orphan.py"
    script.write_text(_ORPHAN)
    proc = subprocess.Popen(
        [sys.executable, str(script)],
        cwd=ROOT,
        # SIGKILLed below, it cannot remove its scratch folder: it goes in the test's folder
        env={**os.environ, "PYTHONPATH": str(ROOT), "TMPDIR": str(tmp_path)},
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        pids = [int(p) for p in proc.stdout.readline().split()]
        assert len(pids) == 1
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
        deadline = time.monotonic() + 15
        while any(psutil.pid_exists(p) for p in pids):
            assert time.monotonic() < deadline, "dask workers outlived their parent"
            time.sleep(0.1)
    finally:
        proc.kill()


def _worker_config() -> tuple[str, str]:
    import dask

    return (
        dask.config.get("distributed.admin.tick.interval"),
        dask.config.get("distributed.worker.memory.monitor-interval"),
    )


def test_an_idle_local_cluster_ticks_slowly_in_its_workers_too():
    """Kept for the run, an idle LocalCluster's 20 ms tick monitor and 100 ms memory monitor
    took 3.5 % of a CPU from the other models' repetitions: the slower settings must reach
    the worker processes (read back from each), not only cvbench's own."""
    from cvbench.models.dask_cluster import local_client

    with local_client(2) as client:
        seen = set(client.run(_worker_config).values())
    assert seen == {("1s", "1s")}


def test_the_nannies_environment_reaches_the_workers_only(monkeypatch):
    """A nanny writes dask's pre-spawn environment (MALLOC_TRIM_THRESHOLD_) into this
    process's os.environ: the workers keep it, this process gets its own back, during the
    cluster's life and after it, so what the run starts later does not inherit it."""
    from cvbench.models.dask_cluster import local_client

    keys = ("MALLOC_TRIM_THRESHOLD_", "PYTHONHASHSEED")
    for key in keys:
        monkeypatch.delenv(key, raising=False)
    with local_client(1) as client:
        pid = next(iter(client.run(os.getpid).values()))
        worker_env = psutil.Process(pid).environ()
        assert not set(keys) & set(os.environ)
    assert worker_env.get("MALLOC_TRIM_THRESHOLD_") == "65536" and "PYTHONHASHSEED" in worker_env
    assert not set(keys) & set(os.environ)


def test_real_dask_is_paced_by_its_batches_as_the_emulated_kernel_says(quick_jobs):
    """dask's scheduler writes to a worker at most one batch per 5 ms and keeps `slots` tasks
    on it: one worker cannot finish more than slots per 5 ms, whatever the items cost.  The
    real LocalCluster obeys that bound, and the emulated kernel's dask template, fed the
    cell's own measured costs, predicts its throughput and names what binds it."""
    from cvbench.emulated_kernel.predict import dask_model, from_run
    from cvbench.emulated_kernel.predict.costs import item_costs
    from cvbench.emulated_kernel.predict.pool_models import predict_model
    from cvbench.measure.affinity import allowed_cpus
    from cvbench.measure.row import measured_row

    job = quick_jobs["threshold"]  # 0.2 ms items: far below a batch interval
    cores = len(allowed_cpus())
    slots = dask_model.slots_per_worker()
    bound = slots / (dask_model.SCHEDULER_TO_WORKER_NS / 1e9)
    model = Dask()
    try:
        model.run(job, 1, new_probes())  # the cluster's start-up and first calls
        # up to three independent attempts, each its own sequential costs and three dask
        # repetitions. The bound is physics; the prediction is asked to be within 30 % of one
        # attempt, or within 2x in the median of three: on a VM whose speed swings by 2x within
        # seconds, beside another test worker, it read +39…+54 %, and once 2.20x / 1.73x /
        # 1.66x (its accuracy is measured by default runs, docs/kernel.md); a template without
        # the batching is off by far more
        misses = []
        for _ in range(3):
            items = item_costs(Sequential().run(job, 1, new_probes()), job.payloads)
            rows = []
            for k in range(3):
                probes = new_probes()
                records = model.run(job, 1, probes)
                base = dict(workload="threshold", model="dask", workers=1, repetition=k, ok=True)
                rows.append(measured_row(base, job, records, probes))
            measured = from_run.measured_median(rows, "dask", 1)
            assert measured is not None and measured <= 1.1 * bound, (measured, bound)
            cell = from_run.cell_costs(rows, "dask", from_run.mean_service_s(items))
            assert cell is not None and cell.main_s is not None
            pred = predict_model("dask", items, from_run.machine_costs_from(cell, None), 1, cores)
            if abs(pred.throughput_per_s - measured) <= 0.3 * measured:
                break
            misses.append(pred.throughput_per_s / measured)
        else:
            assert 0.5 <= sorted(misses)[1] <= 2.0, (misses, pred)
    finally:
        model.close()
    # what binds is the batching, or on a slow machine the client and scheduler in the parent
    # (their measured CPU per item: parent-bound at 94 % busy on a 2.4x slower VM). Never the
    # workers' own compute (0.2 ms items): a template that names "workers" must still have
    # found the parent the busiest (85 % in a clean-clone CI run with 6-19 % steal, under the
    # 90 % that names it)
    named = pred.bottleneck in ("batching", "parent", *(("cores",) if cores == 1 else ()))
    assert named or (pred.bottleneck == "workers" and pred.parent_busy >= 0.8), pred
