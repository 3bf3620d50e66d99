"""What a work item and this machine cost: the prediction's inputs, and how a run measures them.

``ItemCost`` (per item: GIL-held and GIL-released CPU, I/O, pickled bytes) and ``MachineCosts``
(per item and per byte: pickling, round trips, offload, switches) are what ``pool_models``
simulates and what a trace stores.  The functions below them derive both from a run: the
sequential model's item records and the calibration (``runner.py`` calls them).

Units: seconds and bytes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .gil import SWITCH_INTERVAL_NS


@dataclass(frozen=True)
class ItemCost:
    """What one work item costs, measured in a run (seconds, bytes).

    ``gil_s``: CPU time holding the GIL (the pure-Python part around the cv2 call);
    ``released_s``: CPU time inside cv2 with the GIL released; ``io_s``: blocking wait before
    the CPU work (file read), off-CPU; ``bytes_in``/``bytes_out``: pickled size of the item
    sent to a process worker and of the result sent back.
    """

    gil_s: float
    released_s: float = 0.0
    io_s: float = 0.0
    bytes_in: int = 0
    bytes_out: int = 0

    @property
    def service_s(self) -> float:
        return self.gil_s + self.released_s


@dataclass(frozen=True)
class MachineCosts:
    """This machine's per-item and per-byte costs, measured by a calibration (seconds).

    ``pickle_pipe_s_per_byte``: pickling + pipe + unpickling cost per byte, paid once on the
    sending and once on the receiving side (so a ping-pong of a B-byte payload and a tiny
    reply takes ``round_trip_s + 2*B*pickle_pipe_s_per_byte``).  ``round_trip_s``: the
    per-item fixed cost of a process pool (submit, future, result) with a tiny payload.
    ``offload_s``: per item, an event loop's run_in_executor (future + thread wake-up + the
    awaiting task resumed), on the loop thread.  ``submit_s``: per item, a thread pool's
    submit + result in the submitting thread (0 if not measured).  ``switch_s``: per item, a
    cooperative model's switch (yield) cost.  ``shm_ref_bytes``: what processes+shm pickles
    instead of the input.  ``switch_interval_s``: ``sys.getswitchinterval()``.
    """

    pickle_pipe_s_per_byte: float = 0.0
    round_trip_s: float = 0.0
    offload_s: float = 0.0
    submit_s: float = 0.0
    switch_s: float = 0.0
    shm_ref_bytes: int = 0
    switch_interval_s: float = SWITCH_INTERVAL_NS / 1e9
    #: measured in the run itself (``from_run``), replacing the per-byte model when set:
    #: the parent's CPU per item (process models: send + receive + its other threads;
    #: thread models: the submitting/loop thread, GIL held) and a worker's CPU per item beyond
    #: the item's service (process models: receive, unpickle, page faults, send back; thread
    #: models: the future's bookkeeping, GIL held)
    parent_item_s: float | None = None
    worker_item_s: float | None = None
    #: of ``parent_item_s``, what a worker waits for with nothing to do: a process pool's
    #: pipe hand-over is a rendezvous (the parent writes 64 KB at a time while the worker
    #: reads), so this part does not overlap the worker's compute; an event loop's hand-over
    #: of the next item (the rest of its CPU overlaps). Measured at one worker as the
    #: worker's time per item that is neither its CPU nor its run-queue wait.
    parent_sync_s: float | None = None
    #: dask: of the parent's CPU per item, the client's main (submitting) thread's; the rest
    #: of ``parent_item_s`` is then the scheduler's
    main_item_s: float | None = None

    @classmethod
    def from_round_trips(
        cls, small_bytes: int, small_s: float, large_bytes: int, large_s: float, **kw: Any
    ) -> MachineCosts:
        """Costs from two timed ping-pongs (one item at a time, tiny reply) of two payload
        sizes: ``T(B) = round_trip_s + 2*B*pickle_pipe_s_per_byte``.  ``kw``: other fields."""
        if large_bytes <= small_bytes:
            raise ValueError("the large payload must be larger than the small one")
        per_byte = max(0.0, (large_s - small_s) / (2 * (large_bytes - small_bytes)))
        rt = max(0.0, small_s - 2 * small_bytes * per_byte)
        return cls(pickle_pipe_s_per_byte=per_byte, round_trip_s=rt, **kw)


RESULT_BYTES = 160  # a pickled ItemResult: index, ids, stamps, a 24-char digest
SHM_REF_BYTES = 120  # what processes+shm pickles instead of an array: name, offset, shape, dtype


def payload_bytes(payload: Any) -> int:
    """What a process pool pickles for one item's argument: an array's buffer plus its
    header, anything else as pickle measures it."""
    import pickle

    import numpy as np

    if isinstance(payload, np.ndarray):
        return int(payload.nbytes) + 160
    return len(pickle.dumps(payload, protocol=pickle.HIGHEST_PROTOCOL))


def item_costs(records: list, payloads: tuple[Any, ...]) -> list[ItemCost]:
    """The cost model's items from one sequential repetition: service split into GIL-held and
    GIL-released (measured around the cv2 calls), file I/O, and bytes each way."""
    out = []
    for r in sorted(records, key=lambda r: r.index):
        io_s = r.io_ns / 1e9
        service_s = max(0.0, (r.finished_ns - r.started_ns) / 1e9 - io_s)
        released_s = min(service_s, r.released_ns / 1e9)
        out.append(
            ItemCost(
                gil_s=service_s - released_s,
                released_s=released_s,
                io_s=io_s,
                bytes_in=payload_bytes(payloads[r.index]),
                bytes_out=RESULT_BYTES,
            )
        )
    return out


def machine_costs(calibration: Any, chunksize: int = 1) -> MachineCosts:
    """Calibrated costs; the fixed per-task costs are shared by the items of a chunk."""
    c = max(1, chunksize)
    base = MachineCosts.from_round_trips(
        calibration.small_bytes,
        calibration.small_round_trip_s,
        calibration.large_bytes,
        calibration.large_round_trip_s,
    )
    return MachineCosts(
        pickle_pipe_s_per_byte=base.pickle_pipe_s_per_byte,
        round_trip_s=base.round_trip_s / c,
        offload_s=calibration.offload_s / c,
        submit_s=calibration.submit_s / c,
        shm_ref_bytes=SHM_REF_BYTES,
    )


def median_item_costs(runs: list[list[ItemCost]]) -> list[ItemCost]:
    """Per item, the median of each cost over the sequential repetitions (one noisy
    repetition must not become the prediction)."""
    import statistics

    if not runs:
        return []
    out = []
    for costs in zip(*runs, strict=True):
        out.append(
            ItemCost(
                gil_s=statistics.median(c.gil_s for c in costs),
                released_s=statistics.median(c.released_s for c in costs),
                io_s=statistics.median(c.io_s for c in costs),
                bytes_in=costs[0].bytes_in,
                bytes_out=costs[0].bytes_out,
            )
        )
    return out
