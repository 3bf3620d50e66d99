"""Regression gate: compare two results files group by group (workload x model x workers).

A group regresses only when its median moved beyond ``threshold`` in the bad direction AND the
move is significant. Significance is "Mann-Whitney U p < alpha" (asv's test) OR "the 95 %
bootstrap CI of the ratio of medians lies entirely beyond the threshold". The second arm exists
because CI jobs run few repetitions: with 3 vs 3 the exact two-sided U test cannot go below
p = 0.1, so the test alone could never flag anything; a CI wholly beyond the threshold still
says every resample agrees the change is larger than the noise.

Changes are measured as a *slowdown factor* so that time and rate metrics agree: wall_s x1.25
and throughput / 1.25 are both a factor 1.25 in the bad direction. A regression is a factor
above ``1 + threshold``; an improvement is a factor below ``1 / (1 + threshold)``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from cvbench.results.read import ResultsError, load_results
from cvbench.results.schema import DEFAULT_METRIC, Column, metric_info
from cvbench.stats import bootstrap_ratio_ci, mann_whitney_u, ratio

NORMALIZE = ("none", "sequential")
REFERENCE_MODEL = "sequential"
NOISE_Z = 3.0  # --threshold auto: a change must exceed 3 combined standard errors
AA_FACTOR = 1.5  # --noise FILE: 1.5 x the A/A file's observed change counts as noise

Key = tuple[str, str, int]


class NoMatchError(ResultsError):
    """The two files share no workload x model x workers group with data: nothing to gate."""


# --- comparison ------------------------------------------------------------------------------


@dataclass(frozen=True)
class GroupResult:
    workload: str
    model: str
    workers: int
    verdict: str  # regression | improvement | same | missing | new | no data | reference |
    #               disturbed (a change measured beside other processes' load: not judged)
    base: float | None = None  # median of the (possibly normalized) metric
    current: float | None = None
    n_base: int = 0
    n_current: int = 0
    ratio: float | None = None  # current / base
    ci: tuple[float, float] | None = None  # 95 % bootstrap CI of the ratio
    p: float | None = None  # Mann-Whitney U, two-sided
    note: str = ""
    threshold: float | None = None  # the threshold this group was judged against (auto: own)

    @property
    def name(self) -> str:
        return f"{self.workload}/{self.model}/{self.workers}w"


@dataclass(frozen=True)
class Comparison:
    metric: str
    bigger_is_better: bool
    threshold: float  # fraction, 0.10 = 10 %
    alpha: float
    normalize: str
    groups: list[GroupResult] = field(default_factory=list)
    auto: bool = False  # per-group thresholds raised to each group's noise floor

    @property
    def regressions(self) -> list[GroupResult]:
        return [g for g in self.groups if g.verdict == "regression"]

    @property
    def improvements(self) -> list[GroupResult]:
        return [g for g in self.groups if g.verdict == "improvement"]

    def change_pct(self, group: GroupResult) -> float | None:
        """Signed change of the median in percent (positive = the metric went up)."""
        if group.ratio is None or not math.isfinite(group.ratio):
            return None
        pct = (group.ratio - 1) * 100
        return 0.0 if abs(pct) < 0.05 else pct


def _groups(
    rows: Iterable[dict[str, Any]], metric: str
) -> tuple[dict[Key, list[float]], dict[Key, str]]:
    """Metric values per group from ok, measured rows; plus why groups with no ok rows failed."""
    values: dict[Key, list[float]] = {}
    failed: dict[Key, str] = {}
    for row in rows:
        if row.get("predicted") or row.get("status") == "unsupported":
            continue
        try:
            key = (str(row["workload"]), str(row["model"]), int(row["workers"]))
        except (KeyError, TypeError, ValueError):
            continue
        if not row.get("ok"):
            failed.setdefault(key, str(row.get("error") or "failed"))
            continue
        v = row.get(metric)
        bucket = values.setdefault(key, [])
        if isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v):
            bucket.append(float(v))
    return values, {k: e for k, e in failed.items() if k not in values}


def _disturbed(rows: Iterable[dict[str, Any]]) -> dict[Key, tuple[int, int, float]]:
    """Per group: (rounds marked disturbed, measured rounds, the most CPUs others used)."""
    out: dict[Key, tuple[int, int, float]] = {}
    for row in rows:
        if row.get("predicted") or not row.get("ok"):
            continue
        try:
            key = (str(row["workload"]), str(row["model"]), int(row["workers"]))
        except (KeyError, TypeError, ValueError):
            continue
        hit, n, most = out.get(key, (0, 0, 0.0))
        others = row.get("others_cpu")
        load = float(others) if isinstance(others, int | float) and math.isfinite(others) else 0.0
        out[key] = (hit + (row.get("disturbed") is True), n + 1, max(most, load))
    return out


def _first_line(text: str, limit: int = 60) -> str:
    line = text.strip().splitlines()[0] if text.strip() else "failed"
    return line if len(line) <= limit else line[: limit - 1] + "…"


def _paired(rows: list[dict[str, Any]], metric: str) -> dict[Key, list[float]] | None:
    """Each value over the sequential value of the *same round* (randomized interleaved runs).

    Pairing within a round cancels drift that unpaired medians taken minutes apart keep.
    None when the file has no rounds (a round-one file): then _normalized divides by medians.
    """
    if not any(r.get("round") is not None for r in rows):
        return None
    refs: dict[tuple[str, int], float] = {}
    for r in rows:
        v = r.get(metric)
        usable = r.get("ok") and not r.get("predicted") and r.get("round") is not None
        if r.get("model") == REFERENCE_MODEL and usable and isinstance(v, int | float) and v:
            refs[(str(r["workload"]), int(r["round"]))] = float(v)
    out: dict[Key, list[float]] = {}
    for r in rows:
        if r.get("predicted") or not r.get("ok") or r.get("round") is None:
            continue
        v, ref = r.get(metric), refs.get((str(r["workload"]), int(r["round"])))
        key = (str(r["workload"]), str(r["model"]), int(r["workers"]))
        bucket = out.setdefault(key, [])
        if isinstance(v, int | float) and not isinstance(v, bool) and ref and math.isfinite(v):
            bucket.append(float(v) / ref)
    return out


def noise_floor(base: Sequence[float], current: Sequence[float], z: float = NOISE_Z) -> float:
    """The smallest relative change this group's own spread can resolve.

    Robust relative standard error of each median (1.2533 x 1.4826 x MAD / median / sqrt(n)),
    combined for the ratio, times z. A group whose repetitions scatter by 10 % cannot support
    a 10 % verdict, whatever threshold the user asked for.
    """

    def rel_se(values: Sequence[float]) -> float:
        arr = np.asarray(values, dtype=np.float64)
        med = float(np.median(arr))
        if arr.size < 2 or med == 0:
            return 0.0
        mad = float(np.median(np.abs(arr - med)))
        return 1.2533 * 1.4826 * mad / abs(med) / math.sqrt(arr.size)

    return z * math.hypot(rel_se(base), rel_se(current))


def _aa_floor(base: list[float], noise: list[float] | None) -> float:
    """What an A/A file (the same code measured again) says this machine's drift is."""
    if not noise or not base:
        return 0.0
    mb, mn = float(np.median(base)), float(np.median(noise))
    if mb <= 0 or mn <= 0:
        return 0.0
    return AA_FACTOR * abs(math.log(mn / mb))


def _normalized(groups: dict[Key, list[float]]) -> tuple[dict[Key, list[float]], set[Key]]:
    """Each value divided by the same file's sequential median for its workload.

    A baseline from another machine then still means something: the ratio to sequential
    cancels the machine's raw speed. Returns the groups that had no usable reference.
    """
    refs: dict[str, float] = {}
    for (workload, model, _), vals in groups.items():
        if model == REFERENCE_MODEL and vals:
            refs.setdefault(workload, float(np.median(vals)))
    out: dict[Key, list[float]] = {}
    orphans: set[Key] = set()
    for key, vals in groups.items():
        ref = refs.get(key[0])
        if ref is None or ref == 0:
            orphans.add(key)
            out[key] = []
        else:
            out[key] = [v / ref for v in vals]
    return out, orphans


def _judge(
    base: list[float], cur: list[float], info: Column, threshold: float, alpha: float
) -> tuple[str, float, tuple[float, float] | None, float | None, str]:
    """verdict, ratio, ci, p, note for one group with data on both sides."""
    mb, mc = float(np.median(base)), float(np.median(cur))
    change = float(ratio(mc, mb))
    if mb < 0 or mc < 0:
        return "same", change, None, None, "ratio undefined for negative values"

    def slowdown(r: float) -> float:
        """Factor in the bad direction: > 1 is worse, whatever the metric's direction."""
        if info.bigger_is_better:
            return math.inf if r == 0 else 1 / r
        return r

    worse = slowdown(change) > 1 + threshold
    better = slowdown(change) < 1 / (1 + threshold)
    if min(len(base), len(cur)) < 2:
        n = min(len(base), len(cur))
        verdict = "regression" if worse else "improvement" if better else "same"
        return verdict, change, None, None, f"threshold only: {n} repetition"
    ci = bootstrap_ratio_ci(base, cur)
    p = mann_whitney_u(cur, base).p
    slow_ci = sorted(slowdown(r) for r in ci)
    if worse:
        if p < alpha or slow_ci[0] > 1 + threshold:
            return "regression", change, ci, p, ""
        return "same", change, ci, p, "beyond threshold but not significant"
    if better:
        if p < alpha or slow_ci[1] < 1 / (1 + threshold):
            return "improvement", change, ci, p, ""
        return "same", change, ci, p, "beyond threshold but not significant"
    return "same", change, ci, p, ""


def compare(
    base_rows: Iterable[dict[str, Any]],
    current_rows: Iterable[dict[str, Any]],
    metric: str = DEFAULT_METRIC,
    threshold: float = 0.10,
    alpha: float = 0.05,
    normalize: str = "none",
    auto: bool = False,
    noise_rows: Iterable[dict[str, Any]] | None = None,
) -> Comparison:
    """Judge every group; NoMatchError when no group has data on both sides.

    ``auto`` raises each group's threshold to its noise floor: the spread of its own rounds in
    both files (noise_floor) and, given ``noise_rows`` from an A/A run, the drift between that
    run and BASE. ``threshold`` stays the minimum.
    """
    info = metric_info(metric)
    if normalize not in NORMALIZE:
        raise ValueError(f"normalize must be one of {', '.join(NORMALIZE)}, not {normalize!r}")
    if not threshold > 0:
        raise ValueError("threshold must be > 0")
    if not 0 < alpha < 1:
        raise ValueError("alpha must be between 0 and 1")
    base_rows, current_rows = list(base_rows), list(current_rows)
    base, base_failed = _groups(base_rows, metric)
    cur, cur_failed = _groups(current_rows, metric)
    noise = _groups(list(noise_rows), metric)[0] if noise_rows is not None else {}
    load = {"base": _disturbed(base_rows), "current": _disturbed(current_rows)}
    orphans: set[Key] = set()
    if normalize == "sequential":
        paired_b, paired_c = _paired(base_rows, metric), _paired(current_rows, metric)
        base, o1 = (paired_b, set()) if paired_b is not None else _normalized(base)
        cur, o2 = (paired_c, set()) if paired_c is not None else _normalized(cur)
        orphans = o1 | o2
        if noise:
            paired_n = _paired(list(noise_rows or []), metric)
            noise = paired_n if paired_n is not None else _normalized(noise)[0]
    results: list[GroupResult] = []
    matched = 0
    keys = list(dict.fromkeys([*base, *base_failed, *cur, *cur_failed]))
    for key in keys:
        b, c = base.get(key), cur.get(key)
        common = {"workload": key[0], "model": key[1], "workers": key[2]}
        if b is None or c is None:
            if b is None and c is None:
                continue  # failed on both sides: `cvbench run` already reported it
            verdict = "new" if b is None else "missing"
            side, failures = ("base", base_failed) if b is None else ("current", cur_failed)
            note = f"failed in {side}: {_first_line(failures[key])}" if key in failures else ""
            results.append(GroupResult(verdict=verdict, note=note, **common))
            continue
        stats = {
            "n_base": len(b),
            "n_current": len(c),
            "base": float(np.median(b)) if b else None,
            "current": float(np.median(c)) if c else None,
        }
        if key in orphans:
            results.append(
                GroupResult(verdict="no data", note="no sequential model to normalize by", **common)
            )
            continue
        if not b or not c:
            results.append(GroupResult(verdict="no data", note=f"no {metric} values", **common))
            continue
        matched += 1
        if normalize == "sequential" and key[1] == REFERENCE_MODEL:
            results.append(GroupResult(verdict="reference", ratio=1.0, **stats, **common))
            continue
        limit = threshold
        if auto:
            limit = max(threshold, noise_floor(b, c), _aa_floor(b, noise.get(key)))
        verdict, ratio, ci, p, note = _judge(b, c, info, limit, alpha)
        if auto and limit > threshold and verdict == "same" and not note:
            note = f"noise floor {limit:.0%}"
        if verdict in ("regression", "improvement"):
            hit = [
                f"{side}: {d[0]} of {d[1]} rounds beside {d[2]:.2f} CPUs of other load"
                for side in ("base", "current")
                if (d := load[side].get(key)) and 2 * d[0] >= d[1] > 0
            ]
            if hit:  # the change may be the other load's, not the code's
                verdict, note = "disturbed", "; ".join(hit) + " (not judged: use cvbench ab)"
        results.append(
            GroupResult(
                verdict=verdict,
                ratio=ratio,
                ci=ci,
                p=p,
                note=note,
                threshold=limit,
                **stats,
                **common,
            )  # fmt: skip
        )
    if matched == 0:
        raise NoMatchError(
            f"no rows match: the files share no workload x model x workers with ok {metric} "
            "values" + (" and a sequential model" if normalize == "sequential" else "")
        )
    return Comparison(
        metric, info.bigger_is_better, threshold, alpha, normalize, results, auto=auto
    )


def compare_files(
    base: str | Path, current: str | Path, metric: str = DEFAULT_METRIC, **options: Any
) -> Comparison:
    """Load both files (ResultsError on bad input) and compare them."""
    metric_info(metric)
    return compare(
        load_results(base, required=[metric]),
        load_results(current, required=[metric]),
        metric=metric,
        **options,
    )
