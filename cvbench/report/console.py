"""One rule for terminal width: rich assumes 80 columns when output is not a terminal, which
wraps every wide table in CI logs and files; use 180 there instead."""

from __future__ import annotations

import sys

from rich.console import Console


class _Console(Console):
    """rich ends a broken pipe with SystemExit(1), which a CI job reads as a regression: the
    BrokenPipeError goes to the command group instead (exit 141, as tools do)."""

    def on_broken_pipe(self) -> None:
        raise BrokenPipeError(32, "Broken pipe")


def make_console(stderr: bool = False) -> Console:
    stream = sys.stderr if stderr else sys.stdout
    tty = stream is not None and stream.isatty()
    return _Console(stderr=stderr, width=None if tty else 180)


def fmt_time(ns: float | None) -> str:
    """Compact human time: 750µs, 12.0ms, 2.50s."""
    if ns is None:
        return "-"
    if ns < 1_000:
        return f"{ns:.0f}ns"
    if ns < 1_000_000:
        return f"{ns / 1e3:.0f}µs"
    if ns < 1_000_000_000:
        return f"{ns / 1e6:.1f}ms"
    return f"{ns / 1e9:.2f}s"


def fmt_ms(ns: float | None) -> str:
    return "-" if ns is None else f"{ns / 1e6:,.3f}"
