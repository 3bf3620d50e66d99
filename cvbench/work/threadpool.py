"""A ThreadPoolExecutor whose threads a stuck item cannot use to hold the process hostage.

Threads cannot be killed. When a repetition overruns its deadline (or the run is stopped)
while an item is stuck in one of them (an op that sleeps forever, a C call that never
returns), the model *abandons* the pool: queued items are cancelled, nobody waits for the
stuck thread, and the interpreter does not join it at exit. For that the pool's threads are
daemon threads (they inherit it from the thread that starts them, so they are started from a
short-lived daemon thread), and an abandoned thread is dropped from the registry that
concurrent.futures joins at exit.
"""

from __future__ import annotations

import contextlib
import threading
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import thread as _cf_thread

#: threads given up on (still running a stuck item); the CLI exits with os._exit if one of
#: them is a non-daemon thread still alive when every file has been written
ABANDONED: list[threading.Thread] = []


class DaemonThreadPool(ThreadPoolExecutor):
    """ThreadPoolExecutor with daemon worker threads; same behaviour otherwise."""

    def _adjust_thread_count(self) -> None:
        if len(self._threads) >= self._max_workers:
            super()._adjust_thread_count()  # no thread to start: no detour, no overhead
            return
        starter = threading.Thread(target=super()._adjust_thread_count, daemon=True)
        starter.start()
        starter.join()

    def abandon(self) -> None:
        """Cancel what is queued and give up on the threads without waiting for them."""
        self.shutdown(wait=False, cancel_futures=True)
        for t in list(self._threads):
            if t.is_alive():
                ABANDONED.append(t)
                with contextlib.suppress(Exception):  # private registry; best effort
                    _cf_thread._threads_queues.pop(t, None)


def stuck_threads() -> list[threading.Thread]:
    """Abandoned threads still alive, and any other non-daemon thread still running."""
    main = threading.main_thread()
    alive = [t for t in ABANDONED if t.is_alive()]
    others = [
        t
        for t in threading.enumerate()
        if t is not main and not t.daemon and t.is_alive() and t not in alive
    ]
    return alive + others


@contextlib.contextmanager
def pool_of(workers: int, prefix: str):
    """The pool for one repetition: shut down and joined after a clean run; abandoned after
    a failure, a timeout or a stop (never a wait on a thread that may never return)."""
    pool = DaemonThreadPool(workers, thread_name_prefix=prefix)
    try:
        yield pool
    except BaseException:
        pool.abandon()
        raise
    else:
        pool.shutdown(wait=True, cancel_futures=True)
