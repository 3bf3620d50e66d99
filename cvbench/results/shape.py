"""The parts of a results JSON beyond its rows, checked for type as soon as it is parsed.

``compare``, ``report``, ``history`` and ``plot`` read the environment, the per-item records
and a few run-level fields straight from the document; a file edited by hand, produced by
another tool or damaged in transit may hold a list where an object belongs (``"environment":
[]``), a string for the items, a number for the findings. Each such field becomes one
line naming the file and the field (read.py raises it), before any reader indexes into it. Fields
this cvbench does not know are left alone (a newer writer may add them).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

Check = Callable[[Any], bool]


def _number(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


def _int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _optional(check: Check) -> Check:
    return lambda v: v is None or check(v)


def _list_of(check: Check) -> Check:
    return lambda v: isinstance(v, list) and all(check(x) for x in v)


def _dict_of(check: Check) -> Check:
    return lambda v: isinstance(v, dict) and all(check(x) for x in v.values())


def _scalar(v: Any) -> bool:
    return v is None or isinstance(v, str | int | float | bool)


def _text(v: Any) -> bool:
    return isinstance(v, str)


def _is_dict(v: Any) -> bool:
    return isinstance(v, dict)


def _bool(v: Any) -> bool:
    return isinstance(v, bool)


# top-level field: (what it must be, as the error line says it, and the check)
TOP: dict[str, tuple[str, Check]] = {
    "environment": ("an object", _is_dict),
    "items": ("a list of objects", _list_of(_is_dict)),
    "harness_overhead": ("an object of objects", _dict_of(_is_dict)),
    "observer_effect": ("an object", _is_dict),
    "prep_s": ("an object of numbers", _dict_of(_optional(_number))),
    "interrupted": ("true or false", _bool),
    "complete": ("true or false", _bool),
    "seed": ("an integer", _optional(_int)),
    "rounds": ("an integer", _optional(_int)),
    "stop_reason": ("text", _optional(_text)),
    "budget_note": ("text", _optional(_text)),
    "findings": ("a list of text", _list_of(_text)),
    "round_loads": ("a list of objects", _list_of(_is_dict)),
    "not_converged": ("a list", lambda v: isinstance(v, list)),
    "predictions": ("an object", _is_dict),
    "failures": ("a list", lambda v: isinstance(v, list)),
    "thread_errors": ("a list", lambda v: isinstance(v, list)),
    "summary": ("a list of objects", _list_of(_is_dict)),
}
# environment entries the readers use as a given type
ENVIRONMENT: dict[str, tuple[str, Check]] = {
    "timestamp": ("text", _optional(_text)),
    "host_cores": ("an integer", _optional(_int)),
    "allowed_cpus": ("a list of integers", _optional(_list_of(_int))),
    **{
        k: ("text or a number", _scalar)
        for k in ("python", "opencv", "kernel", "cpu_model", "cvbench_version")
    },
}
# one block of per-item records (the charts' timeline, latency and lag CDFs)
ITEM: dict[str, tuple[str, Check]] = {
    "workload": ("text", _text),
    "model": ("text", _text),
    "workers": ("an integer", _int),
    "repetition": ("an integer", _int),
    "fields": ("a list of text", _list_of(_text)),
    "records": ("a list of number lists", _list_of(_list_of(_optional(_number)))),
    "lags_us": ("a list of numbers", _list_of(_optional(_number))),
}
ITEM_REQUIRED = ("workload", "model", "workers", "repetition", "records")
OVERHEAD_KEYS = ("bare_loop_s", "sequential_s", "overhead_pct", "outside_items_pct")


def _type(v: Any) -> str:
    if isinstance(v, list):  # which element is wrong: "a list whose element 3 is int"
        return f"a list ({len(v)} elements)"
    return "null" if v is None else type(v).__name__


def _got(v: Any, check: Check) -> str:
    """What the field holds, pointing at the first wrong element of a list."""
    if isinstance(v, list):
        for i, x in enumerate(v):
            if not check([x]):
                return f"a list whose element {i} is {_type(x)}"
    if isinstance(v, dict):
        for k, x in v.items():
            if not check({k: x}):
                return f"an object whose {k!r} is {_type(x)}"
    return _type(v)


def _problem(where: str, value: dict[str, Any], table: dict[str, tuple[str, Check]]) -> str | None:
    for key, (expected, check) in table.items():
        if key in value and not check(value[key]):
            return f"field '{where}{key}' must be {expected}, got {_got(value[key], check)}"
    return None


def problem(doc: dict[str, Any]) -> str | None:
    """What is wrong with a known field of the document (naming it), or None. Unknown fields
    are never a problem."""
    found = _problem("", doc, TOP) or _problem(
        "environment.", doc.get("environment") or {}, ENVIRONMENT
    )
    if found:
        return found
    for i, item in enumerate(doc.get("items") or []):
        missing = [k for k in ITEM_REQUIRED if k not in item]
        if missing:
            return f"field 'items[{i}]' has no {missing[0]!r}"
        found = _problem(f"items[{i}].", item, ITEM)
        if found:
            return found
    for workload, o in (doc.get("harness_overhead") or {}).items():
        for key in OVERHEAD_KEYS:
            if key in o and not _number(o[key]):
                got = _type(o[key])
                return f"field 'harness_overhead.{workload}.{key}' must be a number, got {got}"
    return None
