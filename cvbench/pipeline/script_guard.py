"""A benchmark started from a script must run once. Process workers (forkserver, spawn, dask)
re-import the main script; a `cvbench.run()` at its top level would then start a whole
benchmark in every worker (13 nested runs from round two's README example). Refuse both ends:
the call in a worker's re-import, and, in the parent, a top-level call outside
``if __name__ == "__main__":`` (found in the script's syntax tree, before any work)."""

from __future__ import annotations

import ast
import multiprocessing
import sys
from types import FrameType

GUARD_HINT = 'put the call under `if __name__ == "__main__":`'


class ScriptGuardError(RuntimeError):
    """cvbench.run() where it would run again in every worker; the message says the fix."""


def _guarded_lines(tree: ast.Module) -> list[tuple[int, int]]:
    """Line spans of every top-level ``if __name__ == "__main__":`` body."""
    spans = []
    for node in tree.body:
        if not isinstance(node, ast.If):
            continue
        test = node.test
        if (
            isinstance(test, ast.Compare)
            and isinstance(test.left, ast.Name)
            and test.left.id == "__name__"
            and len(test.comparators) == 1
            and isinstance(test.comparators[0], ast.Constant)
            and test.comparators[0].value == "__main__"
        ):
            spans.append((node.lineno, node.end_lineno or node.lineno))
    return spans


def check_caller(frame: FrameType | None) -> None:
    """Raise ScriptGuardError if ``frame`` (the API caller) is a worker's re-import of the
    main script, or the main script's top level outside the ``__main__`` guard."""
    if frame is None:
        return
    module = frame.f_globals.get("__name__")
    if multiprocessing.parent_process() is not None and module == "__mp_main__":
        raise ScriptGuardError(
            f"cvbench.run() ran again in a worker process that re-imported your script: "
            f"{GUARD_HINT}"
        )
    main = sys.modules.get("__main__")
    path = getattr(main, "__file__", None)
    if module != "__main__" or frame.f_code.co_name != "<module>" or not path:
        return  # inside a function, or an interactive session: workers cannot re-run it
    try:
        with open(path, encoding="utf-8") as fh:
            tree = ast.parse(fh.read(), path)
    except (OSError, SyntaxError, ValueError):
        return
    line = frame.f_lineno
    if not any(lo <= line <= hi for lo, hi in _guarded_lines(tree)):
        raise ScriptGuardError(
            f"cvbench.run() at the top level of {path}:{line} would run again in every "
            f"process worker that re-imports the script: {GUARD_HINT}"
        )
