"""A plateau explained in words: 9 items, one of 1.08 s, on 16 cores are bound by that item,
not by "workers" (round two named workers at 18 % utilisation)."""

from __future__ import annotations

from cvbench.emulated_kernel.predict.costs import ItemCost
from cvbench.emulated_kernel.predict.pool_models import predict_model


def test_the_longest_item_bounds_the_makespan():
    items = [ItemCost(gil_s=0.01, released_s=1.07)] + [ItemCost(gil_s=0.005, released_s=0.1)] * 8
    pred = predict_model("threads", items, workers=16, cores=16)
    assert pred.bottleneck == "longest item"
    assert pred.makespan_s >= 1.08
    assert any("longest item (1.08 s)" in n for n in pred.notes)


def test_too_few_items_for_the_workers():
    items = [ItemCost(gil_s=0.001, released_s=0.1)] * 9
    pred = predict_model("threads", items, workers=16, cores=16)
    assert pred.bottleneck in ("too few items", "longest item")
    assert pred.notes
