"""The picklable work function every model calls, one item at a time.

It times the item inside the worker (perf_counter_ns is CLOCK_MONOTONIC on Linux, so stamps
from threads and child processes share one clock) and returns a digest instead of pixels, so
that no model pays to ship results back.
"""

from __future__ import annotations

import math
import os
import queue
import signal
import threading
import time
from dataclasses import dataclass, field, replace
from typing import Any, NamedTuple

import cv2
import numpy as np

from cvbench.work import inputs, lifeline, user_op, video
from cvbench.work import ops as cv
from cvbench.work.digest import digest_array


class ItemResult(NamedTuple):
    """What a worker reports for one item."""

    index: int
    tid: int
    started_ns: int
    finished_ns: int
    digest: str
    detail: int  # faces found (-1 for threshold)
    io_ns: int = 0  # time spent reading/writing files inside the item (threshold-io)
    released_ns: int = 0  # GIL released: cv2 calls, hashing big outputs; 0 = unmeasured


@dataclass(frozen=True)
class Fault:
    """Deliberate worker death, for testing that a dying worker costs one row, not the run."""

    index: int
    action: str  # "exit" (os._exit) or "kill" (SIGKILL to itself)
    parent_pid: int = field(default_factory=os.getpid)

    def trigger(self, index: int) -> None:
        if index != self.index or os.getpid() == self.parent_pid:
            return  # never kill the benchmark process itself (inline models)
        if self.action == "kill":
            os.kill(os.getpid(), signal.SIGKILL)
        os._exit(3)


@dataclass(frozen=True)
class WorkFn:
    """Callable shipped to workers: the op, its parameters and the cv thread count."""

    op: str  # "threshold" | "threshold-io" | "faces"
    cv_threads: int = 1
    threshold: cv.ThresholdParams = cv.ThresholdParams()
    faces: cv.FaceParams = cv.FaceParams()
    fault: Fault | None = None

    def without_fault(self) -> WorkFn:
        """The op with no injected fault, for a call outside the timed region (a worker's
        warm-up, the first deadline's estimate): a fault aimed at an item stays on it."""
        return self if self.fault is None else replace(self, fault=None)

    def prepare(self) -> int:
        """Per-worker set-up (cv thread count); returns the calling thread's kernel tid."""
        cv.set_cv_threads(self.cv_threads)
        if self.op == "faces":
            cv.load_cascade(self.faces.cascade)  # load before timing, once per thread
        elif user_op.is_user_op(self.op):
            user_op.resolve(self.op)  # import before timing, once per process
        return threading.get_native_id()

    def __call__(self, index: int, payload: Any) -> ItemResult:
        cv.set_cv_threads(self.cv_threads)
        if self.fault is not None:
            self.fault.trigger(index)
        cv.cv_ns_taken()  # start the item at zero
        started = time.perf_counter_ns()
        io = 0
        if isinstance(payload, inputs.InputImage | video.VideoFrame):  # streamed: decode here
            payload = payload.load()
            io = time.perf_counter_ns() - started
            cv.cv_ns_taken()  # the decode is input, not the op's cv2 time
        if self.op == "threshold":
            out = cv.threshold(payload, self.threshold)
            digest, detail = released_digest(out), -1
        elif self.op == "threshold-io":
            src, dst = payload
            img = read_image(src)
            read_ns = time.perf_counter_ns()
            out = cv.threshold(img, self.threshold)
            write_ns = time.perf_counter_ns()
            write_image(dst, out)
            io = (read_ns - started) + (time.perf_counter_ns() - write_ns)
            digest, detail = released_digest(out), -1
        elif self.op == "faces":
            boxes = cv.detect_faces(payload, self.faces)
            digest, detail = digest_array(boxes), len(boxes)
        elif user_op.is_user_op(self.op):
            digest, detail = user_op.call(self.op, index, payload)
        else:
            raise ValueError(f"unknown op {self.op!r}")
        finished = time.perf_counter_ns()
        tid = threading.get_native_id()
        return ItemResult(index, tid, started, finished, digest, detail, io, cv.cv_ns_taken())


HASHLIB_GIL_MINSIZE = 2048  # hashlib releases the GIL while hashing buffers at least this big


def released_digest(arr: np.ndarray) -> str:
    """digest_array, its time counted as GIL-released where hashlib releases the GIL."""
    t0 = time.perf_counter_ns()
    digest = digest_array(arr)
    if arr.nbytes >= HASHLIB_GIL_MINSIZE:
        cv.charge_released(t0)
    return digest


def read_image(path: str) -> np.ndarray:
    """Bytes then cv2.imdecode: cv2.imread crashes the interpreter on a path that is not
    UTF-8, and any path the OS accepts must work or fail with one line."""
    with open(path, "rb") as fh:
        data = np.frombuffer(fh.read(), np.uint8)
    img = cv2.imdecode(data, cv2.IMREAD_COLOR) if data.size else None
    if img is None:
        raise OSError(f"cannot read image {os.fsencode(path).decode('utf-8', 'replace')}")
    return img


def write_image(path: str, img: np.ndarray) -> None:
    ok, buf = cv2.imencode(os.path.splitext(path)[1] or ".png", img)
    if not ok:
        raise OSError(f"cannot encode {path}")
    with open(path, "wb") as fh:
        fh.write(buf.tobytes())


def prepare_and_identify(fn: WorkFn) -> tuple[int, int]:
    """Process warm-up for pools without an initializer (curio): set up, then linger so that
    N concurrent calls land on N distinct workers."""
    lifeline.worker_setup()
    tid = fn.prepare()
    time.sleep(0.05)
    return os.getpid(), tid


def init_pool_worker(fn: WorkFn, barrier: threading.Barrier, pids: queue.Queue) -> None:
    """Process-pool initializer: set up, report the pid, hold until every worker exists.

    While the barrier holds no task completes, so each warm-up submit spawns a new worker.
    It lives here, not beside the pool, so a worker imports only this light module.
    """
    lifeline.worker_setup()
    fn.prepare()
    pids.put(os.getpid())
    barrier.wait(timeout=120)


def identify(_: object = None) -> tuple[int, int]:
    """(pid, tid) of the worker that runs it; used while pools warm up."""
    return os.getpid(), threading.get_native_id()


@dataclass(frozen=True)
class ChunkFn:
    """Several items per task, as Pool.map ships them: one submit, one round trip and one
    result message for the whole chunk; each item is still timed and digested on its own."""

    fn: WorkFn

    def __call__(self, index: int, chunk: list[tuple[int, Any]]) -> list[ItemResult]:
        return [self.fn(i, payload) for i, payload in chunk]


def auto_chunksize(items: int, workers: int) -> int:
    """multiprocessing.Pool.map's rule: about four chunks per worker."""
    size, extra = divmod(items, workers * 4)
    return max(1, size + (1 if extra else 0))


def chunks(
    payloads: tuple[Any, ...], size: int, tail_workers: int = 1
) -> list[list[tuple[int, Any]]]:
    """Chunks of ``size`` items; with ``tail_workers`` > 1 the last ones shrink (guided
    self-scheduling): no chunk is more than 1/(2 x workers) of what remains, so the workers
    finish within about an item of each other instead of a whole chunk. Measured on threshold
    (64 items, 2 threads, chunks of 8): the last chunk left a worker idle ~1 ms of a 22 ms lane."""
    indexed = list(enumerate(payloads))
    out, i = [], 0
    while i < len(indexed):
        n = size
        if tail_workers > 1:
            n = max(1, min(size, math.ceil((len(indexed) - i) / (2 * tail_workers))))
        out.append(indexed[i : i + n])
        i += n
    return out


# The forkserver preloads this module: it watches the benchmark too, and dies with it.
lifeline.watch_main()
