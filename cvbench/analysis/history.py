"""Trends over many results files (one per commit, say) and the change points in them.

Each file gives one value per group (workload x model x workers): the median of its ok,
measured rows of the metric. Over the files in time order that is one short series per group,
and a change point is where its level steps. "Differs from the previous file" would flag
every noisy file, so the steps come from a penalised piecewise-constant fit instead: PELT
(``ruptures``) with an L1 cost, as in asv's step detection. L1 because one outlier file (a
noisy neighbour during one CI job) then costs its distance, not its square, and does not buy
a segment of its own. The penalty is ``PENALTY_FACTOR * sigma * ln(n)``, sigma being a robust
noise estimate (MAD of first differences, which a single step barely moves), so the same rule
works for items/s and for milliseconds, for quiet and for noisy machines.

Calibration (simulated series of 10, 30 and 100 files, 300 each, +-3 % noise, Gaussian 3 % and
5 %, 7 % outliers of +-15 %): factor 3 reported a step in <= 3 % of step-free series of 10 files
and <= 0.3 % of 30 or more, and found a 20 % step within +-1 file, alone, in 95-100 % of the
30-file series (84-99 % of 10-file series: a step in the last two files has little evidence).
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any

import numpy as np

from cvbench.results.read import ResultsError, load_document
from cvbench.results.schema import DEFAULT_METRIC, metric_info

PENALTY_FACTOR = 3.0
#: Fewest files a level must last to count as one: a single odd file is an outlier, not a step.
MIN_SEGMENT_FILES = 2
#: Noise floor as a fraction of the level: files that repeat one value would otherwise make
#: sigma 0 and every rounding wobble a "change".
_SIGMA_FLOOR = 1e-3
_MAD_TO_SIGMA = 1.4826  # MAD of a normal sample x this = its standard deviation
SUFFIXES = (".csv", ".json")

Key = tuple[str, str, int]


@dataclass(frozen=True)
class ResultFile:
    """One results file of the history, in time order."""

    index: int
    source: str
    timestamp: str  # ISO 8601
    time_from: str  # "metadata" (its timestamp) or "mtime" (the file's modification time)


@dataclass(frozen=True)
class Segment:
    """Files ``start`` .. ``end - 1`` (history indices) share one level: their median."""

    start: int
    end: int
    median: float
    n_files: int


@dataclass(frozen=True)
class ChangePoint:
    """A level change that starts at ``file`` (the first file of the new segment)."""

    file: ResultFile
    before: float  # median of the previous segment
    after: float  # median of the new one
    worse: bool  # in the metric's bad direction

    @property
    def change_pct(self) -> float | None:
        return None if self.before == 0 else (self.after / self.before - 1) * 100


@dataclass(frozen=True)
class Trend:
    """One group's per-file medians, their segments and the changes between them."""

    workload: str
    model: str
    workers: int
    values: tuple[float | None, ...]  # one per history file; None: the file lacks the group
    segments: tuple[Segment, ...]
    changes: tuple[ChangePoint, ...]
    verdict: str  # regression | improvement | same | too few files | not in newest file
    gated: bool  # it has a value in the newest file, so its newest segment is judged

    @property
    def name(self) -> str:
        return f"{self.workload}/{self.model}/{self.workers}w"

    @property
    def present(self) -> list[float]:
        return [v for v in self.values if v is not None]


@dataclass(frozen=True)
class History:
    metric: str
    unit: str
    bigger_is_better: bool
    threshold: float  # fraction, 0.10 = 10 %
    files: tuple[ResultFile, ...]
    trends: tuple[Trend, ...]
    notes: tuple[str, ...] = field(default_factory=tuple)

    @property
    def regressions(self) -> list[Trend]:
        return [t for t in self.trends if t.gated and t.verdict == "regression"]

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready form (``--json``)."""

        def change(c: ChangePoint) -> dict[str, Any]:
            return {
                "file_index": c.file.index,
                "source": c.file.source,
                "timestamp": c.file.timestamp,
                "before": c.before,
                "after": c.after,
                "change_pct": c.change_pct,
                "worse": c.worse,
            }

        return {
            "metric": self.metric,
            "unit": self.unit,
            "bigger_is_better": self.bigger_is_better,
            "threshold": self.threshold,
            "method": f"ruptures PELT, L1 cost, penalty {PENALTY_FACTOR:g} x sigma x ln(n), "
            f"sigma = {_MAD_TO_SIGMA} x MAD(first differences) / sqrt(2), "
            f"min {MIN_SEGMENT_FILES} files per segment",
            "files": [vars(f) for f in self.files],
            "groups": [
                {
                    "group": t.name,
                    "workload": t.workload,
                    "model": t.model,
                    "workers": t.workers,
                    "values": list(t.values),
                    "segments": [vars(s) for s in t.segments],
                    "changes": [change(c) for c in t.changes],
                    "verdict": t.verdict,
                    "gated": t.gated,
                }
                for t in self.trends
            ],
            "regressions": [t.name for t in self.regressions],
            "notes": list(self.notes),
        }


# --- change points ---------------------------------------------------------------------------


def noise_sigma(values: Sequence[float]) -> float:
    """Robust noise of a series: scaled MAD of its first differences / sqrt(2).

    Differences cancel the level, so a step shows up as one large difference, which the median
    ignores; iid noise of sd s gives differences of sd s*sqrt(2). Floored at 0.1 % of the level.
    """
    y = np.asarray(values, dtype=np.float64)
    floor = _SIGMA_FLOOR * float(np.median(np.abs(y))) if y.size else 0.0
    if y.size < 3:
        return max(floor, 1e-12)
    d = np.diff(y)
    sigma = _MAD_TO_SIGMA * float(np.median(np.abs(d - np.median(d)))) / math.sqrt(2)
    return max(sigma, floor, 1e-12)


def change_points(
    values: Sequence[float],
    penalty_factor: float = PENALTY_FACTOR,
    min_size: int = MIN_SEGMENT_FILES,
) -> list[int]:
    """Indices where a new level starts (0 < i < len), by PELT with an L1 cost."""
    n = len(values)
    if n < 2 * min_size:
        return []
    import ruptures  # ~0.3 s to import (scipy): only when there is something to fit

    signal = np.asarray(values, dtype=np.float64).reshape(-1, 1)
    penalty = penalty_factor * noise_sigma(values) * math.log(n)
    algo = ruptures.Pelt(model="l1", min_size=min_size, jump=1).fit(signal)
    return [int(b) for b in algo.predict(pen=penalty) if b < n]


# --- files -----------------------------------------------------------------------------------


def discover(paths: Iterable[str | Path]) -> list[Path]:
    """Files as given, folders expanded to their *.csv and *.json (not recursive)."""
    out: list[Path] = []
    given = [Path(p) for p in paths]
    if not given:
        raise ResultsError("no results files given (name files or a folder)")
    for p in given:
        if p.is_dir():
            found = sorted(f for f in p.iterdir() if f.suffix.lower() in SUFFIXES and f.is_file())
            if not found:
                raise ResultsError(f"{p}: no *.csv or *.json results files in this folder")
            out += found
        else:
            out.append(p)
    return list(dict.fromkeys(out))


def _parse_time(text: Any) -> dt.datetime | None:
    if not isinstance(text, str) or not text.strip():
        return None
    try:
        t = dt.datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    return t if t.tzinfo else t.replace(tzinfo=dt.UTC)


Medians = dict[Key, float] | None  # None: the file has no column for the metric


def _ordered(paths: list[Path], metric: str) -> tuple[list[tuple[ResultFile, Medians]], list[str]]:
    """Load every file (ResultsError on the first bad one), keep its medians, sort by time.

    Only the medians are kept: a folder of JSON files with every item's record is large."""
    loaded: list[tuple[dt.datetime, str, Path, Medians]] = []
    by_mtime: list[str] = []
    for path in paths:
        doc = load_document(path)
        rows = doc["rows"]
        medians = _file_medians(rows, metric) if any(metric in r for r in rows) else None
        when = _parse_time((doc.get("environment") or {}).get("timestamp"))
        del doc, rows
        how = "metadata"
        if when is None:
            how = "mtime"
            when = dt.datetime.fromtimestamp(path.stat().st_mtime, dt.UTC)
            by_mtime.append(path.name)
        loaded.append((when, how, path, medians))
    # JSON first among twins: it holds the items and the environment too.
    loaded.sort(key=lambda e: (e[0], e[2].suffix.lower() != ".json", str(e[2])))
    notes: list[str] = []
    if by_mtime:
        shown = ", ".join(by_mtime[:3]) + (", ..." if len(by_mtime) > 3 else "")
        notes.append(
            f"{len(by_mtime)} file(s) have no timestamp in their metadata ({shown}): "
            "ordered by file modification time"
        )
    # `run --csv a.csv --json a.json` writes one run twice: count it once.
    kept: list[tuple[dt.datetime, str, Path, Medians]] = []
    seen: dict[tuple[dt.datetime, str], Path] = {}
    for entry in loaded:
        when, _, path, _ = entry
        twin = seen.get((when, path.stem))
        if twin is not None:
            notes.append(f"{path.name}: same run as {twin.name} (name and timestamp): read once")
            continue
        seen[(when, path.stem)] = path
        kept.append(entry)
    kept.sort(key=lambda e: (e[0], str(e[2])))
    times = [e[0] for e in kept]
    if len(set(times)) < len(times):
        notes.append("some files share a timestamp: those are ordered by file name")
    files = [
        (ResultFile(i, str(path), when.isoformat(timespec="seconds"), how), medians)
        for i, (when, how, path, medians) in enumerate(kept)
    ]
    return files, notes


def _file_medians(rows: Iterable[dict[str, Any]], metric: str) -> dict[Key, float]:
    """Median of each group's ok, measured (not predicted) values of the metric."""
    values: dict[Key, list[float]] = {}
    for row in rows:
        if row.get("predicted") or not row.get("ok"):
            continue
        v = row.get(metric)
        if isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v):
            key = (str(row["workload"]), str(row["model"]), int(row["workers"]))
            values.setdefault(key, []).append(float(v))
    return {k: float(np.median(v)) for k, v in values.items()}


# --- the history -----------------------------------------------------------------------------


def _slowdown(after: float, before: float, bigger_is_better: bool) -> float:
    """Factor in the bad direction (> 1 worse), as the regression gate measures it."""
    if before <= 0 or after < 0:
        return 1.0
    r = after / before
    if bigger_is_better:
        return math.inf if r == 0 else 1 / r
    return r


NEWEST_SIGMAS = 4.0  # the newest file alone is a change when this far from its segment


def _newest_step(
    series: list[float],
    idx: list[int],
    segments: list[Segment],
    files: Sequence[ResultFile],
    bigger_is_better: bool,
    threshold: float,
) -> list[ChangePoint]:
    """The CI question: is the newest file off the level of the files before it? PELT needs
    MIN_SEGMENT_FILES files after a change to see it, so a drop in the newest file alone is
    judged here: beyond the threshold from the median of its segment's earlier files, and
    beyond NEWEST_SIGMAS of their noise."""
    if len(series) < 4 or not segments or segments[-1].n_files < 4:
        return []
    before = series[-segments[-1].n_files : -1]
    level, newest = float(np.median(before)), series[-1]
    factor = _slowdown(newest, level, bigger_is_better)
    beyond = abs(newest - level) > NEWEST_SIGMAS * noise_sigma(before)
    if not beyond or 1 / (1 + threshold) <= factor <= 1 + threshold:
        return []
    return [ChangePoint(files[idx[-1]], before=level, after=newest, worse=factor > 1)]


def _trend(
    key: Key,
    values: list[float | None],
    files: Sequence[ResultFile],
    bigger_is_better: bool,
    threshold: float,
) -> Trend:
    idx = [i for i, v in enumerate(values) if v is not None]
    series = [float(v) for v in values if v is not None]
    cuts = change_points(series)
    bounds = [0, *cuts, len(series)]
    segments = [
        Segment(idx[a], idx[b - 1] + 1, float(np.median(series[a:b])), b - a)
        for a, b in zip(bounds, bounds[1:], strict=False)
    ]
    changes = [
        ChangePoint(
            files[s.start],
            before=p.median,
            after=s.median,
            worse=_slowdown(s.median, p.median, bigger_is_better) > 1,
        )
        for p, s in zip(segments, segments[1:], strict=False)
    ]
    changes += _newest_step(series, idx, segments, files, bigger_is_better, threshold)
    gated = values[-1] is not None
    if not gated:
        verdict = "not in newest file"
    elif len(series) < 2 * MIN_SEGMENT_FILES:
        verdict = "too few files"
    elif not changes:
        verdict = "same"
    else:
        factor = _slowdown(changes[-1].after, changes[-1].before, bigger_is_better)
        verdict = (
            "regression"
            if factor > 1 + threshold
            else "improvement"
            if factor < 1 / (1 + threshold)
            else "same"
        )
    return Trend(*key, tuple(values), tuple(segments), tuple(changes), verdict, gated)


def build_history(
    paths: Iterable[str | Path],
    metric: str = DEFAULT_METRIC,
    threshold: float = 0.10,
    groups: Sequence[str] = (),
    last: int | None = None,
) -> History:
    """Load, order and analyse; ResultsError (one line) on unusable input, ValueError on an
    unknown metric. ``groups`` are globs on "workload/model/Nw"; ``last`` keeps the newest N."""
    info = metric_info(metric)
    if not threshold > 0:
        raise ValueError("threshold must be > 0")
    ordered, notes = _ordered(discover(paths), metric)
    if last is not None and len(ordered) > last:
        notes.append(f"kept the newest {last} of {len(ordered)} files")
        ordered = [
            (ResultFile(i, f.source, f.timestamp, f.time_from), m)
            for i, (f, m) in enumerate(ordered[-last:])
        ]
    files = [f for f, _ in ordered]
    medians = [m or {} for _, m in ordered]
    lacking = [Path(f.source).name for f, m in ordered if m is None]
    if len(lacking) == len(ordered):
        raise ResultsError(f"no file has the column {metric!r}")
    if lacking:
        notes.append(f"{len(lacking)} file(s) have no {metric} column: {', '.join(lacking[:3])}")
    keys = list(dict.fromkeys(k for m in medians for k in m))
    if groups:
        keys = [k for k in keys if any(fnmatchcase(f"{k[0]}/{k[1]}/{k[2]}w", g) for g in groups)]
        if not keys:
            raise ResultsError(
                f"no group matches {', '.join(groups)} (groups are workload/model/Nw)"
            )
    if not keys:
        raise ResultsError(f"no ok, measured {metric} values in any file")
    trends = [
        _trend(k, [m.get(k) for m in medians], files, info.bigger_is_better, threshold)
        for k in keys
    ]
    few = sum(t.verdict == "too few files" for t in trends)
    if few:
        notes.append(
            f"{few} group(s) have fewer than {2 * MIN_SEGMENT_FILES} files: a change needs "
            f"{MIN_SEGMENT_FILES} files on each side of it"
        )
    return History(
        metric, info.unit, info.bigger_is_better, threshold, tuple(files), tuple(trends),
        tuple(notes),
    )  # fmt: skip
