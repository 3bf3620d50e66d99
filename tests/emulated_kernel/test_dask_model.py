"""The emulated kernel's dask template: batched messages pace tiny tasks (dask_model.py)."""

from __future__ import annotations

import math

import dask.config
import pytest

from cvbench.emulated_kernel.predict import dask_model
from cvbench.emulated_kernel.predict.costs import ItemCost, MachineCosts
from cvbench.emulated_kernel.predict.pool_models import predict_model

TINY = [ItemCost(0.0, 10e-6)] * 200  # 10 us items: nothing but the messages' pace
COSTS = MachineCosts(parent_item_s=0.0, worker_item_s=0.0, main_item_s=0.0)


def test_tiny_tasks_go_at_the_batches_pace():
    """A worker gets at most `slots` tasks per 5 ms batch: 2 slots -> <= 400 tasks/s."""
    slots = dask_model.slots_per_worker()
    bound = slots / (dask_model.SCHEDULER_TO_WORKER_NS / 1e9)
    one = predict_model("dask", TINY, COSTS, 1, 2)
    assert 0.6 * bound <= one.throughput_per_s <= bound
    assert one.bottleneck == "batching" and "ms" in one.notes[0]
    two = predict_model("dask", TINY, COSTS, 2, 2)  # a batch per worker: twice the pace
    assert 1.7 * one.throughput_per_s <= two.throughput_per_s <= 2 * bound


def test_without_batching_the_same_tasks_go_much_faster():
    threads, _ = dask_model.build(
        [10_000] * 200, 1, main_ns=0, send_ns=0, done_ns=0, recv_ns=0, slots=2, batching=False
    )
    from cvbench.emulated_kernel.sim import ProgramSpec, simulate

    res = simulate([], 2, "eevdf", programs=[ProgramSpec(t, name=n) for n, t in threads])
    unbatched = 200 / (res.tasks[0].finish_ns / 1e9)
    assert unbatched > 10 * predict_model("dask", TINY, COSTS, 1, 2).throughput_per_s


def test_long_tasks_are_not_batching_bound():
    """50 ms items: the batches are not what limits them; two workers nearly double it."""
    items = [ItemCost(0.0, 0.05)] * 16
    one = predict_model("dask", items, COSTS, 1, 2)
    two = predict_model("dask", items, COSTS, 2, 2)
    assert one.bottleneck != "batching"
    assert 1.6 <= two.throughput_per_s / one.throughput_per_s <= 2.0
    assert one.throughput_per_s <= 20.0  # never faster than the items themselves


def test_the_parent_is_a_serial_bottleneck():
    """The scheduler's CPU per task (one GIL for client and scheduler) caps every worker
    count: 2 ms of it per task -> at most 500 tasks/s, however many workers."""
    costs = MachineCosts(parent_item_s=0.002, worker_item_s=0.0, main_item_s=0.0)
    items = [ItemCost(0.0, 0.004)] * 100
    many = predict_model("dask", items, costs, 8, 8)
    assert many.throughput_per_s <= 500.0 * 1.01
    assert many.bottleneck == "parent" and many.parent_busy and many.parent_busy >= 0.9


def test_slots_follow_dasks_worker_saturation():
    assert dask_model.slots_per_worker(1.1) == 2
    assert dask_model.slots_per_worker(1.0) == 1
    assert dask_model.slots_per_worker(0.0) == 1
    assert dask_model.slots_per_worker(math.inf) > 1000
    with dask.config.set({"distributed.scheduler.worker-saturation": 3.0}):
        assert dask_model.slots_per_worker() == 3


@pytest.mark.parametrize("workers", [1, 3])
def test_calibrated_costs_without_a_measured_cell(workers):
    """Where dask did not run, the calibration's per-byte costs stand in (deterministic)."""
    costs = MachineCosts(pickle_pipe_s_per_byte=1e-9, round_trip_s=0.001, submit_s=1e-5)
    items = [ItemCost(0.0, 0.001, bytes_in=800_000)] * 20
    a = predict_model("dask", items, costs, workers, 2)
    b = predict_model("dask", items, costs, workers, 2)
    assert a.to_dict() == b.to_dict() and a.throughput_per_s > 0
