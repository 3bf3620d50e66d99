"""A batching process pool's chunk sizes: which to ship before the rounds, and a measured
cell's costs moved from its chunk size to another (``measure/shipping.py`` measures).

Why: Pool.map's rule gives 1 worker chunks of 16 threshold tiles and 2 workers chunks of 8,
and the parent's CPU per item is not the same at both (the larger messages page-fault every
time). A prediction from the 1-worker cell for 2 workers, or for the scaling lines' 4, 16 and
64, takes the difference that shipping the job's own items in both sizes measured. Stdlib
only, like the rest of ``predict``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

from . import from_run, pool_models

#: (shipping costs by chunk size -- each with parent_item_s, faults_per_item, to_dict() --
#: or None, and why not): the job's items shipped to a lone process worker before the rounds
#: (``measure/shipping.py``)
Shipped = tuple[dict[int, Any] | None, str]


def moves_chunks(model: Any) -> bool:
    """A process pool whose chunk size follows its worker count (Pool.map's rule)."""
    return model.batches and model.name in pool_models.PROCESS_MODELS and not model.external


def ship_sizes(config: Any, job: Any, chunksize: Callable[[Any, Any, int], int]) -> list[int]:
    """The chunk sizes a batching process pool ships at the run's worker counts and at the
    core counts of the scaling lines, where they differ (a prediction moves between them);
    [] when none do or no model batches."""
    sizes: set[int] = set()
    for model in config.models:
        if moves_chunks(model):
            counts = (*config.workers, *from_run.SCALE_CORES)
            mine = {chunksize(model, job, w) for w in counts}
            if len(mine) > 1:
                sizes |= mine
    return sorted(sizes)


def moved_cell(
    cell: Any, model: Any, job: Any, chunksize: Callable[[Any, Any, int], int],
    shipped: Shipped, workers: int,
) -> tuple[Any, str]:  # fmt: skip
    """A process pool cell moved to the chunks ``workers`` workers get (the 1-worker cell
    shipped 16 threshold tiles, 2 workers get 8, the scaling lines' 16 get 1), and what the
    row's notes say of it; the cell as it was where the sizes are the same or were not
    shipped."""
    by_size, why_not = shipped
    at, to = chunksize(model, job, cell.workers), chunksize(model, job, workers)
    if at == to:
        return cell, ""
    if by_size and at in by_size and to in by_size:
        return rechunked(cell, by_size[at], by_size[to])
    return cell, (
        f"chunks of {to}, not {at} as in the {cell.workers}-worker cell: its parent CPU per "
        f"item taken as it was (shipping {why_not})"
    )


def costs_in_chunks(
    cell: Any, model: Any, job: Any, chunksize: Callable[[Any, Any, int], int],
    shipped: Shipped, workers: int,
) -> Any:  # fmt: skip
    """``moved_cell``'s costs, for the scaling lines."""
    return from_run.machine_costs_from(
        moved_cell(cell, model, job, chunksize, shipped, workers)[0], None
    )


def rechunked(cell: Any, at: Any, to: Any) -> tuple[Any, str]:
    """A process pool's measured cell moved to another chunk size: its parent's CPU per item
    changes by what shipping the items alone changed (``measure/shipping.py``)."""
    delta = to.parent_item_s - at.parent_item_s
    note = (
        f"parent CPU per item {1e3 * delta:+.2f} ms from the {cell.workers}-worker cell: "
        f"chunks of {to.chunksize}, not {at.chunksize} (the items shipped alone: "
        f"{1e3 * to.parent_item_s:.2f} vs {1e3 * at.parent_item_s:.2f} ms and "
        f"{to.faults_per_item:.0f} vs {at.faults_per_item:.0f} page faults per item)"
    )
    return replace(cell, parent_s=max(0.0, cell.parent_s + delta)), note
