"""The caller's process as it was found: a run (through the API above all) must not leave the
caller's environment variables or its threads' CPU masks changed. Light on purpose (no cv2,
no psutil): the API enters it before importing anything that imports cv2, whose import sets
LD_LIBRARY_PATH."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator

from cvbench.measure.procfs import tids


@contextlib.contextmanager
def caller_state_kept() -> Iterator[None]:
    """The environment and the CPU masks of this process's threads, restored after the run.

    A run restricts every thread to --cpus, and what it imports and starts writes variables
    into os.environ (the lifeline's CVBENCH_MAIN_PID, cv2's LD_LIBRARY_PATH, dask's
    OMP_NUM_THREADS and __DASK_PARENT_PID, ...): an API caller must find neither. Threads a
    framework started during the run and keeps (dask's offload thread, trio's idle workers)
    get the mask a thread of the caller's would have had, not --cpus.
    """
    process_mask = os.sched_getaffinity(0)
    masks: dict[int, set[int]] = {}
    for tid in tids(os.getpid()):
        with contextlib.suppress(OSError):
            masks[tid] = os.sched_getaffinity(tid)
    try:
        with environment_kept():
            yield
    finally:
        for tid in tids(os.getpid()):
            with contextlib.suppress(OSError):
                os.sched_setaffinity(tid, masks.get(tid, process_mask))


@contextlib.contextmanager
def environment_kept() -> Iterator[None]:
    """os.environ put back as it was: the variables added removed, the changed ones reset."""
    env = dict(os.environ)
    try:
        yield
    finally:
        for key in [k for k in os.environ if k not in env]:
            os.environ.pop(key, None)
        for key, value in env.items():
            if os.environ.get(key) != value:
                os.environ[key] = value
