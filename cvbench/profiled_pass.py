"""The predictions' profiled pass of a user op (work/gil_split.py), under a deadline.

It runs the op again after every row is measured, so an op that hangs there (or is stuck in a
C call) must end like one that hangs in a repetition: the deadline is that of a repetition of
the workload's sequential cell (or --item-timeout), and when it passes the prediction assumes
the GIL split and says why.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from cvbench.measure.probes import Probes
from cvbench.measure.watchdog import GRACE_S, RepetitionTimeout, Watchdog, deadline_s

if TYPE_CHECKING:
    from cvbench.runner import Runner


class ProfiledPass:
    """Called as ``(workload, fn, payloads)``: (the split, or None and why not)."""

    def __init__(self, runner: Runner) -> None:
        self.runner = runner
        #: set when a pass was given up on (its thread stuck inside the op): why; the op is
        #: not profiled again
        self.stuck = ""

    def __call__(self, workload: str, fn: Any, payloads: Sequence[Any]) -> tuple[Any, str]:
        from cvbench.work.gil_split import MAX_S, profile_split

        if self.stuck:
            return None, self.stuck  # the op hung in C there: it does not run again
        run = self.runner
        ref = next((c for c in run.cells if c.workload == workload and c.is_reference), None)
        limit = deadline_s(
            ref.last_cost_s if ref else 0.0,
            run.config.item_timeout_s,
            run.states[workload].costliest_s,
        )
        dog = Watchdog(Probes(run.config.placement, 0), limit)
        dog.on_stuck = lambda signum: self._abandon(workload, dog, signum)
        try:
            with dog.armed():
                # a healthy pass stops well within the deadline (at least one item is profiled)
                split = profile_split(fn, payloads, max_s=min(MAX_S, limit / 2))
        except RepetitionTimeout:  # the deadline's interrupt, landed just outside the op
            split = None
        if dog.fired:
            return (
                None,
                f"the profiled pass timed out: no progress for {limit:g} s (--item-timeout)",
            )
        return split, "the profiled pass failed"

    def _abandon(self, workload: str, dog: Watchdog, signum: int | None) -> None:
        """The pass's thread is stuck inside the op for good (measure/watchdog.py): from the
        watchdog's thread, the run ends without it. Every row was measured before: the
        predictions not made yet assume the GIL split (the op does not run again), the files
        are written, and cvbench's own process ends with the run's status (0 unless a row
        failed; 128 + N after a stop signal, the predictions then left out)."""
        run = self.runner
        self.stuck = (
            f"the profiled pass is stuck inside the op: no progress for {dog.limit_s:g} s "
            "(--item-timeout)"
        )
        if signum is None:
            status = int(any(r.get("status") == "failed" for r in run.result.rows))
            line = f"{workload}: the predictions' profiled pass: {dog.stuck_reason()}"
        else:
            status = 128 + signum
            line = (
                f"the predictions' profiled pass of {workload} ran: its thread did not come back "
                f"to Python within {GRACE_S:g} s (an op stuck in a call that does not return?)"
            )
        run.end_stuck(status, line, signum)
