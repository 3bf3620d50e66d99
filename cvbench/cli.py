"""The `cvbench` command group. Each command lives in cvbench/commands/, one module each.

Commands load lazily (click's LazyGroup pattern): `cvbench compare` reads two files and must
not pay for importing cv2, psutil and every concurrency framework that `cvbench run` needs.
"""

from __future__ import annotations

import contextlib
import errno
import importlib
import os
import sys

import click

from cvbench import __version__

# command name -> "module:attribute", in the order `cvbench --help` lists them
COMMANDS = {
    "run": "cvbench.commands.run:run",
    "compare": "cvbench.commands.compare:compare_cmd",
    "history": "cvbench.commands.history:history_cmd",
    "simulate": "cvbench.commands.simulate:simulate_cmd",
    "validate": "cvbench.commands.validate:validate_cmd",
    "plot": "cvbench.commands.plot:plot_cmd",
    "report": "cvbench.commands.report:report_cmd",
    "ab": "cvbench.commands.ab:ab_cmd",
    "doctor": "cvbench.commands.doctor:doctor_cmd",
    "models": "cvbench.commands.listing:models_cmd",
    "workloads": "cvbench.commands.listing:workloads_cmd",
}


class LazyGroup(click.Group):
    """A group that imports a command's module only when that command is asked for."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return [*COMMANDS, *(n for n in super().list_commands(ctx) if n not in COMMANDS)]

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        target = COMMANDS.get(cmd_name)
        if target is None:
            return super().get_command(ctx, cmd_name)
        module, attr = target.split(":")
        command = getattr(importlib.import_module(module), attr)
        assert isinstance(command, click.Command)
        return command

    def invoke(self, ctx: click.Context) -> object:
        try:
            return super().invoke(ctx)
        except OSError as exc:
            if not _stdout_failed(exc):
                raise
            # a reader that went away (`| head -1`) or a full stdout is not a regression:
            # exit 141 (128 + SIGPIPE) as tools do, never 1, which a CI job reads as the gate
            if exc.errno != errno.EPIPE:
                with contextlib.suppress(Exception):
                    print(f"cvbench: cannot write to stdout: {exc.strerror}", file=sys.stderr)
            raise SystemExit(STDOUT_GONE) from None


STDOUT_GONE = 141


def _stdout_failed(exc: OSError) -> bool:
    """True if exc came from stdout (a broken pipe, a full disk or device behind it); stdout
    is then pointed at /dev/null so that the interpreter's last flush cannot fail again."""
    if exc.errno == errno.EPIPE:
        failed = True
    elif exc.errno in (errno.ENOSPC, errno.EIO, errno.EDQUOT, errno.EFBIG, errno.EBADF):
        try:  # a file of ours on a full disk, or stdout itself? one byte tells
            os.write(1, b"\n")
            failed = False
        except OSError:
            failed = True
    else:
        failed = False
    if failed:
        with contextlib.suppress(OSError):
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, 1)
            os.close(devnull)
    return failed


def _sane_std_streams() -> None:
    """A closed stdout/stderr (`>&-`) becomes /dev/null, so that no file we open later takes
    descriptor 1 or 2; text the encoding cannot show (PYTHONIOENCODING=ascii) is replaced,
    never a UnicodeEncodeError."""
    for fd, name in ((1, "stdout"), (2, "stderr")):
        try:
            os.fstat(fd)
        except OSError:
            devnull = os.open(os.devnull, os.O_WRONLY)
            if devnull != fd:
                os.dup2(devnull, fd)
                os.close(devnull)
        stream = getattr(sys, name)
        if stream is None:
            setattr(sys, name, open(fd, "w", closefd=False))  # noqa: SIM115 - lives on
        else:
            with contextlib.suppress(AttributeError, ValueError):
                stream.reconfigure(errors="replace")


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="cvbench")
def cli() -> None:
    """Run the same OpenCV workload under every Python concurrency model and measure it."""


def main() -> None:
    """Run the group; the exit code is the command's, whatever happens to stdout.

    When the command is done (every file written) and a thread is still running an item that
    never returned (an op stuck in a C call or asleep forever: its repetition failed and the
    thread was abandoned), the process ends with os._exit, since the interpreter would wait
    for that thread at exit, forever.
    """
    os.environ.setdefault("OPENCV_LOG_LEVEL", "ERROR")
    # FFmpeg's own errors (cv2 tries a file that is not an image as a video) would print
    # "[png @ 0x…] Invalid PNG signature" lines before cvbench's one line: fatal ones only
    os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "8")
    _sane_std_streams()
    from cvbench.work import hard_exit

    hard_exit.OWNER = True  # this process is cvbench's: it may end it past a stuck thread
    code: object = 0
    try:
        cli()
    except KeyboardInterrupt:  # before or after a command's own handlers: no traceback
        code = 130
    except SystemExit as exc:
        code = exc.code
    _exit_past_stuck_threads(code)
    raise SystemExit(code)


def _exit_past_stuck_threads(code: object) -> None:
    threadpool = sys.modules.get("cvbench.work.threadpool")
    if threadpool is None or not threadpool.stuck_threads():
        return
    status = code if isinstance(code, int) else (0 if code is None else 1)
    if not isinstance(code, int | None):
        print(code, file=sys.stderr)
    from cvbench.work.hard_exit import hard_exit

    hard_exit(status)


if __name__ == "__main__":
    main()
