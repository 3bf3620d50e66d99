"""The simulator: N cores running the policies of ``..policies`` on a virtual clock.

- ``engine.py``: the deterministic discrete-event simulator (``simulate``), one hot loop;
- ``data.py``: its input specs (tasks, pools, programs), per-task state and results;
- ``steady.py``: the fast path once cores can no longer affect each other.

Pure on purpose: the standard library and ``..policies`` only (no cvbench module outside
``emulated_kernel``, no third-party package), so a prediction never loads cv2 or numpy.
"""

from .data import (
    BLOCK,
    INF_NS,
    Control,
    PoolSpec,
    Program,
    ProgramSpec,
    SimResult,
    SimTask,
    Step,
    TaskResult,
    TaskSpec,
    percentiles,
)
from .engine import Simulator, simulate

__all__ = [
    "BLOCK",
    "INF_NS",
    "Control",
    "PoolSpec",
    "Program",
    "ProgramSpec",
    "SimResult",
    "SimTask",
    "Simulator",
    "Step",
    "TaskResult",
    "TaskSpec",
    "percentiles",
    "simulate",
]
