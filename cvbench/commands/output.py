"""What every command does with errors, notes and the files it is asked to write: check the
folder before any work, write atomically, print notes on stderr, and turn bad input or an I/O
error into one line with exit 2 (``one_line_errors``)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

import click

from cvbench.config import outputs as config_outputs
from cvbench.config.run_config import ConfigError
from cvbench.results.write import atomic_write


class BadInput(click.ClickException):
    """Unusable input or output: one line ("Error: ..."), exit 2, like click's usage errors."""

    exit_code = 2


@contextmanager
def one_line_errors(*errors: type[Exception], writing: str | Path | None = None) -> Iterator[None]:
    """Inside: an error of the listed types (its message), and with ``writing`` (what is being
    written: a path, or e.g. "--plots DIR") an OSError ("cannot write WRITING: reason"), become
    BadInput: one line on stderr, exit 2, never a traceback."""
    try:
        yield
    except errors as exc:
        raise BadInput(str(exc)) from None
    except OSError as exc:
        if writing is None:
            raise
        raise BadInput(f"cannot write {writing}: {exc.strerror or exc}") from None


def echo_notes(notes: list[str]) -> None:
    """Notes (what was skipped and why) go to stderr, so stdout stays the paths written."""
    for n in notes:
        click.echo(f"note: {n}", err=True)


def check_writable(option: str, path: str | Path | None) -> None:
    """Results must have somewhere to go before the first measurement is made (the rule is
    config/outputs.py's; here its ConfigError is click's usage error, exit 2)."""
    try:
        config_outputs.check_writable(option, path)
    except ConfigError as exc:
        raise click.UsageError(str(exc)) from None


def check_output(
    option: str, path: str | Path | None, inputs: Iterable[str | Path], force: bool = False
) -> None:
    """check_writable, and the output is neither one of this command's ``inputs`` (compare
    --markdown BASE replaced the base) nor, without ``force`` (--force, or a CI job's summary
    file, which is appended to), an existing file that is not a cvbench output."""
    check_writable(option, path)
    if path is None:
        return
    try:
        config_outputs.check_not_theirs(option, Path(path), [Path(p) for p in inputs], force)
    except ConfigError as exc:
        raise click.UsageError(str(exc)) from None


def write_or_fail(path: str | Path, text: str) -> None:
    """Atomic write; an OSError becomes one line naming the file."""
    with one_line_errors(writing=path):
        atomic_write(Path(path), text)
