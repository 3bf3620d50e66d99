"""What the pools that start their own worker processes (kernel-proc's, processes+zerocopy's)
share: the one fork server's preload list, the words for how a worker ended, and a kill that
does not mind a worker that is already gone. Stdlib only."""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import signal
import threading
from collections.abc import Callable, Iterator

CONTEXT = multiprocessing.get_context("forkserver")


def ensure_preloaded(module: str) -> None:
    """Add ``module`` to the fork server's preload list without dropping what the other models
    put there: there is one fork server per parent. No effect once the server runs; the
    workers then import it themselves (a slower start-up, the same result)."""
    from multiprocessing import forkserver

    with contextlib.suppress(AttributeError):
        current = list(getattr(forkserver._forkserver, "_preload_modules", []))
        if module not in current:
            CONTEXT.set_forkserver_preload([*current, module])


def how_it_ended(exitcode: int | None) -> str:
    """'was killed by signal SIGKILL', 'exited with code 3', or 'stopped answering'."""
    if exitcode is None:
        return "stopped answering"
    if exitcode < 0:
        try:
            return f"was killed by signal {signal.Signals(-exitcode).name}"
        except ValueError:
            return f"was killed by signal {-exitcode}"
    return f"exited with code {exitcode}"


def kill_quietly(pid: int, sig: int) -> None:
    """os.kill, where a process that has already ended is not an error."""
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, sig)


@contextlib.contextmanager
def sigint_held() -> Iterator[None]:
    """SIGINT blocked (main thread only) while workers are being ended: a second Ctrl-C must
    not leave one stopped or alive."""
    main = threading.current_thread() is threading.main_thread()
    old = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT}) if main else None
    try:
        yield
    finally:
        if old is not None:
            signal.pthread_sigmask(signal.SIG_SETMASK, old)


def close_surely(close: Callable[[], None]) -> None:
    """Run ``close`` to the end: a Ctrl-C that landed just before SIGINT was held interrupts
    it once; it is run again, then the interrupt goes on."""
    try:
        close()
    except KeyboardInterrupt:
        close()
        raise
