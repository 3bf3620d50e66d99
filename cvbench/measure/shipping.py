"""What a process pool's parent pays per item to ship this job's own items, by chunk size.

Why: Pool.map's chunk size follows the worker count (threshold: 16 items of 810 KB per task
at 1 worker, 8 at 2), and the parent's cost per item does not stay the same: glibc gives the
memory of a message of more than ~8 MB back to the kernel after each use, so every such
message is written into fresh pages. Measured here (a 1-worker pool, the threshold job's items
sent to ``len``): 404 page faults and 1.4 ms of parent CPU per item in chunks of 16, 0 faults
and 0.7 ms in chunks of 8 -- the gap between the 1-worker and the 2-worker cells' parent CPU
(1.8 and 0.8 ms per item). A 2-worker prediction from the 1-worker cell's costs takes the
difference from here (``predict/chunks.py``). The run ships before its rounds: the allocator's
state is the process's history, and after the rounds of one run chunks of 16 no longer
faulted, where they had in every round.

Each chunk size, the largest first: one unmeasured chunk (the heap grows to it), then
``CHUNKS`` chunks, each timed on its own by the parent's getrusage (every thread: the pool's
feeder pickles and writes, its result thread reads); the median per item is kept. The largest
first, because glibc's thresholds only rise, and the run's parent had shipped its largest
chunks too: chunks of 4 tiles measured first faulted 536 times per item, and after chunks of
16 not at all.
"""

from __future__ import annotations

import resource
import statistics
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from cvbench.measure.costs import lone_worker_pool, result_within
from cvbench.measure.interrupts import Deferred, deferred

CHUNKS = 4  # timed chunks per size, after one unmeasured
# larger chunks are not shipped again for a prediction: past glibc's 32 MiB mmap ceiling every
# message is fresh pages whatever its size, and five of them would cost the run seconds
MAX_CHUNK_BYTES = 64 << 20


@dataclass(frozen=True)
class ShipCost:
    """Per item, shipping the job's items in chunks of ``chunksize`` (medians of ``chunks``)."""

    chunksize: int
    parent_item_s: float  # the parent's CPU (user + system, every thread)
    faults_per_item: float  # the parent's minor page faults
    chunks: int

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _usage() -> tuple[float, int]:
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return ru.ru_utime + ru.ru_stime, ru.ru_minflt


def _chunk(payloads: Sequence[Any], size: int, k: int) -> list[Any]:
    """The k-th chunk of ``size`` items, wrapping around a job with fewer items."""
    return [payloads[(k * size + i) % len(payloads)] for i in range(size)]


def _one_size(pool: Any, payloads: Sequence[Any], size: int, stop: Deferred) -> ShipCost:
    result_within(pool.submit(len, _chunk(payloads, size, 0)), stop)
    cpu, faults = [], []
    for k in range(1, CHUNKS + 1):
        chunk = _chunk(payloads, size, k)
        c0, f0 = _usage()
        result_within(pool.submit(len, chunk), stop)
        c1, f1 = _usage()
        cpu.append((c1 - c0) / size)
        faults.append((f1 - f0) / size)
        stop.check()
    return ShipCost(size, statistics.median(cpu), statistics.median(faults), CHUNKS)


def chunk_bytes(payloads: Sequence[Any], size: int) -> int:
    from cvbench.emulated_kernel.predict.costs import payload_bytes

    return size * max((payload_bytes(p) for p in payloads[: min(len(payloads), 8)]), default=0)


def ship_costs(payloads: Sequence[Any], sizes: Iterable[int]) -> dict[int, ShipCost]:
    """Every size's cost, in one 1-worker pool. ValueError for a size whose chunks would be
    over ``MAX_CHUNK_BYTES`` or a job with no items; OSError/RuntimeError where processes
    cannot start; a stop is raised between chunks (``interrupts.deferred``)."""
    wanted = sorted(set(sizes), reverse=True)
    if not payloads or not wanted or min(wanted) < 1:
        raise ValueError("nothing to ship")
    biggest = chunk_bytes(payloads, wanted[0])
    if biggest > MAX_CHUNK_BYTES:
        raise ValueError(f"chunks of {wanted[0]} items are {biggest >> 20} MiB")
    with deferred() as stop, lone_worker_pool(stop) as pool:
        return {size: _one_size(pool, payloads, size, stop) for size in wanted}
