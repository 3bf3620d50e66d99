"""The run's parallel ceiling in its predictions: two busy cores ran the bare loop slower than
one (shared L3 and memory bandwidth); the simulator's cores are independent, so a 2-worker
prediction on 2 cores takes the measured slowdown, and nothing else does."""

from __future__ import annotations

import pytest

from cvbench.ceiling import Ceilings
from cvbench.emulated_kernel.predict import pool_models
from cvbench.emulated_kernel.predict.costs import ItemCost, MachineCosts
from cvbench.emulated_kernel.predict.in_run import corun_slowdown, scaled_items


def test_the_slowdown_is_the_median_of_together_over_alone():
    c = Ceilings([0, 1], 2)
    c.ratios["threshold"] = [(0.0370, 0.0380), (0.0372, 0.0377), (0.0365, 0.0379), (0.0, 1.0)]
    copies, slowdown = c.slowdown("threshold")
    assert copies == 2
    middle = sorted([0.0380 / 0.0370, 0.0377 / 0.0372, 0.0379 / 0.0365])[1]
    assert slowdown == pytest.approx(middle)  # the unusable pair (alone 0) left out
    c.ratios["faces"] = [(0.12, 0.125), (0.12, 0.126)]
    assert c.slowdown("faces") is None  # too few pairs for a figure
    assert c.slowdown("frames") is None  # never measured (a stream)
    assert Ceilings([0], 1).slowdown("threshold") is None


@pytest.mark.parametrize(
    ("workers", "cores", "expected"),
    [(2, 2, 1.03), (4, 2, 1.03), (2, 4, 1.03), (1, 2, 1.0), (3, 4, 1.0), (16, 16, 1.0)],
)
def test_only_cells_with_the_measured_cores_busy_take_it(workers, cores, expected):
    """As many busy cores as the ceiling had copies (two of four, or both of two with more
    workers than cores); not one worker, nor three or sixteen busy cores: not measured."""
    assert corun_slowdown((2, 1.03), workers, cores) == expected
    assert corun_slowdown(None, workers, cores) == 1.0


def test_a_two_worker_prediction_slows_by_the_factor_and_the_items_keep_their_split():
    items = [ItemCost(0.00001, 0.0006, 0.0, 1000, 100) for _ in range(64)]
    slow = scaled_items(items, 1.04)
    assert slow[0].gil_s == pytest.approx(0.0000104) and slow[0].released_s == pytest.approx(
        0.000624
    )
    assert (slow[0].io_s, slow[0].bytes_in, slow[0].bytes_out) == (0.0, 1000, 100)
    assert scaled_items(items, 1.0) is items
    base = pool_models.predict_model("processes+zerocopy", items, MachineCosts(), 2, 2)
    slower = pool_models.predict_model("processes+zerocopy", slow, MachineCosts(), 2, 2)
    assert slower.makespan_s / base.makespan_s == pytest.approx(1.04, rel=0.01)
