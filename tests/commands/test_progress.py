"""The progress bar stays out of the timed regions: no refresh thread taking the GIL."""

from __future__ import annotations

import io
import threading

from rich.console import Console

from cvbench.commands import run as run_command


def test_the_bar_on_a_terminal_starts_no_thread_and_still_redraws(monkeypatch) -> None:
    out = io.StringIO()
    monkeypatch.setattr(
        run_command, "err_console", Console(file=out, force_terminal=True, width=80)
    )
    before = set(threading.enumerate())
    progress = run_command.make_progress()
    bar = run_command._Progress(progress)
    with progress:
        assert set(threading.enumerate()) == before  # rich's 10 Hz refresher not started
        bar.cell("round 1 · threshold/threads/2w")
        bar.advance()
        assert "round 1 · threshold/threads/2w" in out.getvalue()  # drawn between cells
