"""Predictions: what each concurrency model would do, from measured costs, on the simulator.

- ``costs.py``: ``ItemCost`` and ``MachineCosts`` (the inputs) and how a run measures them;
- ``gil.py``: CPython threads as simulator programs sharing one GIL;
- ``pool_models.py``: every pool model built from those threads plus transfer costs;
- ``trace.py``: the trace file (``cvbench run --trace``), its replay as a process pool;
- ``rows.py``: the one builder of predicted results rows.

Imports the simulator (``..sim``), ``cvbench.results.schema`` (stdlib only) and, when a trace
is written, ``cvbench.results.write``; numpy only inside ``costs.payload_bytes``.  No cv2.
What ``runner.py`` calls is re-exported here.
"""

from .costs import item_costs, machine_costs, median_item_costs, payload_bytes
from .pool_models import predicted_model_row
from .trace import trace_doc, write_trace

__all__ = [
    "item_costs",
    "machine_costs",
    "median_item_costs",
    "payload_bytes",
    "predicted_model_row",
    "trace_doc",
    "write_trace",
]
