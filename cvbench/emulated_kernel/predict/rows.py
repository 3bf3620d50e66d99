"""Predictions as results rows: the one place a predicted row is built.

Every prediction -- ``trace.Prediction`` (the processes replay), ``pool_models.ModelPrediction``
(any pool model, and ``pool_models.predicted_model_row``, the rows ``runner.py`` puts beside the
measured ones) -- becomes a row through ``prediction_row``: the schema's columns
(``results.schema.blank_row``), predicted=true.  Predicted rows never enter digests, speedups
or summaries of measured rows.
"""

from __future__ import annotations

from typing import Any, Protocol

from cvbench.results.schema import blank_row


class _Predicted(Protocol):
    model: str
    workers: int
    items: int
    makespan_s: float
    throughput_per_s: float


def prediction_row(pred: _Predicted, **fields: Any) -> dict[str, Any]:
    """A results row for ``pred`` (model, workers, items, wall and throughput, predicted=true)
    plus ``fields``: other columns, or a document's own keys after the schema's columns."""
    return blank_row(
        model=pred.model,
        workers=pred.workers,
        items=pred.items,
        wall_s=pred.makespan_s,
        throughput_per_s=pred.throughput_per_s,
        predicted=True,
        **fields,
    )
