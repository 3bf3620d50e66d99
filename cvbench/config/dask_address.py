"""`--dask-scheduler`: the address of an existing dask cluster, checked before any work.

A malformed address, a port out of range or a host name that does not resolve would
otherwise surface as a dask connection that waits (or a row that fails) long after the run
began; here each is one line naming the value. Only the address is checked: whether a
scheduler answers there is dask's connect timeout's business (models/dask_.py).
"""

from __future__ import annotations

import re
import socket
import threading

ADDRESS = re.compile(
    r"(?P<scheme>tcp|tls|ucx)://(?P<host>\[[0-9A-Fa-f:.]+\]|[^\s/:\[\]]+):(?P<port>[0-9]{1,5})"
)
RESOLVE_TIMEOUT_S = 5.0  # a name server that does not answer must not hold the run


class AddressError(ValueError):
    """The address cannot be used; the message names it."""


def parse_address(text: str) -> str:
    """The stripped address if it is SCHEME://HOST:PORT with a port 1..65535 and a host that
    resolves; AddressError otherwise."""
    address = text.strip()
    shown = repr(address) if len(address) <= 80 else repr(address[:77] + "...")
    m = ADDRESS.fullmatch(address)
    if not m or not 1 <= int(m["port"]) <= 65535:
        raise AddressError(f"{shown}: expected an address like tcp://HOST:PORT (port 1-65535)")
    problem = _resolve(m["host"].strip("[]"), int(m["port"]))
    if problem:
        raise AddressError(f"{shown}: cannot resolve its host ({problem[:120]})")
    return address


def _resolve(host: str, port: int) -> str | None:
    """None if the host resolves within RESOLVE_TIMEOUT_S, else why not. The lookup runs in a
    daemon thread: a stuck resolver is abandoned, never waited for at exit."""
    outcome: list[str | None] = []

    def lookup() -> None:
        try:
            socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except (OSError, UnicodeError) as exc:
            outcome.append(getattr(exc, "strerror", None) or str(exc) or type(exc).__name__)
        else:
            outcome.append(None)

    worker = threading.Thread(target=lookup, name="cvbench-resolve", daemon=True)
    worker.start()
    worker.join(RESOLVE_TIMEOUT_S)
    if not outcome:
        return f"no answer from the name server within {RESOLVE_TIMEOUT_S:g} s"
    return outcome[0]
