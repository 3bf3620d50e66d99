"""The child side of the ``kernel-proc`` pool: a worker the parent's emulated kernel can stop.

Why a pool of its own rather than ProcessPoolExecutor: the parent must know, at every moment,
whether a worker is blocked waiting for work (sleeping, for the policy) or has work to do
(runnable), and it must never block on a worker it has just stopped with SIGSTOP.  So every
worker owns two pipes: the parent writes one item at a time down the command pipe (without
blocking: see ``emulated_kernel/live/worker_pool.py``) and the worker answers on its result pipe.
A worker blocks in exactly one place, reading its command pipe, so "has an unanswered item"
is exactly "runnable".

Stdlib (and ``cvbench.work.lifeline``) only, and the work function arrives pickled
(``cvbench.work.item`` is imported when it is unpickled; the forkserver preloads it): a worker
must not import the models package.

Wire format, both directions: an 8-byte little-endian length, then a pickle.
    parent -> worker: ("item", index, payload) | ("spin", payload) | EOF (stop)
    worker -> parent: ("ready", pid, tid) | ("done", ItemResult) | ("error", index, text)
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import pickle
import select
import signal
import struct
from typing import Any

from cvbench.work.lifeline import pid_alive
from cvbench.work.quiet_child import quiet_when_orphaned

HEADER = struct.Struct("<Q")
PR_SET_PDEATHSIG = 1


def frame(obj: Any) -> tuple[bytes, bytes]:
    """One message: (header, pickle), two pieces so that an 810 KB tile is not copied again
    just to put 8 bytes in front of it."""
    body = pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)
    return HEADER.pack(len(body)), body


def _read_exact(fd: int, n: int) -> bytes | None:
    """n bytes from a blocking fd, or None at EOF (the parent closed the pipe or died)."""
    parts, got = [], 0
    while got < n:
        chunk = os.read(fd, n - got)
        if not chunk:
            return None
        parts.append(chunk)
        got += len(chunk)
    return b"".join(parts)


def read_frame(fd: int) -> Any | None:
    """The next message from a blocking fd; None at EOF."""
    head = _read_exact(fd, HEADER.size)
    if head is None:
        return None
    body = _read_exact(fd, HEADER.unpack(head)[0])
    return None if body is None else pickle.loads(body)


def write_frame(fd: int, obj: Any) -> None:
    """Write one message to a blocking fd (results are small: one write, no interleaving)."""
    head, body = frame(obj)
    view = memoryview(head + body)
    while view:
        view = view[os.write(fd, view) :]


def die_with_parent() -> bool:
    """Make this worker end when the parent is gone, even while it is stopped; False if the
    fork server already died (before the death signal was armed).

    A forkserver worker's parent is the fork server, not cvbench, so two things are needed:
    PR_SET_PDEATHSIG(SIGKILL) (SIGKILL ends a stopped process too), and closing the fork
    server's "alive" pipe that multiprocessing hands to every child: the server exits when
    cvbench's end of that pipe closes, but only if no child holds a copy.  Otherwise a
    SIGKILLed cvbench leaves the server and its stopped workers behind for ever.
    """
    ppid = os.getppid()
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    try:
        from multiprocessing import forkserver

        server = forkserver._forkserver
        fd = server._forkserver_alive_fd
        if fd is not None:
            server._forkserver_alive_fd = None
            os.close(fd)
    except (ImportError, AttributeError, OSError):
        pass
    return os.getppid() == ppid


@quiet_when_orphaned
def serve(fn: Any, cmd: Any, res: Any, parent_pid: int) -> None:
    """Worker body: set up, say ready, then answer items until the command pipe closes.

    ``cmd``/``res`` are multiprocessing Connections (that is how fds reach a forkserver
    child); only their raw fds are used.  ``fn`` is a WorkFn: ``prepare()`` once, then
    ``fn(index, payload) -> ItemResult``.
    """
    if not die_with_parent() or not pid_alive(parent_pid):
        os._exit(1)  # a parent died before the death signal was armed
    cmd_fd, res_fd = cmd.fileno(), res.fileno()
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    tid = fn.prepare()
    write_frame(res_fd, ("ready", os.getpid(), tid))
    while (msg := read_frame(cmd_fd)) is not None:
        if msg[0] == "item":
            index = msg[1]
            try:
                out = ("done", fn(index, msg[2]))
            except Exception as exc:  # noqa: BLE001 - reported to the parent, which fails the run
                out = ("error", index, f"{type(exc).__name__}: {exc}")
            write_frame(res_fd, out)
        elif msg[0] == "spin":
            spin(fn, msg[1], cmd_fd)


def spin(fn: Any, payload: Any, cmd_fd: int) -> None:
    """Run the same item back to back until the parent writes again or closes the pipe.

    The validation's endless CPU-bound task, made of real cv2 calls: it never blocks, so the
    only thing that takes its CPU away is the scheduler (Linux's, or the emulated one's).
    """
    while True:
        fn(0, payload)
        if select.select([cmd_fd], [], [], 0)[0]:
            return
