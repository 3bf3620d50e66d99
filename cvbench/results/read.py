"""Read back a results file that `cvbench run` wrote (CSV or JSON) as typed rows.

CI jobs feed these files from artifacts, caches and other machines, so anything can arrive:
a truncated upload, an empty cache, a file from a newer cvbench. Every such problem becomes one
``ResultsError`` line naming the file and the problem, never a traceback.
"""

from __future__ import annotations

import csv
import io
import json
import math
import stat
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from cvbench.results import ranges, shape
from cvbench.results.schema import (
    META_COLUMNS,
    SCHEMA_VERSION,
    columns_of,
)

# Columns every comparison needs; the chosen metric is added by the caller.
REQUIRED = ("workload", "model", "workers", "repetition", "ok")
# Identity columns that must hold a value in every row (a row without them cannot be matched).
_NON_EMPTY = ("workload", "model", "workers", "ok")

TEXT_COLUMNS = columns_of("text")
BOOL_COLUMNS = columns_of("bool")
INT_COLUMNS = columns_of("int")
FLOAT_COLUMNS = columns_of("float")

_TRUE = frozenset({"true", "1", "yes"})
_FALSE = frozenset({"false", "0", "no"})
_MAX_BYTES = 512 * 1024 * 1024


class ResultsError(ValueError):
    """A results file that cannot be used; the message is one line naming file and problem."""


# What every consumer of rows needs besides its own columns (see ``keep`` below).
IDENTITY = (*REQUIRED, "status", "round", "predicted", "error", "items", "schema_version")


def load_results(
    path: str | Path, required: Iterable[str] = (), keep: Iterable[str] | None = None
) -> list[dict[str, Any]]:
    """Typed rows of a CSV or JSON results file; ``required`` adds columns beyond REQUIRED.

    Empty CSV cells become None, numbers become int/float, ``true``/``false`` become bools.
    NaN and infinities become None: they are not measurements and would poison medians.
    ``keep`` (with IDENTITY and ``required``) drops every other column while reading, so a
    gate over a 200 MB file holds only what it compares.
    """
    return load_document(path, required, keep=keep)["rows"]


def load_document(
    path: str | Path,
    required: Iterable[str] = (),
    *,
    any_schema: bool = False,
    keep: Iterable[str] | None = None,
) -> dict[str, Any]:
    """The whole results file: a JSON document as written (rows typed), or a CSV as
    {"rows", "environment" (from its metadata columns), "schema_version"}.

    ``any_schema`` accepts a newer schema_version instead of refusing it: charts skip such rows
    with a note, where the regression gate must stop.
    """
    path = Path(path)
    required = list(required)
    need = list(dict.fromkeys((*REQUIRED, *required)))
    kept = None if keep is None else frozenset((*IDENTITY, *required, *keep))
    text = _read_text(path)
    if not text.strip():
        raise ResultsError(f"{path}: empty file")
    doc: dict[str, Any] = {}
    if _looks_like_json(path, text):
        doc, columns, raw_rows = _json_rows(path, text, any_schema)
        if kept is not None:
            raw_rows = [(w, {k: v for k, v in r.items() if k in kept}) for w, r in raw_rows]
    else:
        columns, raw_rows = _csv_rows(path, text, kept)
    del text
    missing = [c for c in need if c not in columns]
    if missing:
        raise ResultsError(
            f"{path}: missing required column(s) {', '.join(missing)} "
            "(not a cvbench results file, or a metric it does not have)"
        )
    if not raw_rows:
        raise ResultsError(f"{path}: no result rows")
    rows = [_typed_row(path, where, raw) for where, raw in raw_rows]
    if not any_schema:
        for row in rows:
            _check_schema(path, row.get("schema_version"))
    doc = {**doc, "rows": rows, "source": str(path)}
    doc.setdefault("environment", {k: rows[0].get(k) for k in META_COLUMNS})
    if "schema_version" not in doc:
        versions = {r.get("schema_version") for r in rows} - {None}
        doc["schema_version"] = versions.pop() if len(versions) == 1 else SCHEMA_VERSION
    return doc


def _read_text(path: Path) -> str:
    try:
        if path.is_dir():
            raise ResultsError(f"{path}: is a directory, expected a CSV or JSON results file")
        st = path.stat()  # size and kind before reading: /dev/zero or a FIFO never ends
        if not stat.S_ISREG(st.st_mode):
            raise ResultsError(f"{path}: not a regular file (a FIFO or device), not a results file")
        if st.st_size > _MAX_BYTES:
            raise ResultsError(f"{path}: larger than {_MAX_BYTES >> 20} MB, not a results file")
        with path.open("rb") as fh:
            data = fh.read(_MAX_BYTES + 1)
    except FileNotFoundError:
        raise ResultsError(f"{path}: no such file") from None
    except OSError as exc:
        raise ResultsError(f"{path}: cannot read: {exc.strerror or exc}") from None
    if len(data) > _MAX_BYTES:
        raise ResultsError(f"{path}: larger than {_MAX_BYTES >> 20} MB, not a results file")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ResultsError(
            f"{path}: not UTF-8 text (byte {exc.start}); a binary or corrupted file"
        ) from None


def _looks_like_json(path: Path, text: str) -> bool:
    suffix = path.suffix.lower()
    if suffix in (".json", ".csv"):
        return suffix == ".json"
    return text.lstrip()[:1] in ("{", "[")


def _json_rows(
    path: Path, text: str, any_schema: bool = False
) -> tuple[dict[str, Any], set[str], list[tuple[str, dict[str, Any]]]]:
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ResultsError(
            f"{path}: invalid or truncated JSON at line {exc.lineno} column {exc.colno}: {exc.msg}"
        ) from None
    except (RecursionError, ValueError) as exc:
        raise ResultsError(f"{path}: invalid JSON: {str(exc)[:80]}") from None
    if not isinstance(doc, dict | list):
        raise ResultsError(f"{path}: expected a JSON object with 'rows', got {type(doc).__name__}")
    if isinstance(doc, dict):
        if not any_schema:
            _check_schema(path, doc.get("schema_version"))
        wrong = shape.problem(doc)
        if wrong:
            raise ResultsError(f"{path}: {wrong}")
        if "rows" not in doc:
            raise ResultsError(f"{path}: JSON has no 'rows' key (not a cvbench results file)")
        rows = doc["rows"]
    else:
        rows = doc  # a bare list of row objects is accepted too
    if not isinstance(rows, list):
        raise ResultsError(f"{path}: JSON 'rows' must be a list of row objects")
    columns: set[str] = set()
    out = []
    for i, row in enumerate(rows):
        if not isinstance(row, dict):
            raise ResultsError(f"{path}: row {i}: expected an object, got {type(row).__name__}")
        columns.update(row)
        out.append((f"row {i}", row))
    if out:
        # A column counts as present only if every row has it, as in a CSV.
        columns = set.intersection(*(set(r) for _, r in out))
    return (doc if isinstance(doc, dict) else {}), columns, out


def _csv_rows(
    path: Path, text: str, kept: frozenset[str] | None = None
) -> tuple[set[str], list[tuple[str | int, dict[str, Any]]]]:
    """Header and raw records, streamed (never the whole table as lists of every cell)."""
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    try:
        header_rec = next((r for r in reader if r), None)
        if header_rec is None:
            raise ResultsError(f"{path}: empty file")
        header = [h.strip() for h in header_rec]
        dupes = sorted({h for h in header if header.count(h) > 1})
        if dupes:
            raise ResultsError(f"{path}: duplicate column(s) in the header: {', '.join(dupes)}")
        picks = [(i, h) for i, h in enumerate(header) if kept is None or h in kept]
        width = len(header)
        out: list[tuple[str | int, dict[str, Any]]] = []
        for rec in reader:
            if not rec:
                continue  # blank lines
            if len(rec) != width:
                raise ResultsError(
                    f"{path}: CSV record {reader.line_num} has {len(rec)} fields, the header "
                    f"has {width} (truncated or corrupted file?)"
                )
            out.append((reader.line_num, {h: rec[i] for i, h in picks}))
    except csv.Error as exc:
        raise ResultsError(f"{path}: invalid CSV: {exc}") from None
    return set(header), out


def _typed_row(path: Path, where: str | int, raw: dict[str, Any]) -> dict[str, Any]:
    if isinstance(where, int):
        where = f"CSV record {where}"
    row = {str(k): _coerce(path, where, str(k), v) for k, v in raw.items()}
    for col in _NON_EMPTY:
        if col == "ok" and row.get("status") == "unsupported":
            continue  # a model that cannot run here is neither ok nor failed
        if col in row and row[col] is None:
            raise ResultsError(f"{path}: {where}: empty {col!r}")
    impossible = ranges.problem(row)
    if impossible:
        raise ResultsError(f"{path}: {where}: {impossible}")
    return row


def _coerce(path: Path, where: str, column: str, value: Any) -> Any:
    """One cell to its column's type; a wrong type is a ResultsError naming row and column."""
    if type(value) is str and value:  # the common CSV case, fast: plain float/int/text cells
        if column in FLOAT_COLUMNS:
            try:
                number = float(value)
            except ValueError:
                pass
            else:
                return number if math.isfinite(number) else None
        elif column in TEXT_COLUMNS and value[0] != " " and value[-1] != " ":
            return value
    return _coerce_any(path, where, column, value)


def _coerce_any(path: Path, where: str, column: str, value: Any) -> Any:
    def bad(expected: str) -> ResultsError:
        shown = repr(value) if len(repr(value)) <= 40 else repr(value)[:37] + "..."
        return ResultsError(f"{path}: {where}: column {column!r} expects {expected}, got {shown}")

    if isinstance(value, str):
        value = value.strip()
        if value == "":
            return None
    if value is None:
        return None
    if column in TEXT_COLUMNS:
        if isinstance(value, dict | list):
            raise bad("text")
        return value if isinstance(value, str) else json.dumps(value)
    if column in BOOL_COLUMNS:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in _TRUE | _FALSE:
            return value.lower() in _TRUE
        if isinstance(value, int) and value in (0, 1):
            return bool(value)
        raise bad("true/false")
    if column in INT_COLUMNS:
        number = _number(value)
        if isinstance(number, int):
            return number
        if number is None or math.isfinite(number) and not number.is_integer():
            raise bad("an integer")
        return int(number) if math.isfinite(number) else None
    if column in FLOAT_COLUMNS:
        number = _number(value)
        if number is None:
            raise bad("a number")
        return _finite(number)
    # Unknown column: keep it, typed by appearance (never an error: a newer writer may add it).
    if isinstance(value, str):
        lowered = value.lower()
        if lowered in ("true", "false"):
            return lowered == "true"
        number = _number(value)
        if number is not None:
            return number if isinstance(number, int) else _finite(number)
    return value


def _number(value: Any) -> int | float | None:
    """int or float from a JSON number or a CSV cell; None when it is not a number."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return value
    if not isinstance(value, str) or len(value) > 64:
        return None
    try:
        return int(value)
    except ValueError:
        pass
    try:
        return float(value)
    except ValueError:
        return None


def _finite(number: int | float) -> float | None:
    """A float, or None for NaN, infinities and integers too large for a float."""
    try:
        result = float(number)
    except OverflowError:
        return None
    return result if math.isfinite(result) else None


def _check_schema(path: Path, version: Any) -> None:
    if version is None:
        return
    number = _number(version.strip() if isinstance(version, str) else version)
    if isinstance(number, float) and number.is_integer():
        number = int(number)
    if not isinstance(number, int):
        raise ResultsError(f"{path}: schema_version must be an integer, got {version!r:.40}")
    if number > SCHEMA_VERSION:
        raise ResultsError(
            f"{path}: written by a newer cvbench (schema_version {int(number)}, this cvbench "
            f"reads up to {SCHEMA_VERSION}); upgrade cvbench"
        )
