"""One cell at a time, for an A/B side process (``ab/side_process.py``): the run's session
and repetitions, driven by the parent's schedule instead of the run's own rounds."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

from cvbench.results.schema import blank_row
from cvbench.run_state import Cell, row_name
from cvbench.runner import Runner


class CellRunner(Runner):
    """A Runner whose cells the caller runs one repetition at a time (no ceiling, no
    calibration, no noise sample: the side measures cells, the parent compares them)."""

    @contextlib.contextmanager
    def prepare(self, warmup: bool = True) -> Iterator[dict[str, Cell]]:
        """Jobs built, cells made, warmed up (``warmup``), no calibration and no noise
        sample: the cells by name, for :meth:`run_cell_once`. Models are closed on exit."""
        with self._session(ceiling=False) as cells:
            self.cells = {c.name: c for c in cells}
            if warmup:
                self._warmup(cells)
            yield self.cells

    def run_cell_once(self, name: str, round_index: int) -> tuple[dict[str, Any], list[str]]:
        """One measured repetition of one cell: its row and its per-item output digests.
        A cell that failed before answers with a failed row (its first error)."""
        cell = self.cells[name]
        if cell.broken:
            first = next(
                (r for r in self.result.rows if r.get("error") and row_name(r) == name), None
            )
            error = first["error"] if first else "the cell failed before"
            row = blank_row(**self.columns(cell.workload), model=cell.model.name)
            row.update(workers=cell.workers, ok=False, status="failed", error=error)
            return row, []
        count = len(self.result.rows)
        self.last_item_digests = []
        self._repetition(cell, round_index, position=0)
        row = self.result.rows[-1] if len(self.result.rows) > count else None
        if row is None:  # cannot happen: a measured repetition always emits a row
            row = blank_row(**self.columns(cell.workload), model=cell.model.name)
            row.update(workers=cell.workers, ok=False, status="failed", error="no row")
        return row, self.last_item_digests
