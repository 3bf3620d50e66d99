"""The user's --input images, streamed: an item is a reference to its file, decoded inside
the item by whichever worker runs it (as a real pipeline reads its photos), so that memory
holds about one image per worker instead of the whole folder.

Memory ceiling: one decoded image may take at most IMAGE_CEILING bytes (its size is read from
the file's header, never by decoding it), and an image file at most FILE_CEILING bytes (by
stat, before reading). A video is never read whole (work/video.py streams its frames), so its
file has no size ceiling. What must stay resident (tiles of --grid) is bounded by
RESIDENT_CEILING in workloads/sources.py.
"""

from __future__ import annotations

import os
import stat
import struct
from dataclasses import dataclass

import cv2
import numpy as np

GiB = 1 << 30
IMAGE_CEILING = 1 * GiB  # decoded bytes of one image (BGR): ~358 megapixels
FILE_CEILING = 1 * GiB  # bytes of one input file


class InputFileError(ValueError):
    """An input file that cannot be used; the message names it."""


def shown(path: str | os.PathLike) -> str:
    return os.fsencode(path).decode("utf-8", "backslashreplace")


def check_regular(path: str | os.PathLike, limit: int | None = FILE_CEILING) -> int:
    """Its size by stat; a FIFO, device or socket is refused (reading one blocks or never
    ends), and so is a file above ``limit`` (None: a video, streamed, has none)."""
    try:
        st = os.stat(path)
    except OSError as exc:
        raise InputFileError(f"{shown(path)}: cannot read ({exc.strerror or exc})") from None
    if not stat.S_ISREG(st.st_mode):
        raise InputFileError(f"{shown(path)}: not a regular file (a FIFO, device or socket)")
    if limit is not None and st.st_size > limit:
        raise InputFileError(
            f"{shown(path)}: {st.st_size / GiB:.1f} GiB, above the {limit / GiB:g} GiB "
            "limit for one image file"
        )
    return st.st_size


# First bytes of the formats cv2.imdecode reads (the rest of a file is a video, or nothing)
_IMAGE_MAGIC = (
    b"\x89PNG", b"\xff\xd8", b"BM", b"GIF87a", b"GIF89a", b"II*\x00", b"MM\x00*",
    b"\x59\xa6\x6a\x95", b"#?RADIANCE", b"#?RGBE", b"\x76\x2f\x31\x01", b"\xff\x4f\xff\x51",
    b"\x00\x00\x00\x0cjP  ", b"PF", b"Pf",
)  # fmt: skip


def is_image_header(head: bytes) -> bool:
    """The file starts as an image does (PNG, JPEG, BMP, GIF, TIFF, WebP, PNM, JPEG 2000,
    Sun raster, Radiance, EXR, AVIF); anything else given as --input is tried as a video."""
    if head.startswith(_IMAGE_MAGIC):
        return True
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return True
    if head[4:8] == b"ftyp" and head[8:12] in (b"avif", b"avis"):
        return True
    return len(head) > 2 and head[:1] == b"P" and head[1:2] in b"1234567" and head[2:3].isspace()


def head_of(path: str | os.PathLike, size: int = 64) -> bytes:
    """The first bytes of a regular file (checked first: a FIFO would block)."""
    check_regular(path, None)
    try:
        with open(path, "rb") as fh:
            return fh.read(size)
    except OSError as exc:
        raise InputFileError(f"{shown(path)}: cannot read ({exc.strerror or exc})") from None


def header_size(head: bytes) -> tuple[int, int] | None:
    """(width, height) from a PNG, JPEG, BMP or GIF header; None if unknown."""
    if head[:8] == b"\x89PNG\r\n\x1a\n" and len(head) >= 24:
        w, h = struct.unpack(">II", head[16:24])
        return w, h
    if head[:2] == b"BM" and len(head) >= 26:
        w, h = struct.unpack("<ii", head[18:26])
        return abs(w), abs(h)
    if head[:4] in (b"GIF8",) and len(head) >= 10:
        return struct.unpack("<HH", head[6:10])
    if head[:2] == b"\xff\xd8":
        i = 2
        while i + 9 < len(head):
            if head[i] != 0xFF:
                i += 1
                continue
            marker = head[i + 1]
            if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7:
                i += 2
                continue
            (length,) = struct.unpack(">H", head[i + 2 : i + 4])
            if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
                h, w = struct.unpack(">HH", head[i + 5 : i + 9])
                return w, h
            i += 2 + length
    return None


def check_dimensions(path: str | os.PathLike, head: bytes) -> None:
    size = header_size(head)
    if size is None:
        return
    w, h = size
    if w * h * 3 > IMAGE_CEILING:
        raise InputFileError(
            f"{shown(path)}: {w}x{h} decodes to {w * h * 3 / GiB:.1f} GiB, above the "
            f"{IMAGE_CEILING / GiB:g} GiB memory ceiling for one image (not decoded)"
        )


def complete(name: str, data: bytes) -> bool:
    """False for a JPEG or PNG cut short: OpenCV decodes those with grey filler, silently."""
    lower = name.lower()
    if lower.endswith((".jpg", ".jpeg")):
        return data.rstrip(b"\0\r\n ").endswith(b"\xff\xd9")
    if lower.endswith(".png"):
        return b"IEND" in data[-16:]
    return True


def read_checked(path: str | os.PathLike) -> bytes:
    """The file's bytes, after the stat and header checks (nothing big is read first)."""
    check_regular(path)
    try:
        with open(path, "rb") as fh:
            head = fh.read(1 << 16)
            check_dimensions(path, head)
            return head + fh.read(FILE_CEILING + 1 - len(head))
    except OSError as exc:
        raise InputFileError(f"{shown(path)}: cannot read ({exc.strerror or exc})") from None


def decode(path: str | os.PathLike) -> np.ndarray | None:
    """The decoded BGR image, or None if the bytes are not an image OpenCV reads."""
    raw = read_checked(path)
    img = cv2.imdecode(np.frombuffer(raw, np.uint8), cv2.IMREAD_COLOR) if raw else None
    if img is not None and not complete(os.path.basename(os.fsdecode(path)), raw):
        raise InputFileError(f"{shown(path)}: truncated image (cut short)")
    return img


@dataclass(frozen=True, slots=True)
class InputImage:
    """One --input image as an item: its path; decoded in the item, by the worker."""

    path: str

    def load(self) -> np.ndarray:
        img = decode(self.path)
        if img is None:
            raise OSError(f"cannot read image {shown(self.path)}")
        return img
