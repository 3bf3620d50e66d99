"""The parallel ceiling of each workload, measured beside the sequential reference.

A speedup of 1.76x at 2 workers reads as "24 % lost" only if two cores could give 2.0x; the
ceiling (``work/corun.py``) says what they give this op with no model in the way. Pairs are
taken right after a sequential repetition of the first ``MAX_PAIRS`` rounds (alone/together
order alternating), so they share the rounds' drift; each pair gives copies x alone /
together, summarised as a median with a bootstrap CI. Every model at that worker count is
then shown as a share of it.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable
from typing import Any

from cvbench.stats import bootstrap_ci
from cvbench.work.corun import CoRun, CoRunError
from cvbench.work.job import Job

MAX_PAIRS = 7  # enough for a CI; each pair costs two bare loops (faces: ~1 s)
MIN_PAIRS = 3
# Not beside a sequential repetition longer than this: a pair costs two of them and the
# crew's warm-up one more, none of it in the rounds' budget. A 400-frame 1080p video (9 s a
# pass here) spent ~40 s of a --repeat 1 run on its ceiling; an hour of video would spend
# hours. The same bound as the overhead's extra pairs (overhead.EXTRA_MAX_S).
MAX_REFERENCE_S = 2.0


class Ceilings:
    """One co-run crew per batch workload, started at its first sequential repetition."""

    def __init__(self, cpus: list[int], copies: int) -> None:
        self.cpus = cpus[:copies] if copies >= 2 and len(cpus) >= copies else []
        self.crews: dict[str, CoRun] = {}
        self.ratios: dict[str, list[tuple[float, float]]] = {}
        self.errors: dict[str, str] = {}

    def after_reference(
        self, workload: str, job: Job, round_index: int, limit_s: float, reference_s: float = 0.0
    ) -> None:
        """One pair after this sequential repetition (``reference_s`` long), while fewer than
        MAX_PAIRS are in."""
        if not self.cpus or job.arrivals_ns is not None or workload in self.errors:
            return
        pairs = self.ratios.setdefault(workload, [])
        if reference_s > MAX_REFERENCE_S and not pairs:
            self.errors[workload] = (
                f"a sequential repetition took {reference_s:.1f} s, more than "
                f"{MAX_REFERENCE_S:g} s: a pair costs two more, which the rounds need more"
            )
            self._end(workload)
            return
        if round_index < 0 or len(pairs) >= MAX_PAIRS:
            self._end(workload)
            return
        try:
            crew = self.crews.get(workload)
            if crew is None:
                crew = self.crews[workload] = CoRun(job, self.cpus, limit_s)
                crew.start()
            pairs.append(crew.pair(alone_first=round_index % 2 == 0))
        except CoRunError as exc:
            self.errors[workload] = str(exc)
            self._end(workload)
        if len(pairs) >= MAX_PAIRS:
            self._end(workload)

    def _end(self, workload: str) -> None:
        crew = self.crews.pop(workload, None)
        if crew is not None:
            crew.close()

    def close(self) -> None:
        for workload in list(self.crews):
            self._end(workload)

    def slowdown(self, workload: str) -> tuple[int, float] | None:
        """(copies, the median of together / alone): how much longer the op runs on each of
        ``copies`` busy cores than on one alone; None without MIN_PAIRS good pairs."""
        good = [t / a for a, t in self.ratios.get(workload, []) if a > 0 and t > 0]
        if workload in self.errors or len(good) < MIN_PAIRS:
            return None
        return len(self.cpus), statistics.median(good)

    def summary(self, rows: Iterable[dict[str, Any]]) -> dict[str, dict[str, Any]]:
        """Per workload: the ceiling, its CI and each measured model's median paired speedup
        at that worker count as a share of it."""
        copies = len(self.cpus)
        out: dict[str, dict[str, Any]] = {w: {"error": e} for w, e in self.errors.items()}
        speedups: dict[tuple[str, str], list[float]] = {}
        for r in rows:
            measured = r.get("ok") and not r.get("predicted") and r.get("speedup") is not None
            if measured and r.get("workers") == copies:
                speedups.setdefault((r["workload"], r["model"]), []).append(r["speedup"])
        for workload, pairs in self.ratios.items():
            good = [copies * a / t for a, t in pairs if a > 0 and t > 0]
            if workload in self.errors or not good:
                continue
            ci = bootstrap_ci(good) if len(good) >= MIN_PAIRS else None
            ceiling = statistics.median(good)
            out[workload] = {
                "workers": copies,
                "speedup": ceiling,
                "ci": list(ci) if ci else None,
                "pairs": len(good),
                "alone_s": statistics.median(a for a, _ in pairs),
                "together_s": statistics.median(t for _, t in pairs),
                "of_ceiling_pct": {
                    model: 100 * statistics.median(s) / ceiling
                    for (w, model), s in speedups.items()
                    if w == workload
                },
            }
        return out
