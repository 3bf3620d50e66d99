"""Kinds of option several commands declare: one declaration each, so that every command's
file and folder options take the same values (a folder given for a file is refused by click,
before any work)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import click

F = TypeVar("F", bound=Callable[..., Any])


def file_option(*decls: str, help: str, **kw: Any) -> Callable[[F], F]:
    """An option naming one file, unset unless given: what a command writes (CSV, JSON,
    Markdown, GAB, HTML, a trace) or reads beside its arguments (an A/A noise file)."""
    return click.option(*decls, type=click.Path(dir_okay=False), default=None, help=help, **kw)


def folder_option(*decls: str, help: str, **kw: Any) -> Callable[[F], F]:
    """An option naming one folder, unset unless given (where the charts go)."""
    return click.option(*decls, type=click.Path(file_okay=False), default=None, help=help, **kw)


def force_option() -> Callable[[F], F]:
    """--force: replace an existing output file that is not a cvbench output (an input of
    the same command never is replaced)."""
    return click.option(
        "--force",
        is_flag=True,
        help="Replace an existing output file that is not a cvbench result.",
    )
