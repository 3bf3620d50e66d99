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

from cvbench.readers import ResultsError, load_results


@dataclass(frozen=True)
class MetricInfo:
    bigger_is_better: bool
    unit: str


_SMALLER_S = MetricInfo(False, "s")
_SMALLER_MS = MetricInfo(False, "ms")
_SMALLER_N = MetricInfo(False, "count")

# Which direction is good, per metric: the gate and github-action-benchmark both need it.
METRICS: dict[str, MetricInfo] = {
    "throughput_per_s": MetricInfo(True, "items/s"),
    "speedup": MetricInfo(True, "x"),
    "wall_s": _SMALLER_S,
    "startup_s": _SMALLER_S,
    "cpu_user_s": _SMALLER_S,
    "cpu_sys_s": _SMALLER_S,
    "runqueue_wait_s": _SMALLER_S,
    "latency_p50_ms": _SMALLER_MS,
    "latency_p90_ms": _SMALLER_MS,
    "latency_p99_ms": _SMALLER_MS,
    "latency_p999_ms": _SMALLER_MS,
    "latency_max_ms": _SMALLER_MS,
    "queue_p50_ms": _SMALLER_MS,
    "queue_p99_ms": _SMALLER_MS,
    "service_p50_ms": _SMALLER_MS,
    "service_p99_ms": _SMALLER_MS,
    "lag_p50_ms": _SMALLER_MS,
    "lag_p99_ms": _SMALLER_MS,
    "lag_p999_ms": _SMALLER_MS,
    "lag_max_ms": _SMALLER_MS,
    "ctx_voluntary": _SMALLER_N,
    "ctx_involuntary": _SMALLER_N,
    "user_switches": _SMALLER_N,
    "migrations": _SMALLER_N,
    "deadline_misses": _SMALLER_N,
    "max_rss_mb": MetricInfo(False, "MB"),
}
NORMALIZE = ("none", "sequential")
DEFAULT_METRIC = "throughput_per_s"
REFERENCE_MODEL = "sequential"

Key = tuple[str, str, int]


class NoMatchError(ResultsError):
    """The two files share no workload x model x workers group with data: nothing to gate."""


def metric_info(metric: str) -> MetricInfo:
    try:
        return METRICS[metric]
    except KeyError:
        raise ValueError(
            f"unknown metric {metric!r}; choose one of {', '.join(sorted(METRICS))}"
        ) from None


# --- Mann-Whitney U ---------------------------------------------------------------------------


@dataclass(frozen=True)
class MannWhitney:
    u: float  # U of the first sample: pairs (x, y) with x > y, ties counting one half
    p: float  # two-sided
    method: str  # "exact" (permutation distribution, ties kept) or "normal"


def _midranks(values: np.ndarray) -> np.ndarray:
    order = np.argsort(values, kind="mergesort")
    ranks = np.empty(values.size, dtype=np.float64)
    sorted_vals = values[order]
    i = 0
    while i < values.size:
        j = i
        while j + 1 < values.size and sorted_vals[j + 1] == sorted_vals[i]:
            j += 1
        ranks[order[i : j + 1]] = (i + j) / 2 + 1
        i = j + 1
    return ranks


def _exact_p(ranks: np.ndarray, n1: int, observed_sum: float) -> float:
    """Two-sided p from the exact permutation distribution of sample 1's rank sum.

    Ranks are doubled so midranks become integers; a knapsack over "choose n1 of N" counts
    every subset by its rank sum (O(N * n1) vector steps), which handles ties exactly.
    """
    doubled = np.rint(ranks * 2).astype(np.int64)
    top = int(doubled.sum())
    counts = np.zeros((n1 + 1, top + 1), dtype=np.float64)
    counts[0, 0] = 1.0
    for r in doubled:
        for k in range(n1, 0, -1):
            counts[k, r:] += counts[k - 1, : top + 1 - r]
    dist = counts[n1]
    total = dist.sum()
    obs = round(observed_sum * 2)
    lower = dist[: obs + 1].sum() / total
    upper = dist[obs:].sum() / total
    return float(min(1.0, 2 * min(lower, upper)))


def _normal_p(ranks: np.ndarray, n1: int, n2: int, u: float) -> float:
    """Normal approximation with tie correction and a 0.5 continuity correction."""
    n = n1 + n2
    _, tie_counts = np.unique(ranks, return_counts=True)
    tie_term = float(((tie_counts**3) - tie_counts).sum())
    var = n1 * n2 / 12 * ((n + 1) - tie_term / (n * (n - 1)))
    if var <= 0:
        return 1.0  # every value equal: no evidence of any difference
    z = (abs(u - n1 * n2 / 2) - 0.5) / math.sqrt(var)
    return float(min(1.0, math.erfc(max(z, 0.0) / math.sqrt(2))))


def mann_whitney_u(x: Sequence[float], y: Sequence[float], method: str = "auto") -> MannWhitney:
    """Two-sided Mann-Whitney U test (scipy is not a dependency, so it lives here).

    ``auto`` is exact up to 60 values in total (the small-n case CI jobs have, where the
    normal approximation is poor), the normal approximation beyond.
    """
    a = np.asarray(x, dtype=np.float64)
    b = np.asarray(y, dtype=np.float64)
    n1, n2 = a.size, b.size
    if n1 == 0 or n2 == 0:
        raise ValueError("mann_whitney_u needs at least one value in each sample")
    ranks = _midranks(np.concatenate([a, b]))
    rank_sum = float(ranks[:n1].sum())
    u = rank_sum - n1 * (n1 + 1) / 2
    if method == "auto":
        method = "exact" if n1 + n2 <= 60 else "normal"
    if method == "exact":
        p = _exact_p(ranks, n1, rank_sum)
    elif method == "normal":
        p = _normal_p(ranks, n1, n2, u)
    else:
        raise ValueError(f"method must be auto, exact or normal, not {method!r}")
    return MannWhitney(u=u, p=p, method=method)


# --- bootstrap -------------------------------------------------------------------------------


def _ratio(cur: np.ndarray | float, base: np.ndarray | float) -> np.ndarray:
    """current / base with 0/0 = 1 (no change) and x/0 = inf."""
    cur_a, base_a = np.asarray(cur, dtype=np.float64), np.asarray(base, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        out = cur_a / base_a
    return np.where((cur_a == 0) & (base_a == 0), 1.0, out)


def bootstrap_ratio_ci(
    base: Sequence[float],
    current: Sequence[float],
    confidence: float = 0.95,
    resamples: int = 4000,
    seed: int = 0,
) -> tuple[float, float]:
    """Percentile bootstrap CI of median(current) / median(base), each side resampled alone.

    Seeded, so a CI job gives the same verdict for the same files.
    """
    rng = np.random.default_rng(seed)
    b = np.asarray(base, dtype=np.float64)
    c = np.asarray(current, dtype=np.float64)
    mb = np.median(rng.choice(b, size=(resamples, b.size)), axis=1)
    mc = np.median(rng.choice(c, size=(resamples, c.size)), axis=1)
    ratios = np.sort(_ratio(mc, mb))
    tail = (1 - confidence) / 2
    # Order statistics, not interpolation: well defined even when some ratios are infinite.
    lo = ratios[int(math.floor(tail * (resamples - 1)))]
    hi = ratios[int(math.ceil((1 - tail) * (resamples - 1)))]
    return float(lo), float(hi)


# --- comparison ------------------------------------------------------------------------------


@dataclass(frozen=True)
class GroupResult:
    workload: str
    model: str
    workers: int
    verdict: str  # regression | improvement | same | missing | new | no data | reference
    base: float | None = None  # median of the (possibly normalized) metric
    current: float | None = None
    n_base: int = 0
    n_current: int = 0
    ratio: float | None = None  # current / base
    ci: tuple[float, float] | None = None  # 95 % bootstrap CI of the ratio
    p: float | None = None  # Mann-Whitney U, two-sided
    note: str = ""

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
        if row.get("predicted"):
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


def _first_line(text: str, limit: int = 60) -> str:
    line = text.strip().splitlines()[0] if text.strip() else "failed"
    return line if len(line) <= limit else line[: limit - 1] + "…"


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
    base: list[float], cur: list[float], info: MetricInfo, threshold: float, alpha: float
) -> tuple[str, float, tuple[float, float] | None, float | None, str]:
    """verdict, ratio, ci, p, note for one group with data on both sides."""
    mb, mc = float(np.median(base)), float(np.median(cur))
    ratio = float(_ratio(mc, mb))
    if mb < 0 or mc < 0:
        return "same", ratio, None, None, "ratio undefined for negative values"

    def slowdown(r: float) -> float:
        """Factor in the bad direction: > 1 is worse, whatever the metric's direction."""
        if info.bigger_is_better:
            return math.inf if r == 0 else 1 / r
        return r

    worse = slowdown(ratio) > 1 + threshold
    better = slowdown(ratio) < 1 / (1 + threshold)
    if min(len(base), len(cur)) < 2:
        n = min(len(base), len(cur))
        verdict = "regression" if worse else "improvement" if better else "same"
        return verdict, ratio, None, None, f"threshold only: {n} repetition"
    ci = bootstrap_ratio_ci(base, cur)
    p = mann_whitney_u(cur, base).p
    slow_ci = sorted(slowdown(r) for r in ci)
    if worse:
        if p < alpha or slow_ci[0] > 1 + threshold:
            return "regression", ratio, ci, p, ""
        return "same", ratio, ci, p, "beyond threshold but not significant"
    if better:
        if p < alpha or slow_ci[1] < 1 / (1 + threshold):
            return "improvement", ratio, ci, p, ""
        return "same", ratio, ci, p, "beyond threshold but not significant"
    return "same", ratio, ci, p, ""


def compare(
    base_rows: Iterable[dict[str, Any]],
    current_rows: Iterable[dict[str, Any]],
    metric: str = DEFAULT_METRIC,
    threshold: float = 0.10,
    alpha: float = 0.05,
    normalize: str = "none",
) -> Comparison:
    """Judge every group; NoMatchError when no group has data on both sides."""
    info = metric_info(metric)
    if normalize not in NORMALIZE:
        raise ValueError(f"normalize must be one of {', '.join(NORMALIZE)}, not {normalize!r}")
    if not threshold > 0:
        raise ValueError("threshold must be > 0")
    if not 0 < alpha < 1:
        raise ValueError("alpha must be between 0 and 1")
    base, base_failed = _groups(base_rows, metric)
    cur, cur_failed = _groups(current_rows, metric)
    orphans: set[Key] = set()
    if normalize == "sequential":
        base, o1 = _normalized(base)
        cur, o2 = _normalized(cur)
        orphans = o1 | o2
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
        verdict, ratio, ci, p, note = _judge(b, c, info, threshold, alpha)
        results.append(
            GroupResult(verdict=verdict, ratio=ratio, ci=ci, p=p, note=note, **stats, **common)
        )
    if matched == 0:
        raise NoMatchError(
            f"no rows match: the files share no workload x model x workers with ok {metric} "
            "values" + (" and a sequential model" if normalize == "sequential" else "")
        )
    return Comparison(metric, info.bigger_is_better, threshold, alpha, normalize, results)


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


# --- rendering -------------------------------------------------------------------------------


def fmt_value(v: float | None) -> str:
    if v is None:
        return "–"
    if v != 0 and (abs(v) >= 1e6 or abs(v) < 1e-3):
        return f"{v:.3g}"
    return f"{v:,.0f}" if abs(v) >= 1000 else f"{v:.4g}"


def fmt_ratio(c: Comparison, g: GroupResult) -> str:
    if g.ratio is None:
        return "–"
    if not math.isfinite(g.ratio):
        return "∞"
    pct = c.change_pct(g)
    return f"{g.ratio:.3f} ({pct:+.1f} %)" if pct is not None else f"{g.ratio:.3f}"


def fmt_ci(g: GroupResult) -> str:
    if g.ci is None:
        return "–"
    return "–".join("∞" if not math.isfinite(x) else f"{x:.3f}" for x in g.ci)


def fmt_p(g: GroupResult) -> str:
    if g.p is None:
        return "–"
    return "<0.001" if g.p < 0.001 else f"{g.p:.3f}"


def verdict_text(g: GroupResult) -> str:
    return f"{g.verdict} ({g.note})" if g.note else g.verdict


def describe_rule(c: Comparison) -> str:
    """One sentence that says exactly what the verdicts mean, for the report footer."""
    t = c.threshold * 100
    what = f"{c.metric}" + (" relative to sequential" if c.normalize == "sequential" else "")
    direction = "bigger" if c.bigger_is_better else "smaller"
    return (
        f"{what} ({direction} is better). Regression/improvement: the median moved more than "
        f"{t:g} % (as a slowdown factor) AND Mann-Whitney p < {c.alpha:g} or the 95 % bootstrap "
        "CI of the ratio lies entirely beyond the threshold; one repetition: threshold only."
    )


def summary_line(c: Comparison) -> str:
    if not c.regressions:
        return f"no regression in {c.metric} ({len(c.improvements)} improvement(s))"
    parts = []
    for g in c.regressions:
        pct = c.change_pct(g)
        parts.append(f"{g.name} ({'∞' if pct is None else f'{pct:+.1f} %'})")
    return f"{len(parts)} regression(s) in {c.metric}: {', '.join(parts)}"


def markdown_text(c: Comparison, base: str = "base", current: str = "current") -> str:
    """A table for $GITHUB_STEP_SUMMARY (GitHub renders it)."""
    icon = {"regression": "🔴", "improvement": "🟢"}
    lines = [
        f"## cvbench compare: {c.metric}",
        "",
        f"`{base}` → `{current}`",
        "",
        "| workload | model | workers | base | current | ratio | 95 % CI | p | verdict |",
        "|---|---|---:|---:|---:|---:|---|---:|---|",
    ]
    for g in c.groups:
        lines.append(
            f"| {g.workload} | {g.model} | {g.workers} | {fmt_value(g.base)} "
            f"| {fmt_value(g.current)} | {fmt_ratio(c, g)} | {fmt_ci(g)} | {fmt_p(g)} "
            f"| {(icon.get(g.verdict, '') + ' ' + verdict_text(g)).strip()} |"
        )
    lines += ["", f"**{summary_line(c)}**", "", describe_rule(c), ""]
    return "\n".join(lines)
