"""Round robin (SCHED_RR): FIFO order plus a fixed quantum, the textbook preemptive policy."""

from __future__ import annotations

from .base import RR_TIMESLICE_NS, WAKEUP, Policy, SchedEntity
from .fifo import FifoRQ


class RoundRobinRQ(FifoRQ):
    """FIFO order plus a fixed quantum; an expired task goes to the tail (SCHED_RR)."""

    __slots__ = ("quantum",)

    def __init__(self, policy: Policy, cpu: int) -> None:
        super().__init__(policy, cpu)
        self.quantum = policy.slice_ns or RR_TIMESLICE_NS

    def enqueue(self, se: SchedEntity, now_ns: int, flags: int = WAKEUP) -> None:
        if se.new or flags & WAKEUP:
            se.slice_left = self.quantum  # textbook RR: a fresh quantum after every wait
        FifoRQ.enqueue(self, se, now_ns, flags)

    def account(self, se: SchedEntity, ran_ns: int) -> None:
        se.sum_exec += ran_ns
        se.slice_left -= ran_ns
        if se.slice_left <= 0 and not self.nr_queued:
            # alone: Linux refills the quantum and keeps running
            se.slice_left = self.quantum - (-se.slice_left) % self.quantum

    def runtime_left(self, se: SchedEntity) -> int | None:
        return max(se.slice_left, 0) if self.nr_queued else None

    def tick(self, se: SchedEntity, now_ns: int) -> bool:
        return self.nr_queued > 0 and se.slice_left <= 0

    def put_prev(self, se: SchedEntity, now_ns: int) -> None:
        if se.slice_left <= 0:
            se.slice_left = self.quantum
        FifoRQ.put_prev(self, se, now_ns)


class RoundRobin(Policy):
    name = "rr"
    rq_class = RoundRobinRQ

    def describe(self) -> dict[str, int | str | bool]:
        return {"policy": self.name, "slice_ns": self.slice_ns or RR_TIMESLICE_NS, "hz": self.hz}
