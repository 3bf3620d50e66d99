"""Guided chunks: the automatic chunks shrink at the end, so no worker idles a whole chunk."""

from __future__ import annotations

import dataclasses
import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cvbench.cells import tail_workers_for
from cvbench.config import RunOptions, build_config
from cvbench.measure.affinity import Placement, allowed_cpus
from cvbench.measure.probes import Probes
from cvbench.models import resolve_models
from cvbench.runner import run_once
from cvbench.work.item import chunks


@given(st.integers(0, 500), st.integers(1, 64), st.integers(1, 16))
def test_chunks_cover_every_item_once_in_order(items: int, size: int, workers: int) -> None:
    got = chunks(tuple(range(items)), size, workers)
    assert [i for c in got for i, _ in c] == list(range(items))
    assert all(1 <= len(c) <= size for c in got)
    sizes = [len(c) for c in got]
    if workers == 1:  # Pool.map's layout: equal chunks, the last one the rest
        assert all(n == size for n in sizes[:-1])
    else:  # guided: non-increasing, each at most 1/(2 x workers) of what remained
        assert sizes == sorted(sizes, reverse=True)
        left = items
        for n in sizes:
            assert n <= max(1, math.ceil(left / (2 * workers)))
            left -= n


def test_the_threads_model_ships_the_guided_chunks(quick_jobs) -> None:
    """Items of one chunk are submitted together: the records' submit stamps count the
    chunks the real ThreadPoolExecutor was given."""
    job = dataclasses.replace(quick_jobs["threshold"], chunksize=4, tail_workers=2)
    probes = Probes(Placement(tuple(allowed_cpus())), 1_000_000)
    records, error = run_once(resolve_models("threads")[0], job, 2, probes)
    assert error is None, error
    submitted: dict[int, list[int]] = {}
    for r in records:
        submitted.setdefault(r.submitted_ns, []).append(r.index)
    expected = [[i for i, _ in c] for c in chunks(job.payloads, 4, 2)]
    assert sorted(sorted(v) for v in submitted.values()) == sorted(expected)


@pytest.mark.parametrize(("given", "tail"), [("auto", 2), (4, 1)])
def test_only_automatic_chunks_are_guided(given: str | int, tail: int) -> None:
    """A --chunksize is what the user asked for: kept as given."""
    config = build_config(RunOptions(workload="threshold", models="threads", chunksize=given))
    assert tail_workers_for(config, 4, 2) == tail
    assert tail_workers_for(config, 1, 2) == 1  # one item per task: nothing to shrink
