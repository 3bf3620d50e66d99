"""Turn a workload definition (plus a preset or the user's --input) into a Job.

The built-in generated data keeps the book's grid (each image cut into tiles). The user's own
images are respected: each image (or video frame) is one item, for every workload, unless
``--grid RxC`` asks for tiles. A folder's images and a video's frames stream: items are
references decoded in the worker (work/inputs.py, work/video.py). Tiles of --grid are cut
before the run and stay in memory (bounded by RESIDENT_CEILING); the tile files threshold-io
writes are written one source image at a time (bounded on disk by workloads/bounds.py).
"""

from __future__ import annotations

import contextlib
import functools
import os
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from cvbench.work import inputs, video
from cvbench.work import ops as cv
from cvbench.work.item import Fault, WorkFn
from cvbench.work.job import Job
from cvbench.work.temp_dirs import owned_dir
from cvbench.workloads import bounds, data, video_index
from cvbench.workloads.spec import WorkloadError, WorkloadSpec

MAX_INPUT_FILES = 100_000
JOB_DIR_PREFIX = "cvbench-job-"  # + pid: the job's temporary files (work/temp_dirs.py)
MAX_GRID = 1000
RESIDENT_CEILING = 2 * inputs.GiB  # decoded images cut into tiles (--grid), held for the run


class InputError(WorkloadError):
    """The user's --input cannot be used; the message names the offending file."""


@dataclass(frozen=True)
class JobOptions:
    preset: str = "default"
    cv_threads: int = 1
    fps: float | None = None
    input_path: str | None = None
    fault: Fault | None = None
    grid: tuple[int, int] | None = None  # --grid RxC: cut each input image into tiles


def shown(path: str | Path) -> str:
    """A path as text that can always be printed, whatever bytes its name holds."""
    return os.fsencode(path).decode("utf-8", "backslashreplace")


def _decode(path: Path) -> np.ndarray | None:
    try:
        return inputs.decode(path)
    except inputs.InputFileError as exc:
        raise InputError(f"--input {exc}") from None


def input_files(path: str) -> list[Path]:
    """The image files of a folder (sorted by name), or the one file given (an image, or a
    video: streamed, so its file has no size ceiling)."""
    p = Path(path)
    if not p.exists():
        raise InputError(f"--input {shown(p)}: no such file or directory")
    if not p.is_dir():
        _regular(p, None if is_video(str(p)) else inputs.FILE_CEILING)
        return [p]
    files = []
    for f in p.iterdir():
        if not f.name.startswith(".") and not f.is_dir():
            _regular(f)  # a FIFO or device in the folder is refused, not read (or skipped)
            files.append(f)
            if len(files) > MAX_INPUT_FILES:
                raise InputError(f"--input {shown(p)}: more than {MAX_INPUT_FILES} files")
    if not files:
        raise InputError(f"--input {shown(p)}: the folder has no files")
    return sorted(files, key=lambda f: os.fsencode(f.name))


def _regular(p: Path, limit: int | None = inputs.FILE_CEILING) -> None:
    try:
        inputs.check_regular(p, limit)
    except inputs.InputFileError as exc:
        raise InputError(f"--input {exc}") from None


def is_video(path: str) -> bool:
    """A single file that does not start as an image does: tried as a video."""
    p = Path(path)
    if p.is_dir():
        return False
    try:
        return not inputs.is_image_header(inputs.head_of(p))
    except inputs.InputFileError as exc:
        raise InputError(f"--input {exc}") from None


def video_scan(path: str) -> video_index.VideoIndex:
    """The video's frame count and anchors (one pass, a frame at a time); InputError."""
    try:
        return video_index.scan(os.fsdecode(path))
    except video_index.VideoInputError as exc:
        raise InputError(f"--input {exc}") from None


@functools.lru_cache(maxsize=4)
def input_images(path: str) -> tuple[inputs.InputImage, ...]:
    """A folder's images as streamed items: each file checked up front (stat, header size,
    a decode that is kept for no longer than the check), decoded again in its item."""
    refs = []
    for f in input_files(path):
        if _decode(f) is None:
            raise InputError(f"--input {shown(f)}: not a readable image (corrupt or unsupported)")
        refs.append(inputs.InputImage(os.fsdecode(f)))
    return tuple(refs)


def _resident(images: list[np.ndarray], what: str) -> None:
    _resident_bytes(sum(int(i.nbytes) for i in images), what)


def _resident_bytes(total: int, what: str) -> None:
    if total > RESIDENT_CEILING:
        raise InputError(
            f"--input: {what} take more than {RESIDENT_CEILING / inputs.GiB:g} GiB decoded, "
            "the memory ceiling for what --grid keeps in memory; use fewer or smaller inputs "
            "(without --grid, images and video frames stream)"
        )


def _source_images(path: str) -> Iterator[np.ndarray]:
    """The images of a folder, the one image, or a video's frames: decoded one at a time, in
    order; InputError naming a file that is not readable."""
    if not Path(path).is_dir() and is_video(path):
        try:
            yield from video_index.frames(os.fsdecode(path))
        except video_index.VideoInputError as exc:
            raise InputError(f"--input {exc}") from None
        return
    for f in input_files(path):
        img = _decode(f)
        if img is None:
            raise InputError(f"--input {shown(f)}: not a readable image (corrupt or unsupported)")
        yield img


@functools.lru_cache(maxsize=2)
def read_inputs(path: str) -> tuple[np.ndarray, ...]:
    """Images of a folder, the one image, or frames of a video, all decoded and kept: only for
    --grid, whose tiles stay in memory (RESIDENT_CEILING). Cached, so the up-front check and
    the run read each file once."""
    images: list[np.ndarray] = []
    for img in _source_images(path):
        images.append(img)
        _resident(images, "the images to cut into tiles")
    if not images:
        raise InputError(f"--input {shown(path)}: not a readable image or video file")
    return tuple(images)


def check_input(path: str, grid: tuple[int, int] | None, specs: list[WorkloadSpec]) -> None:
    """Everything about --input that can fail, before any work (one InputError line)."""
    writes_tiles = any(s.source == "tile-files" for s in specs)
    if Path(path).is_dir() and grid is None:
        input_images(path)  # paths only are kept; threshold-io reads these files themselves
        return
    if grid is not None and _header_sizes(path) is not None:
        _check_tiles(path, grid, writes_tiles)  # from the images' headers: before decoding any
    if grid is not None and is_video(path):  # refuse from the container's count: no decoding
        count, (w, h) = video_index.header(os.fsdecode(path))
        _resident_bytes(count * w * h * 3, f"the {count:,} frames of {w}x{h} to cut into tiles")
    if grid is None and is_video(path):
        if writes_tiles:
            _check_tile_files(path, None, estimate=True)  # the container's count: no decoding
        video_scan(path)  # the real count and the anchors (a frame at a time)
    else:
        read_inputs(path)  # --grid, or one image: decoded and kept (bounded)
    if grid is not None:
        _check_tiles(path, grid, writes_tiles)
    elif writes_tiles:
        _check_tile_files(path, grid)


def _check_tiles(path: str, grid: tuple[int, int], writes_tiles: bool) -> None:
    """--grid: the number of tiles, and for threshold-io their files, within the bounds."""
    sizes = _header_sizes(path) or [img.shape[:2] for img in read_inputs(path)]
    many = bounds.too_many_items(
        len(sizes) * grid[0] * grid[1], f"{len(sizes):,} image(s) cut {grid[0]}x{grid[1]}"
    )
    if many:
        raise InputError(f"--input {shown(path)}: {many}")
    if writes_tiles:
        _check_tile_files(path, grid)


def _check_tile_files(path: str, grid: tuple[int, int] | None, estimate: bool = False) -> None:
    """Refuse, before writing any, tile files that would not fit (workloads/bounds.py)."""
    if grid is None and is_video(path):
        if estimate:
            count, (w, h) = video_index.header(os.fsdecode(path))
        else:
            scan = video_scan(path)
            count, (w, h) = scan.frames, (scan.width, scan.height)
        groups = [(count, (h, w))]
        what = f"the {count:,} frames of {w}x{h}"
    else:
        rows, cols = grid or (1, 1)
        sizes = _header_sizes(path) or [img.shape[:2] for img in read_inputs(path)]
        groups = [(rows * cols, (h // rows, w // cols)) for h, w in sizes]
        what = f"the {sum(g[0] for g in groups):,} tiles"
    problem = bounds.tile_files_problem(
        bounds.tile_files_bytes(groups), what, tempfile.gettempdir()
    )
    if problem:
        raise InputError(f"--input {shown(path)}: {problem}")


def _header_sizes(path: str) -> list[tuple[int, int]] | None:
    """(height, width) of every image from its header, nothing decoded; None if a header
    does not say (the images are decoded instead)."""
    sizes = []
    for f in input_files(path):
        try:
            size = inputs.header_size(inputs.head_of(f, 1 << 16))
        except inputs.InputFileError as exc:
            raise InputError(f"--input {exc}") from None
        if size is None:
            return None
        sizes.append((size[1], size[0]))
    return sizes


def job_items(spec: WorkloadSpec, preset: str, input_path: str | None, grid) -> int:
    """How many items build_job will make (after check_input passed), without making them."""
    if input_path is None:
        size = spec.size(preset)
        if spec.source in ("tiles", "tile-files"):
            return bounds.generated_tiles(size)[0]
        return int(size["frames"])
    if grid is not None:
        images = _header_sizes(input_path) or read_inputs(input_path)
        return len(images) * grid[0] * grid[1]
    if Path(input_path).is_dir():
        return len(input_files(input_path))
    return video_scan(input_path).frames if is_video(input_path) else 1


def parse_grid(text: str) -> tuple[int, int]:
    """'20x20' or '4X3' -> (rows, cols); ValueError naming the bound."""
    rows_s, sep, cols_s = text.strip().lower().partition("x")
    try:
        rows, cols = int(rows_s), int(cols_s)
    except ValueError:
        raise ValueError(f"{text!r} is not a grid (e.g. 20x20)") from None
    if not sep or not (1 <= rows <= MAX_GRID and 1 <= cols <= MAX_GRID):
        raise ValueError(f"{text!r}: rows and columns must be between 1 and {MAX_GRID}")
    return rows, cols


def _generated_images(size: dict) -> list[np.ndarray]:
    base = data.textured_image(int(size["width"]), int(size["height"]), int(size["seed"]))
    flips = [None, 1, 0, -1]  # the image, then its mirrors: new pixels without new generation
    return [base if f is None else cv2.flip(base, f) for f in flips[: int(size.get("images", 1))]]


def _images(spec: WorkloadSpec, size: dict, opts: JobOptions) -> list[Any]:
    """Whole images (the user's, or generated/jittered built-in data), before any grid: the
    user's folder and video as streamed references unless --grid cuts them."""
    if opts.input_path:
        if _grid(spec, size, opts) is None:
            if Path(opts.input_path).is_dir():
                return list(input_images(opts.input_path))  # streamed: decoded in each item
            if is_video(opts.input_path):
                return list(video_scan(opts.input_path).refs())  # streamed, frame-exact
        return list(read_inputs(opts.input_path))
    if spec.source in ("tiles", "tile-files"):
        return _generated_images(size)
    return data.jittered_frames(
        data.astronaut(), int(size["frames"]), int(size["size"]), int(size["seed"])
    )


def _grid(spec: WorkloadSpec, size: dict, opts: JobOptions) -> tuple[int, int] | None:
    """--grid wins; the built-in tile data keeps its TOML grid; the user's images: none."""
    if opts.grid is not None:
        return opts.grid
    if opts.input_path is None and spec.source in ("tiles", "tile-files"):
        g = int(size.get("grid", 20))
        return g, g
    return None


def _tiles(images: list[np.ndarray], grid: tuple[int, int] | None) -> list[np.ndarray]:
    if grid is None:
        return images
    try:
        return [t for img in images for t in data.grid_tiles(img, *grid)]
    except ValueError as exc:
        raise InputError(f"--grid: {exc}") from None


def work_fn(spec: WorkloadSpec, opts: JobOptions) -> WorkFn:
    params = spec.params
    return WorkFn(
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


def _tile_sources(
    spec: WorkloadSpec, size: dict, opts: JobOptions, grid: tuple[int, int] | None
) -> Iterator[np.ndarray]:
    """The tiles threshold-io writes, one source image at a time (a video's frames are never
    all in memory); the disk they take was bounded before (bounds.py)."""
    if opts.input_path:
        _check_tile_files(opts.input_path, grid)
        images: Iterator[np.ndarray] | list[np.ndarray] = _source_images(opts.input_path)
    else:
        images = _generated_images(size)
    for img in images:
        yield from _tiles([img], grid)


def _write_tiles(tiles: Iterator[np.ndarray], folder: Path) -> list[str]:
    paths = []
    for i, tile in enumerate(tiles):
        src = folder / f"tile_{i:06d}.png"
        if not cv2.imwrite(str(src), tile):
            raise InputError(f"cannot write the tile file {src} (disk full?)")
        paths.append(str(src))
    return paths


@contextlib.contextmanager
def build_job(spec: WorkloadSpec, opts: JobOptions) -> Iterator[Job]:
    """Prepare the data (untimed) and yield the Job; temporary files vanish afterwards."""
    size = spec.size(opts.preset)
    fn = work_fn(spec, opts)
    grid = _grid(spec, size, opts)
    # a folder named after this process: removed below, or by the next run if this one is
    # killed (an A/B side is SIGKILLed at the end of its job)
    tmp = str(owned_dir(JOB_DIR_PREFIX))
    try:
        if spec.source == "tile-files":
            out_dir = Path(tmp, "out")
            out_dir.mkdir()
            if opts.input_path and grid is None and Path(opts.input_path).is_dir():
                # the book's example 6 as written: the workers read the user's files themselves
                sources = [str(f) for f in input_files(opts.input_path)]
            else:
                src_dir = Path(tmp, "in")
                src_dir.mkdir()
                sources = _write_tiles(_tile_sources(spec, size, opts, grid), src_dir)
            pairs = tuple((src, str(out_dir / f"out_{i:06d}.png")) for i, src in enumerate(sources))
            yield Job(spec.name, fn, pairs)
            return
        items = tuple(_tiles(_images(spec, size, opts), grid))
        if spec.source != "stream":
            yield Job(spec.name, fn, items)
            return
        fps = float(opts.fps or size.get("fps", 30))
        period_ns = int(1e9 / fps)
        arrivals = tuple(i * period_ns for i in range(len(items)))
        yield Job(spec.name, fn, items, arrivals_ns=arrivals, deadline_ns=period_ns)
    finally:
        video.close_readers()  # this thread's readers of the --input video
        shutil.rmtree(tmp, ignore_errors=True)
