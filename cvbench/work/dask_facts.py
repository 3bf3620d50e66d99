"""Run on every dask worker through ``client.run`` (in the worker's event loop, not a task
thread, so it answers even while every task thread is busy). A light module: a worker imports
it by name, and must not import the models package and its frameworks."""

from __future__ import annotations

import os
import socket
from typing import Any


def worker_facts(dask_worker: Any) -> dict[str, Any]:
    """Where the worker runs, and the tasks it still runs although their client gave them up.

    dask cannot stop a running task: a task whose client cancelled it or went away (a run
    that timed out on a hanging op) stays ``cancelled`` in the worker's ``executing`` set and
    holds one of its threads until the function returns. A new run's tasks sent there would
    wait behind it for ever; the model refuses such a cluster with one line instead.
    """
    state = getattr(dask_worker, "state", None)
    executing = getattr(state, "executing", ()) or ()
    held = sorted(str(ts.key) for ts in executing if getattr(ts, "state", "") == "cancelled")
    return {
        "host": socket.gethostname(),
        "pid": os.getpid(),
        "held": held,
        "nthreads": int(getattr(state, "nthreads", 0) or getattr(dask_worker, "nthreads", 1)),
    }
