"""One run from a RunConfig, the same for the CLI and the Python API: the runner, its files
rewritten as rows complete, and the caller's process left as it was found (the runner restores
import paths; here: every environment variable, the CPU affinity of every thread, the thread
exception hooks)."""

from __future__ import annotations

import contextlib
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

from cvbench.config import RunConfig
from cvbench.measure import interrupts
from cvbench.measure.caller_state import caller_state_kept
from cvbench.pipeline.document import run_document
from cvbench.pipeline.exports import ExportWriter
from cvbench.runner import Callbacks, Runner, RunResult

JSON_EVERY_S = 3.0  # the JSON holds every item's timestamps: rewritten at most this often


def _stderr_line(line: str) -> None:
    print(line, file=sys.stderr)


@contextlib.contextmanager
def thread_errors_kept(into: list[str]) -> Iterator[None]:
    """Exceptions that end a framework's own thread (curio's worker threads after a failed
    item, say) go into the results, not onto the terminal: the failed row already says what
    happened. The caller's hooks come back afterwards."""
    previous_thread, previous_unraisable = threading.excepthook, sys.unraisablehook

    def keep(args: Any) -> None:
        exc = getattr(args, "exc_value", None)
        where = getattr(getattr(args, "thread", None), "name", None) or "unraisable"
        into.append(f"{where}: {type(exc).__name__}: {exc}"[:500])

    threading.excepthook, sys.unraisablehook = keep, keep
    try:
        yield
    finally:
        threading.excepthook, sys.unraisablehook = previous_thread, previous_unraisable


class _Exporting(Callbacks):
    """The caller's progress callbacks, plus files rewritten after every row and round."""

    def __init__(self, session: RunSession, inner: Callbacks | None) -> None:
        self.session = session
        self.inner = inner or Callbacks()
        self.last_full = time.monotonic()

    def cell(self, label: str) -> None:
        self.inner.cell(label)

    def advance(self) -> None:
        self.inner.advance()

    def note(self, text: str) -> None:
        self.inner.note(text)

    def row(self, row: dict[str, Any], result: RunResult) -> None:
        now = time.monotonic()
        full = now - self.last_full >= JSON_EVERY_S
        if full:
            self.last_full = now
        self.session.write(result, full=full, final=False)

    def round_done(self, result: RunResult) -> None:
        self.session.write(result, full=False, final=False)  # the round's paired speedups

    def stuck(self, result: RunResult, status: int, line: str) -> None:
        self.session.abandon(result, status, line)


class RunSession:
    """Build once, ``run()`` once. ``result`` holds what was measured even if run() raised."""

    def __init__(
        self,
        cfg: RunConfig,
        progress: Callbacks | None = None,
        on_write_error: Callable[[str], None] = _stderr_line,
    ) -> None:
        self.cfg = cfg
        self.exports = ExportWriter(cfg, on_write_error)
        self.runner = Runner(cfg, _Exporting(self, progress))
        self.document: dict[str, Any] | None = None  # the final results document
        #: set when the run went on without a thread stuck inside the op (abandon())
        self.abandoned = threading.Event()
        self._caller_state = contextlib.ExitStack()

    @property
    def result(self) -> RunResult:
        return self.runner.result

    def final_document(self) -> dict[str, Any]:
        """The final document (summary, findings) of what was measured: the one the files
        were written from, or built now if no file needed it."""
        if self.document is None:
            self.document = run_document(self.result, True)
        return self.document

    def run(self) -> RunResult:
        """Measure; the files are final when this returns (also after an interrupt)."""
        with self._caller_state as kept:
            kept.enter_context(caller_state_kept())
            kept.enter_context(thread_errors_kept(self.result.thread_errors))
            result = self.runner.run()
        self._recorded_stop()
        self.write(result)
        if self._recorded_stop():
            self.write(result)
        return result

    def _recorded_stop(self) -> bool:
        """A stop that landed in an import was recorded, not raised (measure/interrupts.py),
        and after the last repetition nothing raises it: the result is marked here, after the
        finish and again after the files were written. True if it was marked now."""
        if interrupts.stop_requested() is None or self.result.interrupted:
            return False
        self.runner.mark_interrupted()
        return True

    def abandon(self, result: RunResult, status: int, line: str) -> None:
        """The thread running the op is stuck inside it for good (called from the watchdog's
        thread): the files are written from what was measured, one line says why, and
        cvbench's own process ends with ``status`` (work/hard_exit.py). An API caller's
        process is left running: what the run changed in it is put back, the run's processes
        and temp folders are removed, and ``abandoned`` is set (cvbench.run() called from a
        thread returns; a main thread that is stuck stays so)."""
        try:
            self.write(result)
        finally:
            self._abandoned(result, status, line)

    def _abandoned(self, result: RunResult, status: int, line: str) -> None:
        from cvbench.work import hard_exit

        written = ", ".join(self.exports.written()) or "no file"
        n = sum(1 for r in result.rows if not r.get("predicted"))
        if result.interrupted:
            name = signal.Signals(status - 128).name if status > 128 else "a signal"
            message = (
                f"interrupted by {name} while {line}: the {n} rows completed so far are in "
                f"{written} (the JSON says interrupted: true)"
            )
        else:
            message = f"cvbench: {line}. The {n} rows so far are in {written}"
        if self.exports.errors:
            message += f"\nnot written: {', '.join(self.exports.errors)}"
            status = status or 1  # as the CLI's exit after a file it could not write
        print(message, file=sys.stderr, flush=True)
        if hard_exit.OWNER:
            print(f"results: {written}", flush=True)
            hard_exit.hard_exit(status)
        try:
            self.runner.close_models()
            hard_exit.clean_up(process_wide=False)
            with contextlib.suppress(Exception):
                self._caller_state.close()
        finally:
            self.abandoned.set()  # the caller's thread stops waiting, whatever failed above

    def write(self, result: RunResult | None = None, full: bool = True, final: bool = True) -> None:
        """Rewrite the files from what has been measured so far."""
        measured = result if result is not None else self.result

        def make(fin: bool) -> dict[str, Any]:
            doc = run_document(measured, fin)
            if fin:  # its summary and findings bootstrap every group: built once, kept
                self.document = doc
            return doc

        self.exports.write(make, full=full, final=final)
        if final:
            self.exports.remove_temp_files()
