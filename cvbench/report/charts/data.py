"""The chart data: a results document loaded, filtered to usable rows and item records, and
the small statistics the charts share.  No matplotlib here."""

from __future__ import annotations

import statistics
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cvbench.report.charts.style import MODEL_COLOURS
from cvbench.results.read import load_document
from cvbench.results.schema import SCHEMA_VERSION

Key = tuple[str, str, int]  # workload, model, workers
ITEM_FIELDS = ["index", "worker", "arrival_us", "submitted_us", "started_us", "finished_us"]


def load_results(path: str | Path) -> dict[str, Any]:
    """The results JSON (full) or CSV (rows only, no items), any schema version: charts skip
    rows of another schema with a note instead of refusing the file. ResultsError on bad input.
    """
    return load_document(path, any_schema=True)


@dataclass
class Data:
    """The usable part of a results document, and notes on what was left out."""

    rows: list[dict[str, Any]]  # measured, ok, this schema
    predicted: list[dict[str, Any]]  # predicted=true rows, this schema
    items: dict[tuple[str, str, int, int], dict[str, Any]] | None  # None: no items (CSV)
    env: dict[str, Any]
    all_rows: list[dict[str, Any]]  # every row of this schema, failed ones too (for tables)
    notes: list[str] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def workloads(self) -> list[str]:
        """Workloads of the usable rows, in file order."""
        return list(dict.fromkeys(r["workload"] for r in self.rows))

    def workloads_with(self, cells: Iterable[tuple[Any, ...]]) -> list[str]:
        """Workloads (in file order) that have one of ``cells`` (keys whose first part is the
        workload): a chart draws a subplot only where it has something to draw."""
        have = {k[0] for k in cells}
        return [w for w in self.workloads if w in have]

    def models(self, workload: str | None = None) -> list[str]:
        """Models of the usable rows (of one workload), in colour-table order."""
        seen = dict.fromkeys(
            r["model"] for r in self.rows if workload is None or r["workload"] == workload
        )
        order = {m: i for i, m in enumerate(MODEL_COLOURS)}
        return sorted(seen, key=lambda m: (order.get(m, len(order)), m))


def _label(r: Mapping[str, Any]) -> str:
    return f"{r.get('workload')} · {r.get('model')} · {r.get('workers')} workers"


def prepare(doc: Mapping[str, Any] | Sequence[Mapping[str, Any]] | Data) -> Data:
    """Keep rows of this schema that succeeded; note every row or file left out."""
    if isinstance(doc, Data):
        return doc
    if not isinstance(doc, Mapping):  # bare CSV rows
        doc = {"schema_version": SCHEMA_VERSION, "rows": list(doc)}
    notes: list[str] = []
    env = dict(doc.get("environment") or {})
    version = doc.get("schema_version")
    if version != SCHEMA_VERSION:
        notes.append(
            f"file has schema_version {version!r}, this cvbench reads {SCHEMA_VERSION}: "
            "skipped all of it (re-run, or plot it with a matching cvbench)"
        )
        return Data([], [], None, env, [], notes)
    rows, predicted, all_rows = [], [], []
    for r in doc.get("rows") or []:
        v = r.get("schema_version")
        if v is not None and str(v) != str(SCHEMA_VERSION):
            notes.append(f"skipped row {_label(r)}: schema_version {v!r}")
            continue
        if r.get("predicted"):
            if r.get("ok") is False:
                notes.append(f"skipped failed prediction {_label(r)}")
            elif r.get("throughput_per_s"):
                predicted.append(r)
            continue
        all_rows.append(r)
        if not r.get("ok"):
            notes.append(
                f"skipped failed row {_label(r)} rep {r.get('repetition')}: "
                f"{r.get('error') or 'not ok'}"
            )
            continue
        rows.append(r)
    items: dict[tuple[str, str, int, int], dict[str, Any]] | None = None
    if "items" in doc:
        usable = {
            (r["workload"], r["model"], int(r["workers"]), int(r["repetition"])) for r in rows
        }
        items = {}
        for it in doc.get("items") or []:
            key = (it["workload"], it["model"], int(it["workers"]), int(it["repetition"]))
            if key in usable and set(ITEM_FIELDS) <= set(it.get("fields", ITEM_FIELDS)):
                items[key] = it
    else:
        notes.append(
            "no per-item records (CSV input): charts that need them are skipped; "
            "plot the JSON file for everything"
        )
    extra = {
        k: doc.get(k)
        for k in ("harness_overhead", "parallel_ceiling", "prep_s", "interrupted", "source")
    }
    return Data(rows, predicted, items, env, all_rows, notes, extra)


def _split(doc: Any) -> tuple[Data, list[str]]:
    """The data and the notes a single chart should return (prepare's only when standalone)."""
    standalone = not isinstance(doc, Data)
    data = prepare(doc)
    return data, list(data.notes) if standalone else []


def _stat(values: Iterable[float | None]) -> tuple[float, float, float] | None:
    """Median, min, max of the values that are not None; None when there are none."""
    v = [float(x) for x in values if x is not None]
    return (statistics.median(v), min(v), max(v)) if v else None


def _by_cell(
    rows: Iterable[dict[str, Any]], get: Callable[[dict[str, Any]], float | None]
) -> dict[Key, tuple[float, float, float]]:
    """Median, min, max of ``get(row)`` over the repetitions of each workload/model/workers."""
    groups: dict[Key, list[float | None]] = {}
    for r in rows:
        groups.setdefault((r["workload"], r["model"], int(r["workers"])), []).append(get(r))
    return {k: s for k, v in groups.items() if (s := _stat(v)) is not None}


def _cpu_count(data: Data, workload: str) -> int:
    """Cores the run had: the rows' ``cpus`` list, else the environment's."""
    for r in data.rows:
        if r["workload"] == workload and r.get("cpus") not in (None, ""):
            return len(str(r["cpus"]).split())
    cpus = data.env.get("allowed_cpus")
    return len(cpus) if cpus else int(data.env.get("host_cores") or 1)


def _widest(data: Data, workload: str, model: str) -> int | None:
    """The largest worker count this model has items for (sequential: 1)."""
    counts = [k[2] for k in data.items or {} if k[0] == workload and k[1] == model]
    return max(counts) if counts else None


def _records(it: dict[str, Any]) -> list[dict[str, int]]:
    """An item block's records as dicts keyed by its field names."""
    f = it.get("fields", ITEM_FIELDS)
    return [dict(zip(f, r, strict=False)) for r in it["records"]]


def _first_rep(data: Data, workload: str, model: str, workers: int) -> dict[str, Any] | None:
    """The item block of the lowest repetition of this cell, if any."""
    reps = sorted(k[3] for k in data.items or {} if k[:3] == (workload, model, workers))
    return data.items[(workload, model, workers, reps[0])] if reps and data.items else None
