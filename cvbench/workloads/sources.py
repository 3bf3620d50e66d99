"""Turn a workload definition (plus a preset or the user's --input) into a Job."""

from __future__ import annotations

import contextlib
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from cvbench.work import ops as cv
from cvbench.work.item import Fault, WorkFn
from cvbench.work.job import Job
from cvbench.workloads import data
from cvbench.workloads.spec import WorkloadError, WorkloadSpec


class InputError(WorkloadError):
    """The user's --input cannot be used; the message names the offending file."""


@dataclass(frozen=True)
class JobOptions:
    preset: str = "default"
    cv_threads: int = 1
    fps: float | None = None
    input_path: str | None = None
    fault: Fault | None = None


def read_inputs(path: str) -> list[np.ndarray]:
    """Images of a folder (sorted by name) or frames of a video; fail fast on a bad file."""
    p = Path(path)
    if not p.exists():
        raise InputError(f"--input {p}: no such file or directory")
    if p.is_dir():
        files = sorted(f for f in p.iterdir() if f.is_file() and not f.name.startswith("."))
        if not files:
            raise InputError(f"--input {p}: the folder has no files")
        images = []
        for f in files:
            img = cv2.imread(str(f), cv2.IMREAD_COLOR)
            if img is None:
                raise InputError(f"--input {f}: not a readable image (corrupt or unsupported)")
            images.append(img)
        return images
    img = cv2.imread(str(p), cv2.IMREAD_COLOR)
    if img is not None:
        return [img]
    cap = cv2.VideoCapture(str(p))
    frames = []
    while cap.isOpened():
        ok, frame = cap.read()
        if not ok:
            break
        frames.append(frame)
    cap.release()
    if not frames:
        raise InputError(f"--input {p}: not a readable image or video file")
    return frames


def _threshold_images(spec: WorkloadSpec, size: dict, opts: JobOptions) -> list[np.ndarray]:
    if opts.input_path:
        return read_inputs(opts.input_path)
    base = data.textured_image(int(size["width"]), int(size["height"]), int(size["seed"]))
    flips = [None, 1, 0, -1]  # the image, then its mirrors: new pixels without new generation
    return [base if f is None else cv2.flip(base, f) for f in flips[: int(size.get("images", 1))]]


def _frames(spec: WorkloadSpec, size: dict, opts: JobOptions) -> list[np.ndarray]:
    if opts.input_path:
        return read_inputs(opts.input_path)
    return data.jittered_frames(
        data.astronaut(), int(size["frames"]), int(size["size"]), int(size["seed"])
    )


@contextlib.contextmanager
def build_job(spec: WorkloadSpec, opts: JobOptions) -> Iterator[Job]:
    """Prepare the data (untimed) and yield the Job; temporary files vanish afterwards."""
    size = spec.size(opts.preset)
    params = spec.params
    fn = WorkFn(
        op=spec.op,
        cv_threads=opts.cv_threads,
        threshold=cv.ThresholdParams(block=int(params.get("block", 11)), c=int(params.get("c", 2))),
        faces=cv.FaceParams(
            scale_factor=float(params.get("scale_factor", 1.1)),
            min_neighbors=int(params.get("min_neighbors", 5)),
            min_size=int(params.get("min_size", 30)),
        ),
        fault=opts.fault,
    )
    with tempfile.TemporaryDirectory(prefix=f"cvbench-{spec.name}-") as tmp:
        if spec.source in ("tiles", "tile-files"):
            grid = int(size.get("grid", 20))
            tiles = [
                t for img in _threshold_images(spec, size, opts) for t in data.grid_tiles(img, grid)
            ]
            if spec.source == "tiles":
                payloads: tuple = tuple(tiles)
            else:
                src_dir, dst_dir = Path(tmp, "in"), Path(tmp, "out")
                src_dir.mkdir()
                dst_dir.mkdir()
                pairs = []
                for i, tile in enumerate(tiles):
                    src = src_dir / f"tile_{i:05d}.png"
                    cv2.imwrite(str(src), tile)
                    pairs.append((str(src), str(dst_dir / f"tile_{i:05d}.png")))
                payloads = tuple(pairs)
            yield Job(spec.name, fn, payloads)
        else:
            frames = tuple(_frames(spec, size, opts))
            if spec.source == "frames":
                yield Job(spec.name, fn, frames)
            else:
                fps = float(opts.fps or size.get("fps", 30))
                period_ns = int(1e9 / fps)
                arrivals = tuple(i * period_ns for i in range(len(frames)))
                yield Job(spec.name, fn, frames, arrivals_ns=arrivals, deadline_ns=period_ns)
