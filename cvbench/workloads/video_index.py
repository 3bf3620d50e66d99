"""The up-front look at an --input video, before any work: how many frames it really has, how
big one is, and the anchors that let workers seek exactly (work/video.py).

One sequential pass, a frame at a time, so memory holds one frame whatever the length: frame
counts in containers are estimates, and only a full read gives the count every model must
agree on. Every SEGMENT-th frame is fingerprinted (an anchor). The frame size is checked from
the container's header before anything is decoded, against the one-image ceiling.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from dataclasses import dataclass

import cv2
import numpy as np

from cvbench.work import inputs
from cvbench.work.video import SEGMENT, VideoError, VideoFrame, fingerprint, open_video, shown
from cvbench.workloads import bounds

MAX_VIDEO_FRAMES = bounds.MAX_ITEMS  # 1 h 50 min at 30 fps; a longer video: one line, cut it


class VideoInputError(ValueError):
    """The video cannot be used as --input; the message names the file."""


@dataclass(frozen=True)
class VideoIndex:
    path: str
    frames: int
    width: int
    height: int
    anchors: tuple[str, ...]  # fingerprint of frame k * SEGMENT

    @property
    def frame_bytes(self) -> int:
        return self.width * self.height * 3

    def refs(self) -> tuple[VideoFrame, ...]:
        """One item per frame, in order."""
        return tuple(
            VideoFrame(self.path, i, i - i % SEGMENT, self.anchors[i // SEGMENT])
            for i in range(self.frames)
        )


def _capture(path: str) -> tuple[cv2.VideoCapture, int, int]:
    """The opened video and its frame size from the header, checked before decoding."""
    try:
        path.encode("utf-8")
    except UnicodeEncodeError:
        raise VideoInputError(
            f"{shown(path)}: a video path must be UTF-8 for OpenCV's reader; rename it"
        ) from None
    try:
        cap = open_video(path)
    except VideoError:
        raise VideoInputError(f"{shown(path)}: not a readable image or video file") from None
    width, height = int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)), int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT))
    if width * height * 3 > inputs.IMAGE_CEILING:
        cap.release()
        raise VideoInputError(
            f"{shown(path)}: frames of {width}x{height} decode to "
            f"{width * height * 3 / inputs.GiB:.1f} GiB each, above the "
            f"{inputs.IMAGE_CEILING / inputs.GiB:g} GiB memory ceiling for one image"
        )
    return cap, width, height


def header(path: str) -> tuple[int, tuple[int, int]]:
    """(frames, (width, height)) as the container says, nothing decoded: the count is an
    estimate, good for refusing early what the real count would refuse later."""
    cap, width, height = _capture(path)
    try:
        return max(int(cap.get(cv2.CAP_PROP_FRAME_COUNT)), 0), (width, height)
    finally:
        cap.release()


@functools.lru_cache(maxsize=2)
def scan(path: str) -> VideoIndex:
    """Count the frames, fingerprint the anchors; VideoInputError naming the file."""
    cap, width, height = _capture(path)
    anchors: list[str] = []
    count = 0
    try:
        while True:
            if count % SEGMENT == 0:
                ok, frame = cap.read()
                if not ok or frame is None:
                    break
                if frame.nbytes > inputs.IMAGE_CEILING:  # the header said less: trust pixels
                    raise VideoInputError(
                        f"{shown(path)}: frame {count} decodes to more than the "
                        f"{inputs.IMAGE_CEILING / inputs.GiB:g} GiB memory ceiling for one image"
                    )
                width, height = max(width, frame.shape[1]), max(height, frame.shape[0])
                anchors.append(fingerprint(frame))
            elif not cap.grab():
                break
            count += 1
            if count > MAX_VIDEO_FRAMES:
                raise VideoInputError(
                    f"{shown(path)}: more than {MAX_VIDEO_FRAMES:,} frames, the most a run keeps "
                    "records of; cut the video (e.g. ffmpeg -t)"
                )
    finally:
        cap.release()
    if count == 0:
        raise VideoInputError(f"{shown(path)}: not a readable image or video file")
    return VideoIndex(path, count, width, height, tuple(anchors))


def frames(path: str) -> Iterator[np.ndarray]:
    """The frames in order, one at a time (for what must be written or kept: tiles)."""
    cap, _, _ = _capture(path)
    try:
        while True:
            ok, frame = cap.read()
            if not ok or frame is None:
                return
            yield frame
    finally:
        cap.release()
