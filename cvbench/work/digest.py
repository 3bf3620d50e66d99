"""Digests that prove every model did the same work: per item over the output's content, and
one per run over the item digests in item order. No cv2 here, so results readers stay light."""

from __future__ import annotations

import hashlib

import numpy as np


def digest_array(arr: np.ndarray) -> str:
    """Content digest of an array, shape and dtype included."""
    h = hashlib.blake2b(digest_size=12)
    h.update(f"{arr.shape}{arr.dtype}".encode())
    h.update(np.ascontiguousarray(arr).data)
    return h.hexdigest()


def combine_digests(digests: list[str]) -> str:
    """One digest for a whole run, over the item digests in item order."""
    h = hashlib.blake2b(digest_size=12)
    for d in digests:
        h.update(d.encode())
    return h.hexdigest()
