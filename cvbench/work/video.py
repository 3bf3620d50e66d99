"""Frames of the user's --input video, streamed: an item is (file, frame index), decoded inside
the item by whichever worker runs it, so that memory holds about one frame per worker instead
of the whole video (an hour of 1080p is 108,000 frames of 6 MB).

Frame-exact, whatever the codec. A frame's index is its position in a plain sequential read
from the start of the file (what the up-front scan in workloads/video_index.py counts). Seeking
in compressed video may land elsewhere (OpenCV's FFmpeg seek goes to a key frame and counts
frames by timestamp: variable frame rates and odd timestamps break that), so a worker never
trusts a seek blindly: every SEGMENT-th frame is an anchor whose fingerprint the scan recorded,
a seek goes to the anchor before the wanted frame, and the frame it lands on must match that
fingerprint; from there the worker reads forward, which is exact by construction. A seek that
does not match turns seeking off for that reader (it then reopens the file and reads forward
from the start when it has to go back), so a wrong frame is never used.

Each thread keeps one reader per file (a worker that gets frames in order, as pool chunks and
inline loops hand them out, decodes each frame once and never seeks); a reader reads forward
over small gaps and seeks over large ones or backwards. FFmpeg decodes on one thread here:
a worker is one core, as --cv-threads 1 makes it for the op.
"""

from __future__ import annotations

import hashlib
import os
import threading
from dataclasses import dataclass

import cv2
import numpy as np

SEGMENT = 16  # frames per anchor: a jump costs at most this many extra decodes (plus the seek)
SEEK_COST = 32  # about what OpenCV's seek decodes (it lands 16+ frames early, then reads on)


class VideoError(OSError):
    """A frame that cannot be read (the file changed or is damaged); fails the item."""


def shown(path: str) -> str:
    return os.fsencode(path).decode("utf-8", "backslashreplace")


def open_video(path: str) -> cv2.VideoCapture:
    """The file through OpenCV's FFmpeg backend, decoding on one thread (the same reader for
    the scan and every worker, so that both count the same frames)."""
    cap = cv2.VideoCapture(path, cv2.CAP_FFMPEG, [cv2.CAP_PROP_N_THREADS, 1])
    if not cap.isOpened():
        cap.release()
        raise VideoError(f"{shown(path)}: not a readable video file")
    return cap


def fingerprint(frame: np.ndarray) -> str:
    """Identity of a decoded frame (its shape and every byte): tells an exact seek from one
    that landed on a neighbour. SHA-1 because it is the fastest full-frame hash here (~3 ms for
    1080p), used for identity, not security."""
    h = hashlib.sha1(usedforsecurity=False)
    h.update(f"{frame.shape}{frame.dtype}".encode())
    h.update(np.ascontiguousarray(frame).data)
    return h.hexdigest()[:24]


@dataclass(frozen=True, slots=True)
class VideoFrame:
    """One frame of an --input video as an item: decoded in the item, by the worker."""

    path: str
    index: int
    anchor: int  # the anchor frame at or before index (index - index % SEGMENT)
    anchor_fp: str  # its fingerprint, from the up-front scan

    def load(self) -> np.ndarray:
        return _reader(self.path).frame(self)


class FrameReader:
    """One open video and where it stands: ``next`` is the index the next read returns. Used
    by the thread that made it only (OpenCV's capture is not thread-safe)."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.cap: cv2.VideoCapture | None = None
        self.next = 0
        self.seekable = True
        self.owner = threading.current_thread()

    def frame(self, ref: VideoFrame) -> np.ndarray:
        i = ref.index
        far = self.seekable and i - self.next > (i - ref.anchor) + SEEK_COST
        if self.cap is None or i < self.next or far:
            landed = self._go_to_anchor(ref)
            if landed is not None and i == ref.anchor:
                return landed
        cap = self.cap
        assert cap is not None
        while self.next < i:
            if not cap.grab():
                raise self._gone(i)
            self.next += 1
        ok, frame = cap.read()
        if not ok or frame is None:
            raise self._gone(i)
        self.next += 1
        return frame

    def _go_to_anchor(self, ref: VideoFrame) -> np.ndarray | None:
        """Stand just after ref.anchor with its (verified) frame, or at the start (None)."""
        if ref.anchor > 0 and self.seekable:
            cap = self._open()
            cap.set(cv2.CAP_PROP_POS_FRAMES, ref.anchor)
            ok, frame = cap.read()
            if ok and frame is not None and fingerprint(frame) == ref.anchor_fp:
                self.next = ref.anchor + 1
                return frame
            self.seekable = False  # this file's seeks are not frame-exact: read forward only
        self.close()
        self._open()
        return None

    def _open(self) -> cv2.VideoCapture:
        if self.cap is None:
            self.cap, self.next = open_video(self.path), 0
            with _open_lock:
                _open.add(self)
        return self.cap

    def _gone(self, index: int) -> VideoError:
        self.close()
        return VideoError(f"{shown(self.path)}: frame {index} cannot be read (changed or damaged?)")

    def close(self) -> None:
        if self.cap is not None:
            self.cap.release()
            self.cap = None
        with _open_lock:
            _open.discard(self)


_local = threading.local()
_open: set[FrameReader] = set()  # readers holding a file open, in any thread of this process
_open_lock = threading.Lock()


def _reader(path: str) -> FrameReader:
    readers: dict[str, FrameReader] | None = getattr(_local, "readers", None)
    if readers is None:
        readers = _local.readers = {}
    reader = readers.get(path)
    if reader is None:
        reader = readers[path] = FrameReader(path)
    return reader


def close_readers() -> None:
    """The job is over: release the files this thread and threads that have ended hold open
    (a live thread's reader is its own to use; it goes with the thread). A thread that gets
    another frame later simply reopens the file."""
    me = threading.current_thread()
    with _open_lock:
        mine = [r for r in _open if r.owner is me or not r.owner.is_alive()]
    for reader in mine:
        reader.close()
