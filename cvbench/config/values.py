"""The value parsers every command and the API share: CPU lists, worker counts, core sweeps,
durations, percentages, lists of names. One of each, so `--cpus 0-1` means the same to `run`,
`simulate` and `cvbench.run(cpus="0-1")`. Plain functions raising ValueError: no click here.

Every count is bounded *before* a range is expanded: `--workers 1-2000000000000` must fail in
microseconds with one line, not after allocating gigabytes.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable

MAX_CPU_ID = 8191  # Linux's largest CONFIG_NR_CPUS is 8192
MAX_WORKERS = 256
MAX_CORES = 16384  # emulated cores for what-if sweeps

_UNITS = {"ns": 1, "us": 1_000, "µs": 1_000, "ms": 1_000_000, "s": 1_000_000_000,
          "m": 60_000_000_000, "min": 60_000_000_000}  # fmt: skip
_DUR = re.compile(r"^\s*([0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?)\s*([a-zµ]*)\s*$")


def parse_names(
    text: str, every: Iterable[str], what: str, error: type[ValueError] = ValueError
) -> list[str]:
    """`a,b` -> ["a", "b"], `all` -> every name in ``every`` (in its order); each name once, in
    the order given; ``error`` (a ValueError) when the list is empty. Checking the names is
    the caller's: a workload may also be a file."""
    names = list(dict.fromkeys(n.strip() for n in text.split(",") if n.strip()))
    if not names:
        raise error(f"no {what} given")
    return list(every) if "all" in names else names


def _int_range(text: str, part: str, what: str, example: str) -> tuple[int, int]:
    """`3` or `1-4` -> (lo, hi), both >= 0 and lo <= hi."""
    lo_s, dash, hi_s = part.partition("-")
    try:
        lo, hi = int(lo_s), int(hi_s if dash else lo_s)
    except ValueError:
        raise ValueError(f"{text!r} is not a {what} (e.g. {example})") from None
    if lo < 0 or hi < lo:
        raise ValueError(f"{text!r} is not a {what} (e.g. {example})")
    return lo, hi


def parse_cpu_list(text: str) -> list[int]:
    """'0', '0-1', '0-3,8' -> sorted CPU ids; ValueError (one line) on anything else."""
    cpus: set[int] = set()
    for part in text.split(","):
        part = part.strip()
        if not part:
            continue
        lo, hi = _int_range(text, part, "CPU list", "0, 0-1 or 0,2-3")
        if hi > MAX_CPU_ID:
            raise ValueError(f"{text!r}: CPU ids go up to {MAX_CPU_ID}")
        cpus.update(range(lo, hi + 1))
    if not cpus:
        raise ValueError(f"{text!r} names no CPU")
    return sorted(cpus)


def parse_workers(text: str, max_workers: int = MAX_WORKERS) -> list[int]:
    """'1,2', '1-4' or '1,2,4-8' -> sorted worker counts between 1 and max_workers."""
    counts: set[int] = set()
    for part in text.split(","):
        lo, hi = _int_range(text, part.strip(), "worker count list", "1,2 or 1-4")
        if lo < 1 or hi > max_workers:
            raise ValueError(f"{text!r}: counts must be between 1 and {max_workers}")
        counts.update(range(lo, hi + 1))
    return sorted(counts)


def parse_cores(text: str) -> list[int]:
    """'8' -> [8]; '64..1024' -> [64, 128, 256, 512, 1024] (doubling; the end is included)."""
    t = text.strip()
    try:
        a_s, sep, b_s = t.partition("..")
        a, b = int(a_s), int(b_s if sep else a_s)
    except ValueError:
        raise ValueError(
            f"{text!r}: cores must be an integer > 0 or a range like 64..1024"
        ) from None
    if a <= 0 or b < a:
        raise ValueError(f"{text!r}: cores must be > 0 (a range must not decrease)")
    if b > MAX_CORES:
        raise ValueError(f"{text!r}: at most {MAX_CORES} emulated cores")
    out = []
    n = a
    while n < b:
        out.append(n)
        n *= 2
    out.append(b)
    return out


def parse_duration(text: str, *, allow_inf: bool = False) -> float:
    """'10ms', '2s', '750us', '0.5' (seconds), 'inf' -> nanoseconds (math.inf for 'inf')."""
    t = text.strip().lower()
    if t in ("inf", "infinite", "endless"):
        if allow_inf:
            return math.inf
        raise ValueError(f"{text!r}: 'inf' is not allowed here")
    m = _DUR.match(t)
    if not m or m.group(2) not in ("", *_UNITS):
        raise ValueError(f"{text!r} is not a duration (e.g. 10ms, 2s, 750us)")
    value = float(m.group(1)) * _UNITS[m.group(2) or "s"]
    if not math.isfinite(value):
        raise ValueError(f"{text!r} is not a finite duration")
    return value


def parse_percent(text: str, low: float = 0.0, high: float = 1000.0) -> float:
    """'10', '10%' or '2.5 %' -> 0.10, 0.10, 0.025; must lie in (low, high] percent."""
    t = str(text).strip().rstrip("%").strip()
    try:
        pct = float(t)
    except ValueError:
        raise ValueError(f"{text!r} is not a percentage (e.g. 10 or 10%)") from None
    if not (low < pct <= high):  # also refuses nan
        raise ValueError(f"{text!r} must be between {low:g} % (excluded) and {high:g} %")
    return pct / 100
