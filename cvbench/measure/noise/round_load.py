"""Load from other processes during one round, from counters that miss nothing: the busy CPU
time of the whole machine (/proc/stat) minus this process tree's own (getrusage of this
process and its reaped children, plus every live descendant with the children it reaped —
a forkserver reaps the pool workers). Processes that start or end mid-round are counted too,
which a sampled process list misses (round two's check said 2 % while another user's job
halved every 2-worker round)."""

from __future__ import annotations

import os
import resource
import time
from dataclasses import dataclass

import psutil

USER_HZ = os.sysconf("SC_CLK_TCK")
# A round beside more than a quarter of a CPU of someone else's work is disturbed: on 2 cores
# that is enough to move a 2-worker cell by ~10 %, more than the effects cvbench reports.
DISTURBED_CPUS = 0.25
STEAL_DISTURBED_PCT = 5.0


def _busy_and_steal_s() -> tuple[float, float]:
    """Busy and stolen CPU seconds so far on the CPUs this process may use (load on other
    CPUs does not compete with the run); busy excludes idle, iowait and steal."""
    allowed = {f"cpu{n}" for n in os.sched_getaffinity(0)}
    busy = stolen = 0
    with open("/proc/stat") as fh:
        for line in fh:
            fields = line.split()
            if not fields or fields[0] not in allowed:
                continue
            t = [int(x) for x in fields[1:9]] + [0] * 8
            user, nice, system, _idle, _iowait, irq, softirq, steal = t[:8]
            busy += user + nice + system + irq + softirq
            stolen += steal
    return busy / USER_HZ, stolen / USER_HZ


def own_cpu_s() -> float:
    """CPU seconds of this process, its reaped children and its live descendants."""
    total = 0.0
    for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN):
        usage = resource.getrusage(who)
        total += usage.ru_utime + usage.ru_stime
    try:
        children = psutil.Process().children(recursive=True)
    except psutil.Error:
        children = []
    for child in children:
        try:
            c = child.cpu_times()
            total += c.user + c.system + c.children_user + c.children_system
        except psutil.Error:
            continue
    return total


@dataclass
class RoundLoad:
    """Started before a round, finished after it."""

    started_s: float = 0.0
    busy_s: float = 0.0
    steal_s: float = 0.0
    own_s: float = 0.0

    @classmethod
    def start(cls) -> RoundLoad:
        busy, steal = _busy_and_steal_s()
        return cls(time.monotonic(), busy, steal, own_cpu_s())

    def finish(self) -> dict[str, float | bool]:
        """{"wall_s", "others_cpu" (CPUs), "steal_pct", "disturbed"} of the round."""
        wall = max(time.monotonic() - self.started_s, 1e-9)
        busy, steal = _busy_and_steal_s()
        own = own_cpu_s() - self.own_s
        # a live worker's ticks and /proc/stat's are sampled at slightly different moments:
        # a small negative remainder is rounding, not negative load
        others = max(0.0, (busy - self.busy_s) - own) / wall
        cpus = len(os.sched_getaffinity(0)) or 1
        steal_pct = 100.0 * (steal - self.steal_s) / (wall * cpus)
        return {
            "wall_s": round(wall, 3),
            "others_cpu": round(others, 3),
            "steal_pct": round(steal_pct, 2),
            "disturbed": others >= DISTURBED_CPUS or steal_pct >= STEAL_DISTURBED_PCT,
        }
