"""FIFO: first come first served and no preemption, the cooperative baseline."""

from __future__ import annotations

from collections import deque

from .base import SLEEP, WAKEUP, Policy, RunQueue, SchedEntity


class FifoRQ(RunQueue):
    """Cooperative: a task runs until it blocks or yields; the queue is first come first served."""

    __slots__ = ("q",)

    def __init__(self, policy: Policy, cpu: int) -> None:
        super().__init__(policy, cpu)
        self.q: deque[SchedEntity] = deque()

    def enqueue(self, se: SchedEntity, now_ns: int, flags: int = WAKEUP) -> None:
        self.q.append(se)
        self.nr_queued += 1
        se.rq = self
        se.new = False

    def dequeue(self, se: SchedEntity, now_ns: int, flags: int = SLEEP) -> None:
        if se is self.curr:
            self.curr = None
        else:
            self.q.remove(se)
            self.nr_queued -= 1

    def pick_next(self, now_ns: int) -> SchedEntity | None:
        if not self.q:
            return None
        se = self.q.popleft()
        self.nr_queued -= 1
        self.curr = se
        return se

    def put_prev(self, se: SchedEntity, now_ns: int) -> None:
        self.curr = None
        self.q.append(se)
        self.nr_queued += 1

    def queued(self) -> list[SchedEntity]:
        return list(self.q)

    def steal(self, cpu: int) -> SchedEntity | None:
        q = self.q
        if q and q[0].allowed is None:  # fast path: head may run anywhere
            self.nr_queued -= 1
            return q.popleft()
        return RunQueue.steal(self, cpu)


class Fifo(Policy):
    name = "fifo"
    rq_class = FifoRQ
