"""One rule for terminal width: rich assumes 80 columns when output is not a terminal, which
wraps every wide table in CI logs and files; use 180 there instead."""

from __future__ import annotations

import sys

from rich.console import Console


def make_console(stderr: bool = False) -> Console:
    stream = sys.stderr if stderr else sys.stdout
    return Console(stderr=stderr, width=None if stream.isatty() else 180)
