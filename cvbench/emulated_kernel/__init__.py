"""The reference emulated preemptive kernel.  See docs/kernel.md.

Its parts, and what each may import:

- ``policies/``: fifo, rr, cfs, eevdf -- one implementation each, shared by the simulator and
  the live kernels (so it sits beside both, not inside ``sim/``).  Stdlib only.
- ``sim/``: the deterministic simulator.  Stdlib and ``policies/`` only.
- ``predict/``: costs, the GIL and pool models, traces, predicted rows.  ``sim/`` plus
  ``cvbench.results`` (stdlib only); numpy only when measuring payload sizes.
- ``live/``: the greenlet kernel (needs ``greenlet``) and the SIGSTOP/SIGCONT process kernel
  with its worker pool (``cvbench.work.proc_worker``; the workers load cv2).  No simulator.
- ``validate/``: the simulator and the process kernel against Linux (``cvbench.measure``;
  ``--real-work`` loads ``cvbench.workloads``, so cv2).

Importing this package loads ``policies/``, ``sim/`` and ``predict/`` (the names below), never
``live/`` or ``validate/``, so never cv2, greenlet or numpy.
"""

from .policies import (
    MIGRATE,
    POLICIES,
    PRIO_TO_WEIGHT,
    SLEEP,
    WAKEUP,
    Policy,
    RunQueue,
    SchedEntity,
    make_policy,
    nice_to_weight,
)
from .predict.costs import ItemCost, MachineCosts
from .predict.pool_models import MODELS, ModelPrediction, predict_model
from .predict.trace import Prediction, Trace, TraceError, load_trace, parse_trace, predict_processes
from .sim import INF_NS, PoolSpec, ProgramSpec, SimResult, TaskResult, TaskSpec, simulate

__all__ = [
    "INF_NS",
    "MIGRATE",
    "MODELS",
    "POLICIES",
    "PRIO_TO_WEIGHT",
    "SLEEP",
    "WAKEUP",
    "ItemCost",
    "MachineCosts",
    "ModelPrediction",
    "Policy",
    "PoolSpec",
    "Prediction",
    "ProgramSpec",
    "RunQueue",
    "SchedEntity",
    "SimResult",
    "TaskResult",
    "TaskSpec",
    "Trace",
    "TraceError",
    "load_trace",
    "make_policy",
    "nice_to_weight",
    "parse_trace",
    "predict_model",
    "predict_processes",
    "simulate",
]
