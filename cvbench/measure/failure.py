"""A failed repetition in one line, and its traceback for the JSON. Frameworks wrap the user's
exception (curio's TaskError, trio's ExceptionGroup, a pool's BrokenProcessPool cause): the line
names the innermost ItemError (the item and the user's exception) when there is one, so a
broken op reads the same under every model."""

from __future__ import annotations

import traceback

from cvbench.work.user_op import ItemError

MAX_TRACE_CHARS = 8000


def _causes(exc: BaseException) -> list[BaseException]:
    """exc and everything it wraps, breadth first (cause, context, group members)."""
    seen: list[BaseException] = []
    todo = [exc]
    while todo and len(seen) < 50:
        e = todo.pop(0)
        if any(e is s for s in seen):
            continue
        seen.append(e)
        todo += [c for c in (e.__cause__, e.__context__) if c is not None]
        todo += list(getattr(e, "exceptions", ()) or ())
    return seen


def describe(exc: BaseException) -> tuple[str, str]:
    """(one line, traceback text)."""
    item = next((e for e in _causes(exc) if isinstance(e, ItemError)), None)
    if item is not None:
        trace = item.trace or "".join(traceback.format_exception(item))
        return f"ItemError: {item.message}", trace[-MAX_TRACE_CHARS:]
    text = str(exc).strip()
    line = f"{type(exc).__name__}: {text.splitlines()[0]}" if text else type(exc).__name__
    return line, "".join(traceback.format_exception(exc))[-MAX_TRACE_CHARS:]
