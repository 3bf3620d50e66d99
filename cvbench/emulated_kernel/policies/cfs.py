"""Linux CFS (kernel/sched/fair.c, <= 6.5): the weighted-vruntime fair scheduler that EEVDF
replaced, kept to compare the two."""

from __future__ import annotations

import heapq

from .base import (
    DEFAULT_HZ,
    NICE_0_WEIGHT,
    SCHED_LATENCY_NS,
    SLEEP,
    WAKEUP,
    WAKEUP_GRAN_NS,
    FairPolicy,
    RunQueue,
    SchedEntity,
    _HeapRQ,
)


class CfsRQ(_HeapRQ):
    """CFS: run the task with the smallest vruntime; vruntime += delta * 1024 / weight."""

    __slots__ = ("min_vruntime", "latency", "min_gran", "wakeup_gran")

    def __init__(self, policy: Cfs, cpu: int) -> None:
        super().__init__(policy, cpu)
        self.min_vruntime = 0
        self.min_gran = policy.min_gran_ns
        self.latency = policy.latency_ns
        self.wakeup_gran = policy.wakeup_gran_ns

    def _update_min_vruntime(self) -> None:
        curr = self.curr
        if self.heap:
            v = self.heap[0][0]
            if curr is not None and curr.vruntime < v:
                v = curr.vruntime
        elif curr is not None:
            v = curr.vruntime
        else:
            return
        if v > self.min_vruntime:
            self.min_vruntime = v

    def enqueue(self, se: SchedEntity, now_ns: int, flags: int = WAKEUP) -> None:
        if se.new:
            se.vruntime = self.min_vruntime
            se.new = False
        elif se.rq is not self and se.rq is not None:
            # migrate_task_rq_fair: keep the offset from the old queue's min_vruntime
            se.vruntime += self.min_vruntime - se.rq.min_vruntime
        if flags & WAKEUP:
            # place_entity with GENTLE_FAIR_SLEEPERS: a sleeper gains at most latency/2
            floor = self.min_vruntime - self.latency // 2
            if se.vruntime < floor:
                se.vruntime = floor
        se.rq = self
        self.seq += 1
        heapq.heappush(self.heap, (se.vruntime, self.seq, se))
        self.nr_queued += 1
        self.load += se.weight

    def dequeue(self, se: SchedEntity, now_ns: int, flags: int = SLEEP) -> None:
        if se is self.curr:
            self.curr = None
        else:
            self._remove(self.heap, se)
            self.nr_queued -= 1
        self.load -= se.weight
        self._update_min_vruntime()

    def pick_next(self, now_ns: int) -> SchedEntity | None:
        if not self.heap:
            return None
        return self._become_curr(heapq.heappop(self.heap)[2])

    def put_prev(self, se: SchedEntity, now_ns: int) -> None:
        self.curr = None
        self.seq += 1
        heapq.heappush(self.heap, (se.vruntime, self.seq, se))
        self.nr_queued += 1

    def put_prev_pick_next(self, se: SchedEntity, now_ns: int) -> SchedEntity:
        self.seq = seq = self.seq + 1
        nse = heapq.heappushpop(self.heap, (se.vruntime, seq, se))[2]
        self.curr = nse
        nse.prev_sum_exec = nse.sum_exec
        return nse

    def queued(self) -> list[SchedEntity]:
        return [e[2] for e in sorted(self.heap, key=lambda e: (e[0], e[1]))]

    def steal(self, cpu: int) -> SchedEntity | None:
        heap = self.heap
        if heap and heap[0][2].allowed is None:
            se = heapq.heappop(heap)[2]
            self.nr_queued -= 1
            self.load -= se.weight
            return se
        return RunQueue.steal(self, cpu)

    def account(self, se: SchedEntity, ran_ns: int) -> None:
        se.sum_exec += ran_ns
        w = se.weight
        se.vruntime += ran_ns if w == NICE_0_WEIGHT else ran_ns * NICE_0_WEIGHT // w
        self._update_min_vruntime()

    def account_tick(self, se: SchedEntity, ran_ns: int, now_ns: int) -> SchedEntity:
        # account(), tick() and put_prev_pick_next() inlined: the simulator's hottest call
        w = se.weight
        heap = self.heap
        if ran_ns > 0:
            se.sum_exec += ran_ns
            se.vruntime += ran_ns if w == NICE_0_WEIGHT else ran_ns * NICE_0_WEIGHT // w
            curr = self.curr
            if heap:
                v = heap[0][0]
                if curr is not None and curr.vruntime < v:
                    v = curr.vruntime
            elif curr is not None:
                v = curr.vruntime
            else:
                v = self.min_vruntime
            if v > self.min_vruntime:
                self.min_vruntime = v
        nr = self.nr_queued
        if not nr:
            return se
        min_gran = self.min_gran
        period = (nr + 1) * min_gran
        if period <= self.latency:
            period = self.latency
        ideal = period * w // self.load
        ran = se.sum_exec - se.prev_sum_exec
        if ran <= ideal and (ran < min_gran or se.vruntime - heap[0][0] <= ideal):
            return se
        return self.put_prev_pick_next(se, now_ns)

    def _ideal(self, se: SchedEntity) -> int:
        """sched_slice: this task's share of the period, which stretches past 8 tasks."""
        period = (self.nr_queued + 1) * self.min_gran
        latency = self.latency
        return (period if period > latency else latency) * se.weight // self.load

    def runtime_left(self, se: SchedEntity) -> int | None:
        nr = self.nr_queued
        if not nr:
            return None
        # ideal = self._ideal(se), inlined: this runs at almost every event
        min_gran = self.min_gran
        period = (nr + 1) * min_gran
        if period <= self.latency:
            period = self.latency
        w = se.weight
        ideal = period * w // self.load
        ran = se.sum_exec - se.prev_sum_exec
        left = ideal - ran + 1  # check_preempt_tick preempts on delta_exec > ideal
        dv = self.heap[0][0] + ideal - se.vruntime + 1  # ... or on vruntime lead > ideal
        by_lead = -(-dv * w // NICE_0_WEIGHT)
        if by_lead < left:
            left = by_lead
        floor = min_gran - ran  # never before min_granularity
        if floor > left:
            left = floor
        return left if left > 0 else 0

    def tick(self, se: SchedEntity, now_ns: int) -> bool:
        if not self.nr_queued:
            return False
        ideal = self._ideal(se)
        ran = se.sum_exec - se.prev_sum_exec
        if ran > ideal:
            return True
        if ran < self.min_gran:
            return False
        return se.vruntime - self.heap[0][0] > ideal

    def wakeup_preempt(self, curr: SchedEntity, woken: SchedEntity) -> bool:
        gran = self.wakeup_gran * NICE_0_WEIGHT // woken.weight
        return curr.vruntime - woken.vruntime > gran


class Cfs(FairPolicy):
    """Linux CFS (<= 6.5); ``slice_ns`` overrides min_granularity (latency = 8 x slice)."""

    name = "cfs"
    rq_class = CfsRQ

    def __init__(self, ncpus: int = 1, *, slice_ns: int | None = None, hz: int = DEFAULT_HZ):
        super().__init__(ncpus, slice_ns=slice_ns, hz=hz)
        self.min_gran_ns = self.base_slice_ns
        self.latency_ns = 8 * slice_ns if slice_ns else SCHED_LATENCY_NS * self.scale
        self.wakeup_gran_ns = WAKEUP_GRAN_NS * self.scale

    def describe(self) -> dict[str, int | str | bool]:
        return {
            "policy": self.name,
            "min_granularity_ns": self.min_gran_ns,
            "sched_latency_ns": self.latency_ns,
            "hz": self.hz,
        }
