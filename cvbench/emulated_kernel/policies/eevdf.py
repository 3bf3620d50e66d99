"""Linux EEVDF (kernel/sched/fair.c, >= 6.6): earliest eligible virtual deadline first, the
default policy of the simulator and the live kernel."""

from __future__ import annotations

import heapq

from .base import MIGRATE, NICE_0_WEIGHT, SLEEP, WAKEUP, FairPolicy, SchedEntity, _HeapRQ

_heappush, _heappop = heapq.heappush, heapq.heappop


def _pick_eligible(
    heap: list[tuple[int, int, SchedEntity]],
    later: list[tuple[int, int, SchedEntity]],
    load: int,
    sum_wv: int,
) -> SchedEntity:
    """Pop the eligible task (vruntime <= V = sum_wv / load) with the earliest deadline, first
    moving tasks between ``heap`` (eligible, by deadline) and ``later`` (by vruntime) as V
    moved; the smallest vruntime when nothing is eligible."""
    push, pop = _heappush, _heappop
    while later and later[0][0] * load <= sum_wv:  # became eligible
        e = pop(later)
        push(heap, (e[2].deadline, e[1], e[2]))
    while heap:
        e = pop(heap)
        se = e[2]
        if se.vruntime * load <= sum_wv:
            return se
        push(later, (se.vruntime, e[1], se))  # no longer eligible (V moved back): park it
    # only when curr was not put back first: fall back to the smallest vruntime
    return pop(later)[2]


class EevdfRQ(_HeapRQ):
    """EEVDF: among eligible tasks (lag >= 0, i.e. vruntime <= weighted average V) run the one
    with the earliest virtual deadline (vruntime + slice * 1024 / weight).

    Eligible candidates sit in ``heap`` keyed by deadline, the others in ``later`` keyed by
    vruntime; pick_next moves tasks across as V moves.  V = sum_wv / load, kept exactly in
    integers (curr included, as Linux's avg_vruntime).
    """

    __slots__ = ("later", "sum_wv", "v_base", "slice", "lag_limit")

    def __init__(self, policy: Eevdf, cpu: int) -> None:
        super().__init__(policy, cpu)
        self.later: list[tuple[int, int, SchedEntity]] = []
        self.sum_wv = 0
        self.v_base = 0  # V of the queue when it last emptied: where newcomers start
        self.slice = policy.base_slice_ns
        self.lag_limit = max(2 * self.slice, policy.tick_ns)

    def avg_vruntime(self) -> int:
        return self.sum_wv // self.load if self.load else self.v_base

    def enqueue(self, se: SchedEntity, now_ns: int, flags: int = WAKEUP) -> None:
        w = se.weight
        vslice = self.slice * NICE_0_WEIGHT // w
        load = self.load
        if load:
            # place_entity with PLACE_LAG: keep the lag, inflated for the weight we add
            lag = 0 if se.new else se.vlag * (load + w) // load
            v = self.sum_wv // load - lag
        else:
            v = self.v_base
        se.vruntime = v
        if se.new:
            se.deadline = v + vslice // 2  # PLACE_DEADLINE_INITIAL
            se.new = False
        elif flags & MIGRATE:
            se.deadline = v + se.rel_deadline  # PLACE_REL_DEADLINE
        else:
            se.deadline = v + vslice
        se.rq = self
        self.load = load + w
        self.sum_wv += w * v
        self.seq += 1
        if v * self.load <= self.sum_wv:
            heapq.heappush(self.heap, (se.deadline, self.seq, se))
        else:
            heapq.heappush(self.later, (v, self.seq, se))
        self.nr_queued += 1

    def dequeue(self, se: SchedEntity, now_ns: int, flags: int = SLEEP) -> None:
        w = se.weight
        limit = self.lag_limit * NICE_0_WEIGHT // w
        lag = self.sum_wv // self.load - se.vruntime  # update_entity_lag, clamped
        se.vlag = -limit if lag < -limit else (limit if lag > limit else lag)
        se.rel_deadline = se.deadline - se.vruntime
        if se is self.curr:
            self.curr = None
        else:
            if not self._remove(self.heap, se):
                self._remove(self.later, se)
            self.nr_queued -= 1
        if self.load == w:
            self.v_base = self.sum_wv // self.load
        self.load -= w
        self.sum_wv -= w * se.vruntime

    def pick_next(self, now_ns: int) -> SchedEntity | None:
        if not self.nr_queued:
            return None
        return self._become_curr(_pick_eligible(self.heap, self.later, self.load, self.sum_wv))

    def put_prev(self, se: SchedEntity, now_ns: int) -> None:
        self.curr = None
        self.seq += 1
        if se.vruntime * self.load <= self.sum_wv:  # eligible: straight to the deadline heap
            heapq.heappush(self.heap, (se.deadline, self.seq, se))
        else:
            heapq.heappush(self.later, (se.vruntime, self.seq, se))
        self.nr_queued += 1

    def put_prev_pick_next(self, se: SchedEntity, now_ns: int) -> SchedEntity:
        # put_prev() then pick_next(), fused (nr_queued goes +1 then -1)
        load, s = self.load, self.sum_wv
        heap, later = self.heap, self.later
        self.seq = seq = self.seq + 1
        v = se.vruntime
        if v * load <= s:
            _heappush(heap, (se.deadline, seq, se))
        else:
            _heappush(later, (v, seq, se))
        se = _pick_eligible(heap, later, load, s)
        self.curr = se
        se.prev_sum_exec = se.sum_exec
        return se

    def queued(self) -> list[SchedEntity]:
        load, s = self.load, self.sum_wv
        ses = [e[2] for e in self.heap + self.later]
        # eligible first by deadline, then the rest by vruntime
        return sorted(
            ses,
            key=lambda x: (x.vruntime * load > s, x.deadline if x.vruntime * load <= s else 0,
                           x.vruntime, x.tid),
        )  # fmt: skip

    def account_tick(self, se: SchedEntity, ran_ns: int, now_ns: int) -> SchedEntity:
        # account() and tick() inlined: the simulator's hottest call
        w = se.weight
        if ran_ns > 0:
            se.sum_exec += ran_ns
            dv = ran_ns if w == NICE_0_WEIGHT else ran_ns * NICE_0_WEIGHT // w
            se.vruntime += dv
            self.sum_wv += w * dv
        v = se.vruntime
        if v < se.deadline:
            return se
        se.deadline = v + self.slice * NICE_0_WEIGHT // w
        if not self.nr_queued:
            return se
        return self.put_prev_pick_next(se, now_ns)

    def account(self, se: SchedEntity, ran_ns: int) -> None:
        se.sum_exec += ran_ns
        w = se.weight
        dv = ran_ns if w == NICE_0_WEIGHT else ran_ns * NICE_0_WEIGHT // w
        se.vruntime += dv
        self.sum_wv += w * dv

    def runtime_left(self, se: SchedEntity) -> int | None:
        if not self.nr_queued:
            return None
        dv = se.deadline - se.vruntime
        return -(-dv * se.weight // NICE_0_WEIGHT) if dv > 0 else 0

    def tick(self, se: SchedEntity, now_ns: int) -> bool:
        if se.vruntime < se.deadline:
            return False
        # update_deadline: the slice is used up; request a new one and reschedule
        se.deadline = se.vruntime + self.slice * NICE_0_WEIGHT // se.weight
        return self.nr_queued > 0

    def wakeup_preempt(self, curr: SchedEntity, woken: SchedEntity) -> bool:
        return woken.vruntime * self.load <= self.sum_wv and woken.deadline < curr.deadline

    def yield_task(self, se: SchedEntity) -> None:
        # yield_task_fair (EEVDF): give up the rest of this request
        se.deadline += self.slice * NICE_0_WEIGHT // se.weight


class Eevdf(FairPolicy):
    """Linux EEVDF (>= 6.6); ``slice_ns`` overrides the scaled base slice."""

    name = "eevdf"
    rq_class = EevdfRQ

    def describe(self) -> dict[str, int | str | bool]:
        return {"policy": self.name, "base_slice_ns": self.base_slice_ns, "hz": self.hz}
