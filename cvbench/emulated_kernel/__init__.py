"""The reference emulated preemptive kernel: policies, a deterministic simulator, trace replay
and a validation against the running Linux scheduler.  See docs/kernel.md.

Import-light on purpose: this package needs only the stdlib, click and rich.
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
from .pool_models import MODELS, ItemCost, MachineCosts, ModelPrediction, predict_model
from .sim import INF_NS, PoolSpec, ProgramSpec, SimResult, TaskResult, TaskSpec, simulate
from .trace import Prediction, Trace, TraceError, load_trace, parse_trace, predict_processes

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
