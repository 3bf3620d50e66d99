"""Two user pipelines to benchmark with cvbench, both pure OpenCV.

Each takes one BGR image (as cv2 reads it) and returns something cvbench can digest: a list
of boxes. Run them with, e.g.:

    cvbench run --op cv_pipelines:canny_contours --pythonpath examples --input photos/
    cvbench run --workload examples/canny.toml
"""

from __future__ import annotations

import threading

import cv2
import numpy as np

_local = threading.local()


def canny_contours(image: np.ndarray) -> list[tuple[int, int, int, int]]:
    """Edges (Canny after a blur), then the bounding boxes of the outer contours, sorted."""
    gray = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
    edges = cv2.Canny(cv2.GaussianBlur(gray, (5, 5), 0), 50, 150)
    contours, _ = cv2.findContours(edges, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    return sorted(tuple(int(v) for v in cv2.boundingRect(c)) for c in contours)


def hog_people(image: np.ndarray) -> list[tuple[int, int, int, int]]:
    """OpenCV's HOG + linear SVM people detector on the image halved: boxes, sorted.

    One HOGDescriptor per thread: OpenCV does not document it as thread-safe.
    """
    hog = getattr(_local, "hog", None)
    if hog is None:
        hog = _local.hog = cv2.HOGDescriptor()
        hog.setSVMDetector(cv2.HOGDescriptor_getDefaultPeopleDetector())
    small = cv2.resize(image, None, fx=0.5, fy=0.5, interpolation=cv2.INTER_AREA)
    rects, _ = hog.detectMultiScale(small, winStride=(8, 8), padding=(8, 8), scale=1.05)
    return sorted(tuple(int(v) for v in r) for r in np.asarray(rects).reshape(-1, 4))
