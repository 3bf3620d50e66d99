"""A child of cvbench that fails only because its parent went away says nothing.

After a Ctrl-C, a SIGTERM or a kill, the parent closes its pools (or dies) while a worker may
still be starting or answering: the worker's next read of the pipe ends (EOFError), its next
write breaks (BrokenPipeError), the semaphore it unpickles was already unlinked by the parent
(FileNotFoundError from SemLock._rebuild). Each printed a traceback into the user's terminal
after cvbench's own last line, about a death cvbench had already handled (the row, or the
interrupted run, says what happened). A failure for any other reason (an op that cannot be
imported in the worker, a bug) is still printed in full.

Three ways in. The fork server imports this module (it is in its preload list, see
runner.py), which sets ``sys.excepthook`` there, and every worker it forks inherits it
(multiprocessing's fork server reports a child's start-up failure through sys.excepthook).
A process target's exception is printed by multiprocessing itself ("Process X:" and the
traceback, written while the exception is being handled), so the fork server's children also
get a ``sys.stderr`` that drops what is written while such a parent-gone exception is being
handled: this covers pools whose worker code is not ours (trio-parallel's). Our own worker
bodies are wrapped in :func:`quiet_when_orphaned`. Stdlib only: light enough to preload.
"""

from __future__ import annotations

import functools
import os
import sys
import traceback
from collections.abc import Callable
from types import TracebackType
from typing import Any, TypeVar, cast

from cvbench.work.lifeline import main_pid

F = TypeVar("F", bound=Callable[..., Any])

#: what a read or write to a parent that is gone raises (and a Ctrl-C before SIGINT is ignored)
PARENT_GONE = (EOFError, BrokenPipeError, ConnectionResetError, ConnectionAbortedError,
               KeyboardInterrupt)  # fmt: skip
#: modules whose FileNotFoundError means "the parent already unlinked it"
UNLINKED_BY_PARENT = ("synchronize.py", "shared_memory.py", "resource_sharer.py")


def parent_went_away(exc: BaseException) -> bool:
    """True for the failures that only say that the parent is gone or closing."""
    if isinstance(exc, PARENT_GONE):
        return True
    if isinstance(exc, OSError) and "end of file" in str(exc):  # multiprocessing.connection
        return True
    if isinstance(exc, FileNotFoundError):
        frames = traceback.extract_tb(exc.__traceback__)
        return bool(frames) and os.path.basename(frames[-1].filename) in UNLINKED_BY_PARENT
    return False


def _hook(kind: type[BaseException], exc: BaseException, tb: TracebackType | None) -> None:
    if not parent_went_away(exc):
        sys.__excepthook__(kind, exc, tb)


class _OrphanQuietStderr:
    """sys.stderr, except what is written while a parent-gone exception is being handled."""

    def __init__(self, stream: Any) -> None:
        self._stream = stream

    def write(self, text: str) -> int:
        exc = sys.exc_info()[1]
        if exc is not None and parent_went_away(exc):
            return len(text)
        return self._stream.write(text)

    def __getattr__(self, name: str) -> Any:  # flush, fileno, encoding, ...
        return getattr(self._stream, name)


def quiet_when_orphaned(body: F) -> F:
    """A worker body that ends without a word (exit code 1) when the parent went away."""

    @functools.wraps(body)
    def run(*args: Any, **kwargs: Any) -> Any:
        try:
            return body(*args, **kwargs)
        except BaseException as exc:
            if parent_went_away(exc):
                os._exit(1)  # nothing to say, and nobody to say it to
            raise

    return cast(F, run)


def install() -> bool:
    """Quiet the excepthook of this process if it is a child of a cvbench run (never the
    benchmark's own process: an API caller's excepthook is theirs)."""
    pid = main_pid()
    if pid is None or pid == os.getpid():
        return False
    sys.excepthook = _hook
    if sys.stderr is not None and not isinstance(sys.stderr, _OrphanQuietStderr):
        sys.stderr = _OrphanQuietStderr(sys.stderr)
    return True


install()
