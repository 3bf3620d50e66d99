"""User functions as workloads: ``op = "package.module:function"``.

The function takes one image (a BGR numpy array, as cv2 reads it) and returns an array, a
sequence of numbers or boxes, or a number. Workers import it by name (so it must be
importable where they run: the current directory and --pythonpath are put on the path), and
cvbench digests what it returns, so that every model is proved to have done the same work.
"""

from __future__ import annotations

import contextlib
import importlib
import inspect
import os
import sys
import traceback
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np

from cvbench.work.user_digest import UndigestableOutput, digest_output

_resolved: dict[str, Callable[[np.ndarray], Any]] = {}
MAX_TRACE_CHARS = 8000  # per failure, in the JSON


class UserOpError(ValueError):
    """The named function cannot be used; the message is one line naming it."""


class ItemError(RuntimeError):
    """A user function raised on one item: the row fails with the index and the summary; the
    user's traceback travels with it (also from a worker process) for the JSON only."""

    def __init__(self, message: str, trace: str = "") -> None:
        super().__init__(message, trace)
        self.message, self.trace = message, trace

    def __str__(self) -> str:
        return self.message


def is_user_op(op: str) -> bool:
    return ":" in op


def search_paths(paths: Sequence[str]) -> tuple[str, ...]:
    """The current directory and the given folders, absolute: where the op is imported from
    (resolved once, so an op that changes directory cannot move them)."""
    return tuple(dict.fromkeys([os.getcwd(), *(os.path.abspath(p) for p in paths)]))


@contextlib.contextmanager
def import_paths(paths: Sequence[str]) -> Iterator[None]:
    """Put ``paths`` first on sys.path *and* PYTHONPATH while a run validates or runs, so that
    process workers (forkserver, spawn, dask) import the user's module the same way; both are
    restored afterwards, so an API caller's interpreter is left as it was found."""
    saved_path, saved_env = list(sys.path), os.environ.get("PYTHONPATH")
    sys.path[:0] = [p for p in paths if p not in sys.path]
    current = [p for p in (saved_env or "").split(os.pathsep) if p]
    os.environ["PYTHONPATH"] = os.pathsep.join(dict.fromkeys([*paths, *current]))
    try:
        yield
    finally:
        sys.path[:] = saved_path
        if saved_env is None:
            os.environ.pop("PYTHONPATH", None)
        else:
            os.environ["PYTHONPATH"] = saved_env


def resolve(op: str) -> Callable[[np.ndarray], Any]:
    """The function named ``module:function``; UserOpError (one line) if it cannot be used."""
    fn = _resolved.get(op)
    if fn is not None:
        return fn
    module_name, _, attr = op.partition(":")
    if not module_name or not attr:
        raise UserOpError(f"op {op!r}: expected package.module:function")
    try:
        module = importlib.import_module(module_name)
    except Exception as exc:  # noqa: BLE001 - whatever the import raised, one line
        raise UserOpError(
            f"op {op!r}: cannot import {module_name}: {type(exc).__name__}: {_first(exc)}"
        ) from None
    except SystemExit as exc:  # the module's own sys.exit() at import is not our exit code
        raise UserOpError(
            f"op {op!r}: importing {module_name} called sys.exit({exc.code!r})"
        ) from None
    target: Any = module
    for part in attr.split("."):
        target = getattr(target, part, None)
        if target is None:
            raise UserOpError(f"op {op!r}: {module_name} has no {attr!r}")
    if not callable(target):
        raise UserOpError(f"op {op!r}: {attr} is a {type(target).__name__}, not a function")
    try:
        inspect.signature(target).bind(np.zeros((1, 1, 3), np.uint8))
    except TypeError as exc:
        raise UserOpError(f"op {op!r}: must take one image argument ({exc})") from None
    except ValueError:
        pass  # builtins without a signature: trust them
    _resolved[op] = target
    return target


def _first(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0][:200] if text else ""


def digest_result(value: Any) -> tuple[str, int]:
    """(digest, detail) of what a user function returned (work/user_digest.py); detail is
    its length or -1. UndigestableOutput for a generator, an object, a function."""
    return digest_output(value)


def call(op: str, index: int, image: np.ndarray) -> tuple[str, int]:
    """Run the user function on one item; its exception becomes an ItemError naming the item."""
    fn = resolve(op)
    try:
        result = fn(image)
    except Exception as exc:  # noqa: BLE001 - the user's code: any exception fails the row
        user_frames = exc.__traceback__.tb_next if exc.__traceback__ else None  # not call()'s
        trace = "".join(traceback.format_exception(type(exc), exc, user_frames))
        raise ItemError(
            f"item {index}: {type(exc).__name__}: {_first(exc)}", trace[-MAX_TRACE_CHARS:]
        ) from None
    except SystemExit as exc:  # sys.exit() in the op fails its row, not cvbench's exit code
        raise ItemError(f"item {index}: the op called sys.exit({exc.code!r})") from None
    try:
        return digest_result(result)
    except UndigestableOutput as exc:
        raise ItemError(f"item {index}: {exc}") from None
