"""The console script's target: deliberately tiny.

forkserver and spawn workers re-import the parent's __main__ (the `cvbench` script). Were that
`cvbench.cli`, every worker would import click, rich, trio, curio and the rest (~0.3 s) before
its first item, and start-up would measure cvbench instead of the pool.

A Ctrl-C (or SIGTERM/SIGHUP) before `cvbench run` installs its own handlers, e.g. while
cv2 imports, ends the process quietly with 128 + the signal number, never a traceback.
"""

import signal
import sys

#: the stop signals this handler took: its SystemExit can be swallowed (raised inside an
#: import's weakref callback, whose exceptions Python only prints), and the command that
#: installs its own handlers then ends there (commands/signals.py)
STOPPED: list[int] = []


def _quiet_exit(signum: int, frame: object) -> None:
    STOPPED.append(signum)
    raise SystemExit(128 + signum)


_print_unraisable = sys.unraisablehook


def _quiet_unraisable(unraisable: object) -> None:
    """A stop that landed inside a weakref callback (an import's module lock, a pool's
    finalizer) cannot propagate: Python prints it as "Exception ignored in ... Traceback"
    (seen in a clean-clone CI run, SIGINT 0.6 s into `cvbench run`). The stop is not lost
    (``STOPPED``, ``interrupts.raise_if_requested``), so it is not printed either; any other
    exception is."""
    exc = getattr(unraisable, "exc_value", None)
    if isinstance(exc, SystemExit) and STOPPED and exc.code == 128 + STOPPED[0]:
        return
    if isinstance(exc, KeyboardInterrupt):
        from cvbench.measure import interrupts  # only now: this module stays tiny

        if interrupts.stop_requested():
            return
    _print_unraisable(unraisable)  # type: ignore[arg-type]


def main() -> None:
    sys.unraisablehook = _quiet_unraisable
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, _quiet_exit)
    try:
        from cvbench.cli import main as cli_main

        cli_main()
    except KeyboardInterrupt:
        sys.exit(128 + signal.SIGINT)
