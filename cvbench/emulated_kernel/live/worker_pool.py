"""The parent side of the ``kernel-proc`` workers: start them, feed them without ever blocking,
read their answers, and always leave them continued and dead at the end.

Why not ProcessPoolExecutor: the scheduler must know which workers have work (runnable) and
which wait for it (sleeping), and it must never block writing to a worker it has just stopped
(an 810 KB tile does not fit a pipe).  So each worker gets its own command and result pipe
(``cvbench/work/proc_worker.py``), the parent's ends are non-blocking, and what does not fit
waits in an outbox until ``select`` says the pipe is writable.

Workers come from the forkserver, as in ``models/processes.py`` (a forked child of a parent
that ran OpenCV can deadlock on its thread pool's locks), with ``cvbench.work.item`` preloaded.
"""

from __future__ import annotations

import contextlib
import fcntl
import multiprocessing
import os
import pickle
import select
import signal
import time
from collections import deque
from collections.abc import Callable, Iterator
from typing import Any

from cvbench.work.own_workers import (
    close_surely,
    ensure_preloaded,
    how_it_ended,
    kill_quietly,
    sigint_held,
)
from cvbench.work.proc_worker import HEADER, frame, serve

CONTEXT = multiprocessing.get_context("forkserver")
PRELOAD = "cvbench.work.item"  # cv2 and the work function, imported once in the fork server
PIPE_BYTES = 1 << 20  # an unprivileged pipe may grow to 1 MB: most items go in one write
READ_CHUNK = 1 << 16


class WorkerDied(RuntimeError):
    """A worker's pipe closed: it exited or was killed (the message says which and how)."""


class _Worker:
    """One worker process and the parent's ends of its two pipes."""

    __slots__ = ("index", "proc", "pid", "cmd", "res", "cmd_fd", "res_fd", "outbox", "inbox")

    def __init__(self, index: int, proc: Any, cmd: Any, res: Any) -> None:
        self.index = index
        self.proc = proc
        self.pid: int = proc.pid
        self.cmd, self.res = cmd, res  # Connections: they own the fds
        self.cmd_fd, self.res_fd = cmd.fileno(), res.fileno()
        self.outbox: deque[memoryview] = deque()
        self.inbox = bytearray()
        os.set_blocking(self.cmd_fd, False)
        os.set_blocking(self.res_fd, False)
        with contextlib.suppress(OSError, AttributeError):
            fcntl.fcntl(self.cmd_fd, fcntl.F_SETPIPE_SZ, PIPE_BYTES)


class WorkerPool:
    """N workers that each run ``fn`` on the items written to them."""

    def __init__(
        self,
        fn: Any,
        workers: int,
        *,
        target: Callable[..., None] = serve,
        start_timeout_s: float = 120.0,
    ) -> None:
        if workers < 1:
            raise ValueError("kernel-proc needs at least one worker")
        ensure_preloaded(PRELOAD)
        self.workers: list[_Worker] = []
        self.tids: list[int] = []
        self._by_fd: dict[int, _Worker] = {}
        try:
            for i in range(workers):
                cmd_r, cmd_w = CONTEXT.Pipe(duplex=False)
                res_r, res_w = CONTEXT.Pipe(duplex=False)
                proc = CONTEXT.Process(
                    target=target,
                    args=(fn, cmd_r, res_w, os.getpid()),
                    name=f"cvbench-kernel-proc-{i}",
                    daemon=True,
                )
                proc.start()
                cmd_r.close()
                res_w.close()
                w = _Worker(i, proc, cmd_w, res_r)
                self.workers.append(w)
                self._by_fd[w.res_fd] = w
            self._wait_ready(start_timeout_s)
        except BaseException:
            self.close()
            raise

    @property
    def pids(self) -> list[int]:
        return [w.pid for w in self.workers]

    def _wait_ready(self, timeout_s: float) -> None:
        """Every worker has prepared its work function (untimed start-up) and said so."""
        deadline = time.monotonic() + timeout_s
        ready: dict[int, int] = {}
        while len(ready) < len(self.workers):
            left = deadline - time.monotonic()
            if left <= 0:
                raise WorkerDied(f"{len(self.workers) - len(ready)} worker(s) never became ready")
            fds = [w.res_fd for w in self.workers if w.index not in ready]
            for fd in select.select(fds, [], [], left)[0]:
                w = self._by_fd[fd]
                for msg in self.read(w):
                    if msg[0] == "ready":
                        ready[w.index] = msg[2]
        self.tids = [ready[i] for i in range(len(self.workers))]

    # -- the parent's loop -----------------------------------------------------------------------
    def send(self, w: _Worker, msg: Any) -> None:
        """Queue one message for worker ``w`` and write what fits now; never blocks."""
        w.outbox.extend(memoryview(part) for part in frame(msg))
        self.flush(w)

    def flush(self, w: _Worker) -> None:
        """Write as much of the outbox as the pipe takes (the worker may be stopped)."""
        box = w.outbox
        while box:
            view = box[0]
            try:
                n = os.write(w.cmd_fd, view)
            except BlockingIOError:
                return
            except BrokenPipeError:
                raise self._died(w) from None
            if n < len(view):
                box[0] = view[n:]
                return
            box.popleft()

    def writers(self) -> list[int]:
        """Command fds with bytes still waiting: select them for writing."""
        return [w.cmd_fd for w in self.workers if w.outbox]

    def readers(self) -> list[int]:
        return [w.res_fd for w in self.workers]

    def by_fd(self, fd: int) -> _Worker:
        return self._by_fd[fd]

    def worker_of_cmd(self, fd: int) -> _Worker:
        return next(w for w in self.workers if w.cmd_fd == fd)

    def read(self, w: _Worker) -> list[Any]:
        """Every complete message worker ``w`` has written so far; WorkerDied at EOF."""
        buf = w.inbox
        while True:
            try:
                chunk = os.read(w.res_fd, READ_CHUNK)
            except BlockingIOError:
                break
            if not chunk:
                raise self._died(w)
            buf += chunk
            if len(chunk) < READ_CHUNK:
                break
        return list(_messages(buf))

    def _died(self, w: _Worker) -> WorkerDied:
        w.proc.join(timeout=1.0)
        how = how_it_ended(w.proc.exitcode)
        return WorkerDied(f"kernel-proc worker {w.index} (pid {w.pid}) {how}")

    # -- the end -----------------------------------------------------------------------------------
    def close(self) -> None:
        """Continue, then end every worker; SIGINT is held back meanwhile so that a second
        Ctrl-C cannot leave a worker stopped.  Safe to call twice."""
        close_surely(self._close)

    def _close(self) -> None:
        with sigint_held():
            for w in self.workers:
                kill_quietly(w.pid, signal.SIGCONT)  # a stopped process cannot act on anything else
            for w in self.workers:
                w.cmd.close()  # EOF: an idle worker returns from serve() by itself
                if w.proc.is_alive():
                    w.proc.terminate()
            deadline = time.monotonic() + 2.0
            for w in self.workers:
                w.proc.join(timeout=max(0.0, deadline - time.monotonic()))
                if w.proc.is_alive():
                    w.proc.kill()
                    w.proc.join(timeout=5.0)
                w.res.close()


def _messages(buf: bytearray) -> Iterator[Any]:
    """Pop every complete frame off the front of ``buf``."""
    while len(buf) >= HEADER.size:
        n = HEADER.unpack_from(buf)[0]
        end = HEADER.size + n
        if len(buf) < end:
            return
        msg = pickle.loads(buf[HEADER.size : end])
        del buf[:end]
        yield msg
