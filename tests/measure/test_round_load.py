"""Load from other processes per round, against independent sources: /proc/self/stat for this
process's own CPU, and a real busy process that is not ours (reparented to init)."""

from __future__ import annotations

import os
import subprocess
import time

import pytest

from cvbench.measure.noise.round_load import RoundLoad, own_cpu_s


def _proc_self_cpu_s() -> float:
    with open("/proc/self/stat") as fh:
        fields = fh.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime


def _spin(seconds: float) -> None:
    end = time.process_time() + seconds
    while time.process_time() < end:
        pass


def test_own_cpu_agrees_with_proc_self_stat():
    a, b = own_cpu_s(), _proc_self_cpu_s()
    _spin(0.4)
    own, proc = own_cpu_s() - a, _proc_self_cpu_s() - b
    assert abs(own - proc) < 0.05 and own >= 0.35


@pytest.mark.slow  # a subprocess or a wait of seconds: the full tier
def test_our_own_work_is_not_other_load_and_a_stranger_is():
    cpus = ",".join(map(str, sorted(os.sched_getaffinity(0))))
    quiet = RoundLoad.start()
    _spin(0.5)  # our own CPU: never "others"
    baseline = quiet.finish()["others_cpu"]
    # a busy loop that is not our descendant: its shell exits, init adopts it
    subprocess.run(
        ["sh", "-c", f"taskset -c {cpus} timeout 3 sh -c 'while :; do :; done' >/dev/null 2>&1 &"],
        check=True,
    )
    time.sleep(0.2)
    loaded = RoundLoad.start()
    time.sleep(1.5)
    result = loaded.finish()
    # >= 0.4 CPUs whatever else runs (a saturated machine leaves the stranger less than 1)
    assert result["others_cpu"] >= 0.4, (baseline, result)
    assert result["disturbed"] is True
