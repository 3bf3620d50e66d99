"""The sequential model -- the yardstick of the harness overhead -- builds its records after
the timed region: inside it, a record per item was ~3 us of a 0.6 ms threshold item."""

from __future__ import annotations

import dataclasses

from cvbench.measure.affinity import Placement, allowed_cpus
from cvbench.measure.probes import Probes
from cvbench.models import resolve_models
from cvbench.models import sequential as sequential_module
from cvbench.models.base import ItemRecord
from cvbench.runner import run_once


def test_sequential_records_are_built_after_the_region(quick_jobs, monkeypatch) -> None:
    probes = Probes(Placement(tuple(allowed_cpus())), 0)
    built_at: list[int] = []

    class Watched(ItemRecord):
        @classmethod
        def of(cls, r, worker, arrival_ns, submitted_ns):  # type: ignore[override]
            built_at.append(probes.ended_ns)  # 0 while the region is open
            return ItemRecord.of(r, worker, arrival_ns, submitted_ns)

    monkeypatch.setattr(sequential_module, "ItemRecord", Watched)
    job = quick_jobs["threshold"]
    records, error = run_once(resolve_models("sequential")[0], job, 1, probes)
    assert error is None, error
    assert len(records) == job.items and len(built_at) == job.items
    assert all(t > 0 for t in built_at)
    # and each record still says when its item was handed over, inside the region
    assert all(probes.begun_ns <= r.submitted_ns <= r.started_ns for r in records)
    assert sorted(r.index for r in records) == list(range(job.items))


def test_a_stream_keeps_its_arrivals(quick_jobs) -> None:
    job = quick_jobs["frames"]
    assert job.arrivals_ns is not None
    job = dataclasses.replace(job, payloads=job.payloads[:4], arrivals_ns=job.arrivals_ns[:4])
    probes = Probes(Placement(tuple(allowed_cpus())), 0)
    records, error = run_once(resolve_models("sequential")[0], job, 1, probes)
    assert error is None, error
    for r in sorted(records, key=lambda r: r.index):
        assert r.arrival_ns == probes.begun_ns + job.arrivals_ns[r.index]
        assert r.submitted_ns >= r.arrival_ns  # it waited for the item to arrive
