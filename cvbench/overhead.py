"""What measuring costs, measured like everything else: paired and interleaved, with a CI.

* Harness overhead: the sequential model against a bare loop of the same op over the same
  items, run back to back in every round (in alternating order, so neither always runs on
  a warmer cache), beside the round's repetition and more (``more_pairs``): the median of the
  per-pair ratios, and its bootstrap CI. Round two printed
  the ratio of two unpaired medians of three samples, and a default run said +13.8 % where
  ten paired rounds said -0.14 %. All with the responsiveness probe off: what the 1 ms
  heartbeat costs (+0.2-0.5 % on the sequential model, its GIL hand-offs) is the observer
  effect below, per model, and mixed in it read as harness.
* Around the items: in each pair, each part's wall time beyond its items' own (each item
  timed around the op and its digest, the call both make), within that part, the sequential
  model's less the bare loop's: the machine's drift between repetitions cancels
  (``outside_items``).
* Observer effect: rounds alternate between the 1 ms heartbeat on (responsiveness measured)
  and off (throughput undisturbed), every cell of a round alike, so speedups stay paired. Per
  cell, each pair of adjacent rounds gives throughput(off) / throughput(on): what measuring
  responsiveness costs that model.
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from cvbench.stats import bootstrap_ci

MIN_PAIRS = 3  # fewer pairs: a figure without a CI (two values bound no interval)
# Pairs per round beyond the round's own, until the CI's half-width is SETTLED_PCT (the time
# then goes to the rounds, which need it more): at least EXTRA_PAIRS, and as many more as fit
# in EXTRA_BUDGET_S per round. With one pair per round the CI was +-2-3 % after 7 rounds; with
# three more, threshold's was still +-0.5-1.5 % (28 pairs): its pairs are 2 x 38 ms, so 1 s
# buys 13 of them (faces' 2 x 125 ms four: its CI was within +-0.55 % already).
# Not beside a repetition longer than EXTRA_MAX_S: a long one is a long average already, and
# more passes over an hour of video would cost hours.
EXTRA_PAIRS = 3
MAX_EXTRA_PAIRS = 4 * EXTRA_PAIRS  # per round, however short the pairs
EXTRA_BUDGET_S = 1.0
SETTLED_PCT = 0.5
EXTRA_MAX_S = 2.0


def heartbeat_round(round_index: int) -> bool:
    """Warm-up and even rounds measure responsiveness; odd rounds run without the probe."""
    return round_index < 0 or round_index % 2 == 0


def extra_pairs_for(pair_s: float) -> int:
    """How many extra pairs one round may run, given what one pair (both parts) took."""
    if pair_s <= 0:
        return EXTRA_PAIRS
    return max(EXTRA_PAIRS, min(int(EXTRA_BUDGET_S / pair_s), MAX_EXTRA_PAIRS))


def more_pairs(
    round_index: int,
    sequential_s: Callable[[], float | None],
    bare_s: Callable[[], float | None],
    have: Sequence[tuple[float, float]] = (),
) -> list[tuple[float, float]] | None:
    """Extra (sequential wall s, bare loop wall s) pairs for the overhead figure only (no
    row), each pair's order alternating, until ``have`` and they have settled or the round's
    share (``extra_pairs_for`` the last pair) is spent; None as soon as a part returns None
    (failed)."""
    pairs: list[tuple[float, float]] = []
    count = extra_pairs_for(sum(have[-1])) if have else EXTRA_PAIRS
    for k in range(count):
        if settled([*have, *pairs]):
            break
        if (round_index + k) % 2:  # the bare loop first
            bare = bare_s()
            seq = None if bare is None else sequential_s()
        else:
            seq = sequential_s()
            bare = None if seq is None else bare_s()
        if seq is None or bare is None:
            return None
        pairs.append((seq, bare))
    return pairs


def settled(pairs: Sequence[tuple[float, float]]) -> bool:
    """No more extra pairs: the overhead's CI is narrow enough, or the repetitions long."""
    if pairs and pairs[-1][0] > EXTRA_MAX_S:
        return True
    o = paired_overhead(pairs)
    ci = o["ci_pct"] if o else None
    return ci is not None and len(pairs) >= 4 * MIN_PAIRS and (ci[1] - ci[0]) / 2 <= SETTLED_PCT


def _summary(ratios: Sequence[float]) -> dict[str, Any]:
    ci = bootstrap_ci(ratios) if len(ratios) >= MIN_PAIRS else None
    return {
        "pct": 100 * (statistics.median(ratios) - 1),
        "ci_pct": None if ci is None else [100 * (ci[0] - 1), 100 * (ci[1] - 1)],
        "pairs": len(ratios),
    }


def paired_overhead(pairs: Sequence[tuple[float, float]]) -> dict[str, Any] | None:
    """pairs: (sequential wall s, bare loop wall s) of one round each."""
    good = [(s, b) for s, b in pairs if s > 0 and b > 0]
    if not good:
        return None
    summary = _summary([s / b for s, b in good])
    ci = summary["ci_pct"]
    return {
        **summary,
        # the model wraps the bare loop's work: a CI wholly below zero is the machine's drift
        "drift": ci is not None and ci[1] < 0,
        "overhead_pct": summary["pct"],  # the JSON's names since round two
        "samples": summary["pairs"],
        "sequential_s": statistics.median(s for s, _ in good),
        "bare_loop_s": statistics.median(b for _, b in good),
        # every pair, in the order measured: the figure can be checked and re-derived
        "pairs_s": [[s, b] for s, b in good],
    }


def outside_items(
    samples: Sequence[tuple[tuple[float, float], tuple[float, float]]],
) -> dict[str, Any] | None:
    """samples: per overhead pair, (wall s, its items' own s) of the sequential repetition
    and of the bare loop, both without the probe.

    Each part's time around its items, as a percentage of the items' own time, measured
    within that part: both terms come from the same moment, so the machine's drift between
    repetitions, which makes the wall-time pairs scatter by +-9 % on a noisy VM, cancels. The
    figure is the median of the per-pair differences (sequential's minus the bare loop's:
    a plain loop's own time around the items is not the harness's). It cannot see what the
    harness does to the op itself (its cache, a thread it wakes): the wall-time pairs can,
    within their CI."""
    diffs, seq, bare = [], [], []
    for (ws, s_items), (wb, b_items) in samples:
        if min(ws, s_items, wb, b_items) > 0:
            seq.append(100 * (ws / s_items - 1))
            bare.append(100 * (wb / b_items - 1))
            diffs.append(seq[-1] - bare[-1])
    if not diffs:
        return None
    ci = bootstrap_ci(diffs) if len(diffs) >= MIN_PAIRS else None
    return {
        "outside_items_pct": statistics.median(diffs),
        "outside_items_ci_pct": None if ci is None else [ci[0], ci[1]],
        "outside_items_pairs": len(diffs),
        "sequential_outside_pct": statistics.median(seq),
        "bare_loop_outside_pct": statistics.median(bare),
    }


def walls(
    pairs: Sequence[tuple[tuple[float, float], tuple[float, float]]],
) -> list[tuple[float, float]]:
    """(sequential wall s, bare loop wall s) of each pair of (wall s, items' own s) parts."""
    return [(seq[0], bare[0]) for seq, bare in pairs]


def overhead_figures(
    pairs: Sequence[tuple[float, float]],
    samples: Sequence[tuple[tuple[float, float], tuple[float, float]]],
) -> dict[str, Any] | None:
    """The run's harness overhead of one workload: the same-repetition figure and the
    bare-loop pairs, whichever were measured."""
    paired, outside = paired_overhead(pairs), outside_items(samples)
    if paired is None and outside is None:
        return None
    return {**(paired or {}), **(outside or {})}


def overhead_note(o: dict[str, Any]) -> str:
    """What a reader must know besides the end-to-end figure: a CI wholly below zero is not a
    result; one wholly above the time around the items says the op itself ran slower beside
    the harness, or the machine drifted between the parts."""
    if o.get("drift"):
        return (
            "drift, not a result: the sequential model runs the bare loop's work and more, so "
            "it cannot be faster; the pairs disagree by more than the harness costs (rerun on "
            "a quieter machine)"
        )
    ci, around = o.get("ci_pct"), o.get("outside_items_ci_pct")
    if ci and around and ci[0] > around[1]:
        return (
            "above the time around the items: the op itself ran slower beside the harness, "
            "or the machine drifted between the parts (a rerun tells which)"
        )
    return ""


def observer_effects(rows: Iterable[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Per cell (workload/model/workers): the paired throughput cost of the heartbeat."""
    by_cell: dict[str, dict[int, float]] = defaultdict(dict)
    for r in rows:
        if r.get("predicted") or not r.get("ok") or not isinstance(r.get("round"), int):
            continue
        if r.get("heartbeat") is None or not r.get("throughput_per_s"):
            continue
        by_cell[f"{r['workload']}/{r['model']}/{r['workers']}w"][r["round"]] = r["throughput_per_s"]
    out: dict[str, dict[str, Any]] = {}
    for cell, by_round in by_cell.items():
        ratios = [  # round 2k had the heartbeat, 2k+1 did not: off / on
            by_round[r + 1] / by_round[r]
            for r in by_round
            if heartbeat_round(r) and r + 1 in by_round and by_round[r] > 0
        ]
        if ratios:
            out[cell] = _summary(ratios)
    return out


def observer_line(effects: dict[str, dict[str, Any]], limit: int = 6) -> str | None:
    """One line: the cells where measuring responsiveness cost the most throughput."""
    with_ci = {c: e for c, e in effects.items() if e["ci_pct"] is not None}
    if not with_ci:
        return None
    ranked = sorted(with_ci.items(), key=lambda kv: -abs(kv[1]["pct"]))
    shown = ", ".join(
        f"{c} {e['pct']:+.1f} % [{e['ci_pct'][0]:+.1f}, {e['ci_pct'][1]:+.1f}]"
        for c, e in ranked[:limit]
    )
    return (
        f"observer effect of the heartbeat (throughput without / with it, paired rounds, "
        f"largest first): {shown}" + (" …" if len(ranked) > limit else "")
    )
