"""What the pools that start their own worker processes (kernel-proc's, processes+zerocopy's)
share: the one fork server's preload list, the words for how a worker ended, and a kill that
does not mind a worker that is already gone. Stdlib only."""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import signal

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
