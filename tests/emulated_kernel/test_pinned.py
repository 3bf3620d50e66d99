"""The predictions place the workers as the run did (``--pin``): a pinned worker stays on its
core, and the threads that coordinate (a pool's parent, a loop, dask's client and scheduler)
find no idle core when every core has a worker."""

from __future__ import annotations

import dataclasses

from cvbench.emulated_kernel.predict.costs import ItemCost, MachineCosts
from cvbench.emulated_kernel.predict.pool_models import _build, _items, _specs, predict_model

ITEMS = [ItemCost(0.00002, 0.00055, 0.0, 810_000, 64) for _ in range(64)]
# a parent busy 0.2 ms per item (processes+shm's dispatch on threshold)
COSTS = dataclasses.replace(MachineCosts(), parent_item_s=0.0002, worker_item_s=0.00002)


def test_worker_threads_are_pinned_and_coordinators_are_not() -> None:
    for model in ("threads", "processes+shm", "asyncio+threads", "dask"):
        threads, _ = _build(model, _items(ITEMS, COSTS, False), COSTS, 2)
        pinned = {s.name: s.affinity for s in _specs(threads, 2, "spread")}
        free = {s.name: s.affinity for s in _specs(threads, 2, "none")}
        assert set(free.values()) == {None}
        workers = {n: a for n, a in pinned.items() if a is not None}
        assert {a for a in workers.values()} == {frozenset({0}), frozenset({1})}, model
        coordinators = [n for n, a in pinned.items() if a is None]
        assert coordinators and threads[0][0] in coordinators, model  # the head runs free
        if model == "dask":  # all of a worker's threads on its core
            assert workers["worker1 loop"] == workers["worker1 executor"] == frozenset({1})
            assert pinned["scheduler->worker1"] is None  # the parent's sender thread


def test_a_busy_parent_costs_more_when_every_core_has_a_pinned_worker() -> None:
    free = predict_model("processes+shm", ITEMS, COSTS, 2, 2)
    pinned = predict_model("processes+shm", ITEMS, COSTS, 2, 2, pin="spread")
    assert pinned.throughput_per_s < free.throughput_per_s
    # one worker on two cores: the parent has a core of its own either way
    one_free = predict_model("processes+shm", ITEMS, COSTS, 1, 2)
    one_pinned = predict_model("processes+shm", ITEMS, COSTS, 1, 2, pin="spread")
    assert abs(one_pinned.throughput_per_s - one_free.throughput_per_s) <= (
        0.01 * one_free.throughput_per_s
    )
