"""The GIL split of a user function, measured (issue 18): one profiled pass, outside the timed
region, that times every call into cv2.

cvbench's own ops time their cv2 calls themselves (``ops.cv_ns_taken``); a user function calls
cv2 however it likes, so its items record ``released_ns = 0``.  Here ``sys.setprofile`` sees
each C call: a call whose function lives in ``cv2`` runs with the GIL released (OpenCV's
ERRWRAP2 -> PyAllowThreads), so its duration is GIL-released time; the rest of the item holds
the GIL.  The profiler slows the Python between the calls, not the calls, so the released time
per item is taken from here and the item's service from the unprofiled sequential run.
numpy calls count as GIL-held (some release it: the split errs towards fewer threads).
"""

from __future__ import annotations

import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Split:
    released_s: tuple[float, ...]  # per profiled item, in index order from 0
    cv_calls: tuple[int, ...]  # cv2 calls per profiled item
    took_s: float
    item_s: tuple[float, ...] = ()  # each profiled item's whole time (profiler included)

    @property
    def calls_per_item(self) -> float:
        return sum(self.cv_calls) / len(self.cv_calls) if self.cv_calls else 0.0


def _cv2_functions() -> frozenset[int]:
    """ids of cv2's module-level functions (their ``__module__`` is None: matched by id)."""
    try:
        import cv2
    except ImportError:
        return frozenset()
    ids: set[int] = set()
    mods = [cv2, *(v for v in vars(cv2).values() if type(v) is type(cv2))]
    for mod in mods:
        if getattr(mod, "__name__", "").startswith("cv2"):  # not the os/sys cv2 imports
            ids.update(id(v) for v in vars(mod).values() if type(v).__name__.startswith("builtin"))
    return frozenset(ids)


def _is_cv2(fn: Any, ids: frozenset[int]) -> bool:
    if id(fn) in ids:
        return True
    owner = getattr(fn, "__self__", None)  # a method of a cv2 object: CascadeClassifier...
    mod = getattr(type(owner), "__module__", None) if owner is not None else None
    return isinstance(mod, str) and (mod == "cv2" or mod.startswith("cv2."))


MAX_S = 3.0  # the pass profiles items until this long has gone by (at least one item)


def profile_split(call: Any, payloads: Sequence[Any], max_s: float = MAX_S) -> Split | None:
    """Run ``call(index, payload)`` over the first items (at least one, until ``max_s``) with
    a profiler timing cv2 calls; None when nothing could be profiled (the function failed, or
    the caller's deadline interrupted it: the runner runs this under a Watchdog)."""
    released: list[float] = []
    calls: list[int] = []
    whole: list[float] = []
    state = {"t0": 0, "depth": 0, "ns": 0, "n": 0}
    clock = time.perf_counter_ns
    ids = _cv2_functions()

    def prof(frame: Any, event: str, arg: Any) -> None:
        if event == "c_call" and state["depth"] == 0 and _is_cv2(arg, ids):
            state["depth"], state["t0"] = 1, clock()
            state["n"] += 1
        elif event in ("c_return", "c_exception") and state["depth"] and _is_cv2(arg, ids):
            state["ns"] += clock() - state["t0"]
            state["depth"] = 0

    t_start = time.perf_counter()
    old = sys.getprofile()
    try:
        for i, payload in enumerate(payloads):
            state.update(ns=0, n=0, depth=0)
            t_item = clock()
            sys.setprofile(prof)
            try:
                call(i, payload)
            finally:
                sys.setprofile(old)
            whole.append((clock() - t_item) / 1e9)
            released.append(state["ns"] / 1e9)
            calls.append(state["n"])
            if time.perf_counter() - t_start > max_s:
                break
    except Exception:  # noqa: BLE001 - a function that fails here fails its rows anyway
        return None
    if not released:
        return None
    return Split(tuple(released), tuple(calls), time.perf_counter() - t_start, tuple(whole))
