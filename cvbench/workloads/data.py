"""Built-in data: generated, or shipped inside the package; never fetched at run time."""

from __future__ import annotations

from importlib import resources

import cv2
import numpy as np

ASTRONAUT = "astronaut.jpg"  # NASA portrait of Eileen Collins, public domain, via scikit-image


def textured_image(width: int, height: int, seed: int) -> np.ndarray:
    """A seeded BGR image with blobs at several scales and fine grain.

    Adaptive thresholding of a flat image is trivial; this texture gives it edges everywhere.
    Built from low-resolution noise upscaled, so it is fast even at 100+ megapixels.
    """
    rng = np.random.default_rng(seed)
    img = None
    for step, weight in ((64, 0.55), (8, 0.3), (2, 0.15)):
        h, w = max(height // step, 1), max(width // step, 1)
        small = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
        layer = cv2.resize(small, (width, height), interpolation=cv2.INTER_LINEAR)
        img = layer if img is None else cv2.addWeighted(img, 1.0, layer, weight, 0.0)
        if img is layer:
            img = cv2.convertScaleAbs(layer, alpha=0.55)
    return img


def grid_tiles(img: np.ndarray, rows: int, cols: int | None = None) -> list[np.ndarray]:
    """Cut an image into rows x cols tiles (square by default), row by row, as the book's
    examples do."""
    cols = rows if cols is None else cols
    th, tw = img.shape[0] // rows, img.shape[1] // cols
    if th == 0 or tw == 0:
        raise ValueError(
            f"image {img.shape[1]}x{img.shape[0]} is too small for a {rows}x{cols} grid"
        )
    return [
        np.ascontiguousarray(img[r * th : (r + 1) * th, c * tw : (c + 1) * tw])
        for r in range(rows)
        for c in range(cols)
    ]


def astronaut() -> np.ndarray:
    """The shipped face photograph (512 x 512 BGR)."""
    data = resources.files("cvbench.workloads.builtin").joinpath(ASTRONAUT).read_bytes()
    img = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    if img is None:
        raise RuntimeError(f"the shipped {ASTRONAUT} is unreadable: reinstall cvbench")
    return img


def jittered_frames(base: np.ndarray, count: int, size: int, seed: int) -> list[np.ndarray]:
    """Frames of one photo, shifted, scaled and brightened at random (seeded).

    Jitter stays within ranges where the Haar cascade still finds the face, so the frames
    differ (no model can cache) but the detection rate stays near 100 %.
    """
    rng = np.random.default_rng(seed)
    h, w = base.shape[:2]
    frames = []
    for _ in range(count):
        scale = rng.uniform(0.9, 1.1)
        dx, dy = rng.uniform(-0.06, 0.06, 2) * (w, h)
        m = cv2.getRotationMatrix2D((w / 2, h / 2), 0.0, scale)
        m[:, 2] += (dx, dy)
        moved = cv2.warpAffine(base, m, (w, h), borderMode=cv2.BORDER_REFLECT)
        bright = cv2.convertScaleAbs(moved, alpha=1.0, beta=float(rng.uniform(-30, 30)))
        frames.append(cv2.resize(bright, (size, size), interpolation=cv2.INTER_AREA))
    return frames
