"""Every wait on a dask cluster has an end, and says what it waited for.

A synchronous dask Client waits without a bound in several places: the comm handshake is
outside ``Client(timeout=)`` (distributed excludes it from the connect timeout since 2023.4,
dask/distributed#7698), and ``scheduler_info()``, ``run()``, ``gather()`` take no timeout.
A plain TCP server that accepts and never answers, used as ``--dask-scheduler``, held a run
until it was killed. Here:

- :func:`scheduler_problem` asks the scheduler who it is (a TCP connect, dask's handshake, an
  ``identity`` request) under one overall bound, on a short-lived thread with its own event
  loop: the up-front check before any work, and again before every connection.
- :func:`bounded` runs one of the client's coroutines on the client's own loop and polls for
  it, so it ends at its own limit or as soon as the repetition's deadline has passed
  (``probes.expired``), with no signal needed (``cvbench.run()`` called from a thread).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import socket
import threading
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar
from urllib.parse import urlsplit

from cvbench.measure.watchdog import RepetitionTimeout, deadline_passed

T = TypeVar("T")

CONNECT_S = 10.0  # connect + handshake + identity: a scheduler on a LAN answers in milliseconds
CONTROL_S = 20.0  # one control request (identity, run, cancel, task stream) of a live client
POLL_S = 0.25  # how often a wait looks at the repetition's deadline


class DaskTimeout(Exception):
    """A dask scheduler or worker did not answer a request within its bound."""


def _host_port(address: str) -> tuple[str, int]:
    parts = urlsplit(address)
    return parts.hostname or "", parts.port or 0


async def _identity(address: str, timeout_s: float) -> dict[str, Any]:
    from distributed.comm import connect

    comm = await connect(address, timeout=timeout_s)
    try:
        await comm.write({"op": "identity", "reply": True})
        return await comm.read()
    finally:
        comm.abort()


def scheduler_problem(address: str, timeout_s: float = CONNECT_S) -> str | None:
    """None when a dask scheduler answers at ``address`` within ``timeout_s``; else one line
    saying what went wrong (refused, no handshake, not a scheduler)."""
    host, port = _host_port(address)
    t0 = time.monotonic()
    try:  # a refused port is refused at once; dask's own connect would retry it for timeout_s
        socket.create_connection((host, port), timeout=timeout_s).close()
    except OSError as exc:
        return f"cannot connect to {address}: {exc.strerror or exc}"
    left = max(1.0, timeout_s - (time.monotonic() - t0))
    answer: dict[str, Any] = {}

    def ask() -> None:
        try:
            answer["info"] = asyncio.run(asyncio.wait_for(_identity(address, left), left))
        except BaseException as exc:  # noqa: BLE001 - whatever it was, the caller says it
            answer["error"] = exc

    helper = threading.Thread(target=ask, name="cvbench-dask-check", daemon=True)
    helper.start()
    helper.join(left + 2.0)  # the thread's own bound is `left`; this one is the backstop
    if "info" in answer:
        kind = answer["info"].get("type") if isinstance(answer["info"], dict) else None
        if kind != "Scheduler":
            return f"{address} answered, but as a dask {kind or 'peer'}, not a scheduler"
        return None
    error = answer.get("error")
    if error is None or isinstance(error, asyncio.TimeoutError | TimeoutError):
        return (
            f"{address} accepted the connection, but no dask scheduler answered within "
            f"{timeout_s:g} s"
        )
    return f"no dask scheduler at {address}: {type(error).__name__}: {error}"


def bounded(
    client: Any,
    call: Callable[[], Awaitable[T]],
    what: str,
    limit_s: float = CONTROL_S,
    probes: Any = None,
) -> T:
    """``await call()`` on the client's event loop, for at most ``limit_s``; DaskTimeout
    naming the scheduler and ``what`` when it takes longer, RepetitionTimeout as soon as the
    repetition's deadline has passed. The coroutine is cancelled either way."""

    async def run() -> T:
        return await call()

    future = asyncio.run_coroutine_threadsafe(run(), client.loop.asyncio_loop)
    deadline = time.monotonic() + limit_s
    try:
        while True:
            try:
                return future.result(timeout=POLL_S)
            except concurrent.futures.TimeoutError:
                if deadline_passed(probes):
                    raise RepetitionTimeout(f"deadline passed while {what}") from None
                if time.monotonic() >= deadline:
                    raise DaskTimeout(
                        f"the dask scheduler at {address_of(client)} did not answer within "
                        f"{limit_s:g} s while {what}"
                    ) from None
    finally:
        if not future.done():
            future.cancel()


def address_of(client: Any) -> str:
    try:
        return str(client.scheduler.address)
    except AttributeError:
        return "(unknown)"


def wait_all(futures: list[Any], probes: Any) -> list[Any]:
    """Every future's result, waited for until the repetition's deadline (polling)."""
    from cvbench.models.base import wait_result

    return [wait_result(f, probes) for f in futures]
