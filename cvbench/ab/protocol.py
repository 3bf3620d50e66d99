"""The parent <-> side wire format: JSON lines over two dedicated pipes.

Not stdin/stdout: the user's op may print, and a stray print on the protocol channel would be
a protocol error. The parent passes the two pipe fds to the side (``pass_fds``) and names them
on its command line; the side's stdout and stderr go to a log file the parent shows on failure.

Requests (parent -> side):  {"op": "run", "cell": NAME, "round": R}  |  {"op": "quit"}
Answers  (side -> parent):  {"type": "ready", "cells": [...], "env": {...}}
                            {"type": "row", "row": {...}, "items": [digest, ...]}
                            {"type": "error", "message": ONE_LINE, "bad_input": bool}
"""

from __future__ import annotations

import json
import os
import select
import time
from typing import Any


class ProtocolError(RuntimeError):
    """The side went away, answered garbage, or did not answer in time."""


def send(fd: int, message: dict[str, Any]) -> None:
    data = (json.dumps(message, default=str, allow_nan=True) + "\n").encode()
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


class LineReader:
    """Reads JSON lines from a pipe fd with a deadline (select + a buffer of partial lines)."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.buffer = b""

    def read(self, timeout_s: float | None) -> dict[str, Any]:
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        while b"\n" not in self.buffer:
            wait = None if deadline is None else max(0.0, deadline - time.monotonic())
            ready, _, _ = select.select([self.fd], [], [], wait)
            if not ready:
                raise ProtocolError(f"no answer within {timeout_s:.0f} s")
            chunk = os.read(self.fd, 1 << 16)
            if not chunk:
                raise ProtocolError("the side process ended")
            self.buffer += chunk
        line, _, self.buffer = self.buffer.partition(b"\n")
        try:
            message = json.loads(line)
        except ValueError:
            raise ProtocolError(f"garbled answer {line[:80]!r}") from None
        if not isinstance(message, dict):
            raise ProtocolError(f"garbled answer {line[:80]!r}")
        return message
