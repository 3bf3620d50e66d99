"""The OpenCV ops every model runs (the book's adaptive threshold and Haar face detection).

Kept free of any concurrency code so that a worker thread, a child process and the inline
cooperative loop all call exactly the same functions with the same parameters.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

import cv2
import numpy as np

_local = threading.local()


@dataclass(frozen=True)
class ThresholdParams:
    """Book example 5/6: Gaussian adaptive threshold, block 11, C 2."""

    block: int = 11
    c: int = 2


@dataclass(frozen=True)
class FaceParams:
    """Book example 7: Haar frontal-face cascade shipped with OpenCV."""

    scale_factor: float = 1.1
    min_neighbors: int = 5
    min_size: int = 30
    cascade: str = "haarcascade_frontalface_default.xml"


def set_cv_threads(n: int) -> None:
    """Fix OpenCV's own thread pool size; its default (all cores) distorts every comparison."""
    if getattr(_local, "cv_threads", None) != n or cv2.getNumThreads() != max(n, 1):
        cv2.setNumThreads(n)
        _local.cv_threads = n


def cv_ns_taken() -> int:
    """Nanoseconds this thread spent inside cv2 calls (GIL released) since the last call.

    OpenCV drops the GIL for the whole of each call (ERRWRAP2 -> PyAllowThreads), so the time
    inside them is the part of an item that threads can run in parallel; the rest of the
    item's service holds the GIL. The emulated kernel's cost model needs both."""
    taken = getattr(_local, "cv_ns", 0)
    _local.cv_ns = 0
    return taken


def charge_released(started_ns: int) -> None:
    """Count the time since started_ns as spent with the GIL released."""
    _local.cv_ns = getattr(_local, "cv_ns", 0) + time.perf_counter_ns() - started_ns


def threshold(bgr: np.ndarray, params: ThresholdParams = ThresholdParams()) -> np.ndarray:
    """Gray conversion plus Gaussian adaptive threshold, as in the book's examples 5 and 6."""
    t0 = time.perf_counter_ns()
    gray = cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY) if bgr.ndim == 3 else bgr
    out = cv2.adaptiveThreshold(
        gray, 255, cv2.ADAPTIVE_THRESH_GAUSSIAN_C, cv2.THRESH_BINARY, params.block, params.c
    )
    charge_released(t0)
    return out


def load_cascade(name: str) -> cv2.CascadeClassifier:
    """One classifier per thread: CascadeClassifier is not documented as thread-safe."""
    cache = getattr(_local, "cascades", None)
    if cache is None:
        cache = _local.cascades = {}
    clf = cache.get(name)
    if clf is None:
        path = cv2.data.haarcascades + name
        clf = cv2.CascadeClassifier(path)
        if clf.empty():
            raise RuntimeError(f"cannot load Haar cascade {path}")
        cache[name] = clf
    return clf


def detect_faces(bgr: np.ndarray, params: FaceParams = FaceParams()) -> np.ndarray:
    """Face boxes (x, y, w, h) sorted so that the digest does not depend on detector order."""
    clf = load_cascade(params.cascade)
    t0 = time.perf_counter_ns()
    gray = cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY) if bgr.ndim == 3 else bgr
    boxes = clf.detectMultiScale(
        gray, params.scale_factor, params.min_neighbors, minSize=(params.min_size,) * 2
    )
    charge_released(t0)
    boxes = np.asarray(boxes, dtype=np.int32).reshape(-1, 4)
    return boxes[np.lexsort(boxes.T[::-1])] if len(boxes) else boxes
