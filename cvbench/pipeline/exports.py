"""Every file a run writes, through one small interface: an Exporter names its option, says
whether it needs the final document (summary, findings) and renders the document to text.
Adding a format is one entry here; the writer below owns atomic writes and write errors.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cvbench.config import RunConfig
from cvbench.results import gab, write
from cvbench.results.summary import unsupported


@dataclass(frozen=True)
class Exporter:
    option: str  # the run option naming its file
    path: Callable[[RunConfig], Path | None]
    render: Callable[[dict[str, Any], RunConfig], str]
    final_only: bool  # needs the summary and findings: written once, at the end
    full: bool = True  # False: cheap enough to rewrite after every row (the CSV)


def _markdown(doc: dict[str, Any], cfg: RunConfig) -> str:
    rows = doc["rows"]
    return write.markdown_text(
        doc["summary"], doc["environment"], doc["findings"], unsupported(rows)
    )


def _html(doc: dict[str, Any], cfg: RunConfig) -> str:
    """The offline HTML report with its charts (needs the plot extra: PlotError says so)."""
    from cvbench.report.charts import make_plots
    from cvbench.report.html import render_report

    with tempfile.TemporaryDirectory(prefix="cvbench-html-") as tmp:
        paths, notes = make_plots(doc, tmp)
        pngs = [p for p in paths if p.suffix == ".png"]
        return render_report(doc, pngs, notes, "cvbench run")


EXPORTERS: tuple[Exporter, ...] = (
    Exporter("--csv", lambda c: c.csv_path, lambda d, c: write.csv_text(d["rows"]), False, False),
    Exporter("--json", lambda c: c.json_path, lambda d, c: write.document_json(d), False),
    Exporter(
        "--gab", lambda c: c.gab_path, lambda d, c: gab.gab_text(d["rows"], c.gab_metric), True
    ),
    Exporter("--markdown", lambda c: c.markdown_path, _markdown, True),
    Exporter("--html", lambda c: c.html_path, _html, True),
)


class ExportWriter:
    """Writes a run's files; a file that cannot be written (disk full, I/O error) is named
    once through ``on_error`` and never stops the others: a full disk for the CSV must not
    lose the JSON bound elsewhere. One instance per run: no state survives between runs."""

    def __init__(self, cfg: RunConfig, on_error: Callable[[str], None]) -> None:
        self.cfg = cfg
        self.on_error = on_error
        self.errors: dict[str, str] = {}

    def write(self, make_doc: Callable[[bool], dict[str, Any]], full: bool, final: bool) -> None:
        """The cheap files always, the full ones with ``full``, the final ones with ``final``;
        the document is built once, and only when some file needs it."""
        doc: dict[str, Any] | None = None
        for exporter in EXPORTERS:
            path = exporter.path(self.cfg)
            if path is None or (exporter.full and not full) or (exporter.final_only and not final):
                continue
            doc = doc if doc is not None else make_doc(final)
            self._write(exporter, path, doc)

    def _write(self, exporter: Exporter, path: Path, doc: dict[str, Any]) -> None:
        try:
            text = exporter.render(doc, self.cfg)
            write.atomic_write(path, text)
        except (OSError, ValueError, ImportError, RuntimeError) as exc:  # PlotError: Runtime
            reason = getattr(exc, "strerror", None) or str(exc)
            if self.errors.get(exporter.option) != reason:
                self.errors[exporter.option] = reason
                self.on_error(f"cvbench: cannot write {exporter.option} {path}: {reason}")
        else:
            self.errors.pop(exporter.option, None)

    def remove_temp_files(self) -> None:
        """After the last write: no temp file of an interrupted write beside any output."""
        for exporter in EXPORTERS:
            path = exporter.path(self.cfg)
            if path is not None and not path.is_char_device():
                write.remove_temp_files(path)

    def written(self) -> list[str]:
        """The files of this run that hold its results now."""
        return [
            str(p)
            for e in EXPORTERS
            if (p := e.path(self.cfg)) is not None and e.option not in self.errors
        ]
