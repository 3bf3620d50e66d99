"""Every model does the same work: same items, same parameters, same outputs."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from cvbench.models import MODELS
from cvbench.models.sequential import Sequential
from cvbench.work import digest
from cvbench.work import ops as cv
from cvbench.workloads import data
from tests.helpers import new_probes, run_digest

WORKLOADS = ("threshold", "threshold-io", "faces", "frames")


@pytest.fixture(scope="module")
def sequential_digests(quick_jobs):
    return {w: run_digest(Sequential().run(quick_jobs[w], 1, new_probes())) for w in WORKLOADS}


def _model_params() -> list:
    """Every model but the baseline; one that cannot run here is skipped with its reason."""
    return [
        pytest.param(m, marks=pytest.mark.skip(reason=f"{m}: {reason}"))
        if (reason := MODELS[m].unavailable())
        else m
        for m in MODELS
        if m != "sequential"
    ]


@pytest.mark.parametrize("model", _model_params())
@pytest.mark.parametrize("workload", WORKLOADS)
def test_every_model_matches_sequential(model, workload, quick_jobs, sequential_digests):
    job = quick_jobs[workload]
    probes = new_probes()
    instance = MODELS[model]()
    try:
        records = instance.run(job, 2, probes)
    finally:
        getattr(instance, "close", lambda: None)()  # a kept cluster ends with its model
    assert sorted(r.index for r in records) == list(range(job.items))
    assert run_digest(records) == sequential_digests[workload]
    # every item ran inside the timed region, on a known worker
    assert all(probes.begun_ns <= r.started_ns <= r.finished_ns <= probes.ended_ns for r in records)
    assert {r.worker for r in records} <= {0, 1}


def test_threshold_digest_equals_direct_cv2_calls(quick_jobs, sequential_digests):
    """Independent source: the book's two cv2 calls, made here without cvbench's kernel."""
    digests = []
    for tile in quick_jobs["threshold"].payloads:
        gray = cv2.cvtColor(tile, cv2.COLOR_BGR2GRAY)
        out = cv2.adaptiveThreshold(
            gray, 255, cv2.ADAPTIVE_THRESH_GAUSSIAN_C, cv2.THRESH_BINARY, 11, 2
        )
        digests.append(digest.digest_array(out))
    assert digest.combine_digests(digests) == sequential_digests["threshold"]


def test_threshold_io_writes_the_thresholded_tiles(quick_jobs):
    job = quick_jobs["threshold-io"]
    Sequential().run(job, 1, new_probes())
    src, dst = job.payloads[7]
    written = cv2.imread(dst, cv2.IMREAD_GRAYSCALE)
    expected = cv.threshold(cv2.imread(src))
    assert np.array_equal(written, expected)


def test_faces_found_in_at_least_95_percent_of_default_frames():
    cv.set_cv_threads(1)
    frames = data.jittered_frames(data.astronaut(), 40, 320, seed=7)
    found = sum(len(cv.detect_faces(f)) > 0 for f in frames)
    assert found >= 0.95 * len(frames)


def test_astronaut_face_at_known_position():
    """The shipped photo: the cascade finds the face where scikit-image's docs show it."""
    boxes = cv.detect_faces(data.astronaut())
    assert len(boxes) == 1
    x, y, w, h = boxes[0]
    assert abs(x - 177) <= 3 and abs(y - 67) <= 3 and abs(w - 95) <= 4


def test_textured_image_is_seeded_and_textured():
    a, b = data.textured_image(400, 300, 8), data.textured_image(400, 300, 8)
    assert np.array_equal(a, b)
    assert not np.array_equal(a, data.textured_image(400, 300, 9))
    white = (cv.threshold(a) > 0).mean()
    assert 0.2 < white < 0.8  # thresholding does real work: neither blank nor full
