"""The digest of what a user's function returned: a value, never an object's identity.

Digests prove that every model did the same work, so two digests must be equal exactly when
the outputs are. ``repr`` does not give that: a generator or ``object()`` reprs as its address
(equal in two threads that reuse it, different in two processes: the run "agrees" or fails at
random), a set of strings changes order between processes, a large array's repr is cut with
"...". So the output is encoded canonically: arrays by their bytes, numbers, text, None, and
lists, tuples, dicts and sets of those (dict keys and set members sorted by their encoding).
Anything else (a generator, an iterator, a function, an arbitrary object) has no value to
digest and fails the item with one line naming its type.
"""

from __future__ import annotations

import hashlib
import numbers
from collections.abc import Mapping, Sequence, Set
from typing import Any

import numpy as np

from cvbench.work.digest import digest_array

MAX_DEPTH = 64  # nesting of lists and dicts (a list that contains itself never ends)
ACCEPTED = "arrays, numbers, text, None, or lists/tuples/dicts/sets of those"


class UndigestableOutput(TypeError):
    """The op returned something without a value to compare; the message says what."""


def digest_output(value: Any) -> tuple[str, int]:
    """(digest, detail): detail is the length of a returned sequence, else -1."""
    if isinstance(value, np.ndarray) and value.dtype != object:
        return digest_array(value), -1
    if _is_sequence(value):
        try:  # boxes and numbers: as round two digested them (same digests as before)
            arr = np.asarray(value, dtype=np.float64)
        except (TypeError, ValueError):
            pass
        else:
            return digest_array(arr), len(value)
    h = hashlib.blake2b(digest_size=12)
    _encode(value, h, 0)
    return h.hexdigest(), len(value) if _is_sequence(value) else -1


def _is_sequence(value: Any) -> bool:
    return isinstance(value, Sequence) and not isinstance(value, str | bytes | bytearray)


def _encode(value: Any, h: Any, depth: int) -> None:
    if depth > MAX_DEPTH:
        raise UndigestableOutput(f"output nested more than {MAX_DEPTH} levels deep")
    if value is None:
        h.update(b"N")
    elif isinstance(value, bool | np.bool_):
        h.update(b"T" if value else b"F")
    elif isinstance(value, numbers.Integral):
        h.update(b"I%d;" % int(value))
    elif isinstance(value, numbers.Real):
        h.update(b"R" + repr(float(value)).encode() + b";")
    elif isinstance(value, numbers.Complex):
        h.update(b"C" + repr(complex(value)).encode() + b";")
    elif isinstance(value, str):
        data = value.encode("utf-8", "surrogatepass")
        h.update(b"S%d:" % len(data) + data)
    elif isinstance(value, bytes | bytearray | memoryview):
        data = bytes(value)
        h.update(b"B%d:" % len(data) + data)
    elif isinstance(value, np.ndarray):
        if value.dtype == object:
            h.update(b"O" + repr(value.shape).encode())
            for x in value.ravel():
                _encode(x, h, depth + 1)
        else:
            h.update(b"A" + digest_array(value).encode())
    elif _is_sequence(value):
        h.update(b"L%d:" % len(value))
        for x in value:
            _encode(x, h, depth + 1)
    elif isinstance(value, Mapping):
        h.update(b"D%d:" % len(value))
        for k, v in sorted(((_sub(k, depth), _sub(v, depth)) for k, v in value.items())):
            h.update(k + v)
    elif isinstance(value, Set):
        h.update(b"E%d:" % len(value))
        for member in sorted(_sub(x, depth) for x in value):
            h.update(member)
    else:
        raise UndigestableOutput(
            f"the op returned {_kind(value)}, which has no value to digest and compare "
            f"between models; return {ACCEPTED}"
        )


def _sub(value: Any, depth: int) -> bytes:
    """The encoding of a member, as bytes (dict entries and set members are sorted by it)."""
    h = hashlib.blake2b(digest_size=16)
    _encode(value, h, depth + 1)
    return h.digest()


def _kind(value: Any) -> str:
    name = type(value).__name__
    article = "an" if name[:1].lower() in "aeiou" else "a"
    return f"{article} {name}" if type(value).__module__ == "builtins" else f"a {name} object"
