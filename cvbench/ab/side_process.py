"""One side of an A/B job: a long-lived process that measures one cell at a time on request.

Started by the parent (cvbench/ab/job.py) as ``python -m cvbench.ab.side_process --in FD
--out FD --tmp DIR -- RUN-ARGV...`` with the side's own interpreter, working directory,
PYTHONPATH and environment. It builds its RunConfig from ``cvbench run`` options, builds the
jobs once, warms every cell up, says "ready", then answers "run cell X once" requests with the
row and the per-item output digests (protocol.py) until told to quit or the parent is gone.

Never outlives the job: the kernel sends it SIGTERM when the parent dies (PR_SET_PDEATHSIG),
SIGTERM and SIGINT become KeyboardInterrupt (the runner then closes its pools and shared
memory), and a watcher thread ends it for good 10 s after the parent is gone in case it is
stuck in a call that never returns. Its own pool workers watch *it* (lifeline.mark_main).
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
import time
import traceback
from pathlib import Path
from typing import Any

from cvbench.measure import interrupts

PARENT_ENV = "CVBENCH_AB_PARENT"
GRACE_S = 10.0


def config_from_argv(argv: list[str], tmp: Path) -> Any:
    """A RunConfig from `cvbench run` options (the only place that knows how).

    The options arrive as command-line text (a side's ``--head-option "--cv-threads 4"``), so
    click's `run` command turns them into values; from there it is the pipeline's own
    RunOptions -> build_config. --csv/--json point into the side's temporary folder, as the
    parent writes the real files. Raises click.ClickException (bad input) with one line.
    """
    from cvbench.commands.run import config_from_options
    from cvbench.commands.run import run as run_cmd

    argv = [*argv, "--csv", str(tmp / "side.csv"), "--json", str(tmp / "side.json")]
    with run_cmd.make_context("cvbench run", argv) as ctx:
        params = dict(ctx.params)
        params.pop("brief", None)  # rendering only
        return config_from_options(params)


def _interrupt(signum: int, frame: Any) -> None:
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    interrupts.interrupt(signum, frame)  # KeyboardInterrupt, or a trio run stops its way


def _guard_parent() -> None:
    """Die with the parent: PDEATHSIG now, then a pidfd watcher as the last resort."""
    from cvbench.work import lifeline

    parent = int(os.environ.get(PARENT_ENV, "0") or 0)
    lifeline.die_with_parent(signal.SIGTERM)
    if parent and os.getppid() != parent:
        os._exit(3)  # the parent died before the prctl: nobody will ask us anything
    try:
        fd = os.pidfd_open(parent) if parent else None
    except OSError:
        fd = None
    if fd is None:
        return

    def wait() -> None:
        import select

        poller = select.poll()
        poller.register(fd, select.POLLIN)
        while not poller.poll():
            pass
        time.sleep(GRACE_S)
        os._exit(3)

    threading.Thread(target=wait, name="cvbench-ab-parent", daemon=True).start()


def _one_line(exc: BaseException) -> str:
    text = str(getattr(exc, "message", "") or exc).strip()
    first = text.splitlines()[0] if text else ""
    return f"{type(exc).__name__}: {first}" if first else type(exc).__name__


def _jsonable_row(row: dict[str, Any]) -> dict[str, Any]:
    return {k: (v if isinstance(v, str | int | float | bool | type(None)) else str(v))
            for k, v in row.items()}  # fmt: skip


def _stuck_callbacks(fd_out: int) -> Any:
    """The side's hooks: when a repetition's thread is stuck in the op for good, the parent
    gets the failed row (the runner has just emitted it) and this process ends past the
    stuck thread (work/hard_exit.py), as the CLI's would."""
    from cvbench.ab.protocol import send
    from cvbench.run_state import Callbacks
    from cvbench.work import hard_exit

    class Stuck(Callbacks):
        def stuck(self, result: Any, status: int, line: str) -> None:
            row = result.rows[-1] if result.rows else None
            with contextlib.suppress(OSError):
                if row is not None and not row.get("ok"):
                    send(fd_out, {"type": "row", "row": _jsonable_row(row), "items": []})
                else:
                    send(fd_out, {"type": "error", "message": line, "bad_input": False})
            hard_exit.hard_exit(status)

    hard_exit.OWNER = True  # this process is cvbench's own: it may end it
    return Stuck()


def main(argv: list[str]) -> int:
    signal.signal(signal.SIGINT, _interrupt)  # inherited SIG_IGN (CI) must not hide a stop
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        split = argv.index("--")
        head, run_argv = argv[:split], argv[split + 1 :]
        opts = dict(zip(head[::2], head[1::2], strict=True))
        fd_in, fd_out, tmp = int(opts["--in"]), int(opts["--out"]), Path(opts["--tmp"])
    except (ValueError, KeyError):
        print("usage: python -m cvbench.ab.side_process --in FD --out FD --tmp DIR -- ARGV")
        return 2
    _guard_parent()
    from cvbench.ab.protocol import LineReader, ProtocolError, send

    try:
        import click
        import cv2

        from cvbench import __version__
        from cvbench.ab.cell_runner import CellRunner
    except ImportError as exc:
        message = f"{sys.executable} (Python {sys.version.split()[0]}) cannot import {exc.name}"
        send(fd_out, {"type": "error", "message": f"{message}: {exc}", "bad_input": True})
        return 2
    except KeyboardInterrupt:
        return 130
    try:
        cfg = config_from_argv(run_argv, tmp)
    except KeyboardInterrupt:
        return 130
    except click.ClickException as exc:
        send(fd_out, {"type": "error", "message": exc.format_message(), "bad_input": True})
        return 2
    except SystemExit as exc:  # click's --help or a parse exit
        send(fd_out, {"type": "error", "message": f"exit {exc.code}", "bad_input": True})
        return 2
    except BaseException as exc:  # noqa: BLE001 - one line to the parent, the trace to the log
        traceback.print_exc()
        send(fd_out, {"type": "error", "message": _one_line(exc), "bad_input": True})
        return 2
    runner = CellRunner(cfg, _stuck_callbacks(fd_out))
    reader = LineReader(fd_in)
    ready = False
    try:
        with runner.prepare() as cells:
            import cv2

            send(
                fd_out,
                {
                    "type": "ready",
                    "cells": [
                        {"name": name, "cost_s": c.last_cost_s, "broken": c.broken}
                        for name, c in cells.items()
                    ],
                    "env": {
                        "python": sys.version.split()[0],
                        "executable": sys.executable,
                        "cvbench": __version__,
                        "cvbench_path": str(Path(sys.modules["cvbench"].__file__).parent),
                        "opencv": cv2.__version__,
                        "cwd": os.getcwd(),
                        "seed": cfg.seed,
                    },
                    "rows": [_jsonable_row(r) for r in runner.result.rows],  # unsupported
                },
            )
            ready = True
            while True:
                interrupts.raise_if_requested()  # a stop that landed in an import
                try:
                    request = reader.read(None)
                except ProtocolError:
                    return 0  # the parent closed the pipe: done
                if request.get("op") != "run":
                    return 0
                name = request.get("cell")
                if name not in cells:
                    send(
                        fd_out, {"type": "error", "message": f"no cell {name}", "bad_input": False}
                    )
                    continue
                row, items = runner.run_cell_once(name, int(request.get("round", 0)))
                send(fd_out, {"type": "row", "row": _jsonable_row(row), "items": items})
                runner.result.items.clear()  # the per-item timestamps: not needed here
    except KeyboardInterrupt:
        return 130
    except BaseException as exc:  # noqa: BLE001 - building or warming up failed: one line
        traceback.print_exc()
        with contextlib.suppress(OSError):
            send(fd_out, {"type": "error", "message": _one_line(exc), "bad_input": not ready})
        return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
