"""One writer per format (CSV, JSON, Markdown; github-action-benchmark is gab.py). Each
rewrites its file atomically after every row, so an interrupted run leaves complete files
with every finished row, never a torn one."""

from __future__ import annotations

import csv
import io
import json
import os
import tempfile
from dataclasses import asdict
from pathlib import Path
from typing import Any

from cvbench.results.schema import ALL_COLUMNS, SCHEMA_VERSION, format_cell
from cvbench.stats import Summary


def atomic_write(path: Path, text: str) -> None:
    """Replace a regular file atomically (temp file beside it + os.replace), so a reader never
    sees a torn file. A symlink is followed (its target is replaced, the link kept); a device
    such as /dev/null is written through, never replaced; a FIFO, socket or folder is refused.
    An OSError always names the file (a write to /dev/full or a full disk says which output).
    """
    try:
        _atomic_write(Path(os.path.realpath(path)), text)
    except OSError as exc:
        if exc.filename is not None or exc.errno is None:
            raise
        raise OSError(exc.errno, exc.strerror, str(path)) from None


def _atomic_write(path: Path, text: str) -> None:
    if path.exists() and not path.is_file():
        if path.is_char_device():
            with path.open("w", newline="") as fh:
                fh.write(text)
            return
        raise IsADirectoryError(0, "not a regular file", str(path))
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:  # from the moment the temp file exists: a Ctrl-C anywhere below must not leave it
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600; results are ordinary files
        with os.fdopen(fd, "w", newline="") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def remove_temp_files(path: Path) -> None:
    """The temp files of atomic_write(path) a signal interrupted in the instant between their
    creation and the handler that removes them: nothing half-written stays beside a result."""
    real = Path(os.path.realpath(path))
    for tmp in real.parent.glob(f".{real.name}.*.tmp"):
        tmp.unlink(missing_ok=True)


def csv_text(rows: list[dict[str, Any]]) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(ALL_COLUMNS)
    for row in rows:
        writer.writerow([format_cell(row.get(c)) for c in ALL_COLUMNS])
    return buf.getvalue()


def _jsonable(value: Any) -> Any:
    if isinstance(value, Summary):
        return asdict(value)
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    return value


def document_json(doc: dict[str, Any]) -> str:
    """A results document (pipeline/document.py) as compact JSON."""
    return json.dumps(_jsonable(doc), separators=(",", ":"), default=str)


def json_text(
    rows: list[dict[str, Any]],
    summary: list[dict[str, Any]],
    env: dict[str, Any],
    items: list[dict[str, Any]],
    extra: dict[str, Any],
) -> str:
    """A document from its parts (readers' tests and hand-made files)."""
    doc = {"schema_version": SCHEMA_VERSION, "environment": env, **extra}
    return document_json({**doc, "rows": rows, "summary": summary, "items": items})


def _fmt(value: float | None, digits: int = 3) -> str:
    return "" if value is None else f"{value:.{digits}g}"


def md_escape(text: Any) -> str:
    """A table cell or a line: a `|` or a line break would end the cell or the row, and raw
    HTML (a model named `<script>` in a results file) is rendered by Markdown viewers, so `&`,
    `<` and `>` become entities."""
    text = str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ")


def markdown_text(
    summary: list[dict[str, Any]],
    env: dict[str, Any],
    findings: list[str] | None = None,
    unsupported: dict[str, str] | None = None,
) -> str:
    """Findings first, then a compact table, for a CI job summary (GitHub renders it)."""
    lines = [
        "## cvbench results",
        "",
        md_escape(
            f"Python {env.get('python')}, OpenCV {env.get('opencv')}, {env.get('cpu_model')}, "
            f"CPUs {env.get('allowed_cpus')}, kernel {env.get('kernel')}"
        ),
        "",
    ]
    if findings:
        lines += ["**Findings** (claims only where 95 % CIs separate)", ""]
        lines += [f"- {md_escape(f)}" for f in findings] + [""]
    lines += [
        "| workload | model | workers | wall s | items/s | speedup | ctx vol | ctx invol "
        "| latency p99 ms | lag p99 ms | ok |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for s in summary:
        m = s["metrics"]

        def med(name: str, digits: int = 3, m: dict = m) -> str:
            v = m.get(name)
            return "" if v is None else _fmt(v.median, digits) + (" ⚠" if v.unstable else "")

        model = md_escape(s["model"]) + (" ¹" if s.get("inline") else "")
        model += " ‡" if s.get("drift") else ""
        lines.append(
            f"| {md_escape(s['workload'])} | {model} | {s['workers']} "
            f"| {med('wall_s')} "
            f"| {med('throughput_per_s', 4)} | {med('speedup')} | {med('ctx_voluntary', 4)} "
            f"| {med('ctx_involuntary', 4)} | {med('latency_p99_ms')} | {med('lag_p99_ms')} "
            f"| {'✅' if s['ok'] else '❌ ' + md_escape('; '.join(s['errors']))} |"
        )
    lines += [
        "",
        "¹ one OS thread (inline cooperative, or the live emulated kernel): one core at most. "
        "⚠ = unstable (std ≥ 10 % of the mean, or min/max ≥ 50 % from it). "
        "‡ = drift, not a result (a speedup CI above what the model's threads can give). "
        "Speedup = median of paired per-round ratios to sequential.",
        "",
    ]
    for model, reason in (unsupported or {}).items():
        lines.append(f"- unsupported here: {md_escape(model)}: {md_escape(reason)}")
    return "\n".join(lines)
