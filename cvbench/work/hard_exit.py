"""The last way out of a process whose main thread cannot be got back: os._exit, after the
clean-up a normal exit would have done.

A thread stuck in a C call that never returns (a deadlock inside a library, a wait that
retries on every signal) cannot be interrupted, and the interpreter would wait for it at exit
for ever; when that thread is the main thread, no Python code runs there again at all. The
watchdog's thread then writes what was measured and ends the process here. os._exit runs no
finalizer, so what the run owns is removed first: the temp folders named after this process
(work/temp_dirs.py: the job's tiles, dask's scratch space, multiprocessing's folder), the
processes the op started (work/strays.py); children cvbench started die with it through
their lifeline, shared-memory blocks through the resource tracker.

Only a process that cvbench owns is ended this way: the CLI's (``cli.main`` sets OWNER). An
API caller's process is never ended by cvbench; its thread stays where the op left it.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sys
import threading
from collections.abc import Callable, Iterator
from typing import NoReturn

#: True when this process is cvbench's own (the console script), False for an API caller
OWNER = False

_CLEANUPS: list[Callable[[], None]] = []
_LOCK = threading.Lock()


@contextlib.contextmanager
def cleanup_on_hard_exit(fn: Callable[[], None]) -> Iterator[None]:
    """Run ``fn`` before a hard exit that happens while the block lasts."""
    with _LOCK:
        _CLEANUPS.append(fn)
    try:
        yield
    finally:
        with _LOCK, contextlib.suppress(ValueError):
            _CLEANUPS.remove(fn)


def clean_up(process_wide: bool = True) -> None:
    """What a normal exit would have removed: the registered clean-ups (last first), this
    process's temp folders and, when the process ends (``process_wide``), multiprocessing's
    (its fork server's socket: a process that lives on still needs it)."""
    with _LOCK:
        todo = list(reversed(_CLEANUPS))
    for fn in todo:
        with contextlib.suppress(Exception):
            fn()
    from multiprocessing import process

    from cvbench.work.temp_dirs import remove_owned

    remove_owned()
    tempdir = process.current_process()._config.get("tempdir")
    if process_wide and tempdir:
        shutil.rmtree(tempdir, ignore_errors=True)


def hard_exit(status: int) -> NoReturn:
    """Flush, clean up, and end the process now with ``status``."""
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):  # a closed stdout: nothing more to say
            stream.flush()
    clean_up()
    os._exit(status)
