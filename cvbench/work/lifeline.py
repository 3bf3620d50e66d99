"""Children die with the benchmark, and leave Ctrl-C to it.

A CI job timeout SIGKILLs the main process, and nothing it started may outlive it (round one
left forkservers, resource trackers and pool workers alive for an hour). Every process cvbench
starts watches the main process through a pidfd (Linux >= 5.3): a daemon thread blocks in
poll() on it, costs nothing while the benchmark lives, and ends the process the moment the
benchmark is gone, however it died. PR_SET_PDEATHSIG would be lighter, but it fires when the
parent *thread* exits, and pools are sometimes started from worker threads.

Workers also ignore SIGINT: a terminal's Ctrl-C reaches the whole process group, and the
parent alone decides what an interrupt means (round one printed ~20-line tracebacks per worker).
"""

from __future__ import annotations

import contextlib
import os
import select
import signal
import threading

MAIN_PID_ENV = "CVBENCH_MAIN_PID"
_watching_pid = 0  # the process whose watcher thread runs (a forked child has none)


def mark_main() -> None:
    """Called once by the benchmark process: every process it starts inherits its pid, and
    multiprocessing's temp folder is one the next run can clean if this one is killed."""
    from cvbench.work.temp_dirs import claim_multiprocessing_tempdir

    os.environ[MAIN_PID_ENV] = str(os.getpid())
    claim_multiprocessing_tempdir()


def pid_alive(pid: int) -> bool:
    """Whether a process with this pid exists (someone else's counts: signal 0 only checks)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process: alive
    return True


def main_pid() -> int | None:
    value = os.environ.get(MAIN_PID_ENV, "")
    return int(value) if value.isdigit() else None


def watch_main() -> bool:
    """In a process cvbench started: exit as soon as the benchmark process is gone.

    Idempotent per process. False when there is nothing to watch (this is the main process,
    or the platform has no pidfd); if the main process is already gone, exit at once.
    """
    global _watching_pid
    pid = main_pid()
    if _watching_pid == os.getpid():
        return True
    if pid is None or pid == os.getpid():
        return False
    try:
        fd = os.pidfd_open(pid)
    except ProcessLookupError:
        os._exit(1)
    except (OSError, AttributeError):
        return False

    def wait() -> None:
        poller = select.poll()
        poller.register(fd, select.POLLIN)
        while not poller.poll():
            pass
        os._exit(1)

    threading.Thread(target=wait, name="cvbench-lifeline", daemon=True).start()
    _watching_pid = os.getpid()
    return True


def worker_setup() -> None:
    """Everything a pool worker does first: leave SIGINT to the parent, die with the run.

    A worker forked by the forkserver also asks the kernel for SIGKILL when the forkserver
    dies (PR_SET_PDEATHSIG; the forkserver is single-threaded, so its only thread exiting
    means it died): a worker the watchdog or a user SIGSTOPped cannot run its watcher thread,
    and would otherwise stay stopped for ever once the run is gone.
    """
    with contextlib.suppress(ValueError):  # not the main thread: nothing to ignore there
        signal.signal(signal.SIGINT, signal.SIG_IGN)
    if os.getppid() != main_pid():
        die_with_parent()
    watch_main()


def die_with_parent(sig: int = signal.SIGKILL) -> bool:
    """PR_SET_PDEATHSIG: the kernel sends ``sig`` when this process's parent exits."""
    import ctypes

    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(1, int(sig), 0, 0, 0) == 0  # 1 = PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        return False


def quiet_resource_tracker() -> None:
    """Start multiprocessing's resource tracker with its stderr on /dev/null.

    When the watchdog or a fault kills a pool worker, CPython's tracker receives an unregister
    for a semaphore it no longer lists and prints a KeyError traceback into the user's
    terminal: noise about a death cvbench already reports in the row. cvbench checks its own
    shared memory itself (tests look in /dev/shm), so nothing of value is hidden.
    """
    from multiprocessing import resource_tracker

    if getattr(resource_tracker._resource_tracker, "_fd", None) is not None:
        return  # already running: too late to redirect, harmless
    saved = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        resource_tracker.ensure_running()
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)
