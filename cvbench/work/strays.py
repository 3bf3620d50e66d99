"""Processes the user's op started and left behind. An op that forks (a helper binary, a
subprocess it forgets) leaves children; when their parent (a pool worker) exits, Linux hands
them to init and they outlive the benchmark (round two: 13 processes reparented to init after
one run). The main process declares itself a child subreaper for the run, so such orphans come
to it instead, and at the end of the run every descendant that did not exist before the run,
other than multiprocessing's own fork server and resource tracker (they serve later runs of
an API caller), is killed and reaped."""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
from collections.abc import Iterator

import psutil

PR_SET_CHILD_SUBREAPER = 36
PR_GET_CHILD_SUBREAPER = 37


def _prctl(option: int, value: int) -> bool:
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(option, value, 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


def _was_subreaper() -> bool:
    flag = ctypes.c_int(0)
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_GET_CHILD_SUBREAPER, ctypes.byref(flag), 0, 0, 0)
    except (OSError, AttributeError):
        return False
    return bool(flag.value)


def _helpers() -> set[int]:
    """multiprocessing's fork server and resource tracker: ours for the process's lifetime."""
    pids: set[int] = set()
    with contextlib.suppress(ImportError, AttributeError):
        from multiprocessing import forkserver, resource_tracker

        for pid in (
            getattr(forkserver._forkserver, "_forkserver_pid", None),
            getattr(resource_tracker._resource_tracker, "_pid", None),
        ):
            if pid:
                pids.add(pid)
    return pids


def _descendants() -> set[int]:
    try:
        return {p.pid for p in psutil.Process().children(recursive=True)}
    except psutil.Error:
        return set()


def kill_new(before: set[int]) -> list[int]:
    """Kill (SIGCONT then SIGKILL) and reap every descendant not in ``before`` and not a
    multiprocessing helper; the pids killed."""
    helpers = _helpers()
    stray = sorted(_descendants() - before - helpers)
    for pid in stray:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGCONT)
            os.kill(pid, signal.SIGKILL)
    for pid in stray:
        with contextlib.suppress(ChildProcessError, OSError):
            os.waitpid(pid, 0)  # ours (a direct or adopted child): no zombie either
    return stray


@contextlib.contextmanager
def no_strays() -> Iterator[list[int]]:
    """For the length of a run: adopt orphans, and end what the run left behind. Yields the
    list the killed pids are appended to (the run reports how many)."""
    from cvbench.work.hard_exit import cleanup_on_hard_exit

    before = _descendants()
    adopted = not _was_subreaper() and _prctl(PR_SET_CHILD_SUBREAPER, 1)
    killed: list[int] = []
    try:
        with cleanup_on_hard_exit(lambda: kill_new(before)):  # past an os._exit too
            yield killed
    finally:
        killed += kill_new(before)
        if adopted:
            _prctl(PR_SET_CHILD_SUBREAPER, 0)
