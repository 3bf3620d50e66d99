"""A change measured beside other processes' load is reported as disturbed, never as a
regression (identical settings under load looked like a -45 % regression in round two)."""

from __future__ import annotations

from cvbench.analysis.gate import compare


def _rows(value: float, disturbed: bool, n: int = 5) -> list[dict]:
    return [
        {"workload": "threshold", "model": "threads", "workers": 2, "ok": True, "round": i,
         "throughput_per_s": value * (1 + 0.01 * i), "disturbed": disturbed,
         "others_cpu": 1.0 if disturbed else 0.0}
        for i in range(n)
    ]  # fmt: skip


def test_a_slowdown_under_load_is_disturbed_not_a_regression():
    result = compare(_rows(100.0, False), _rows(55.0, True))
    assert result.regressions == []
    (group,) = result.groups
    assert group.verdict == "disturbed" and "current: 5 of 5 rounds" in group.note


def test_the_same_slowdown_on_a_quiet_machine_is_a_regression():
    result = compare(_rows(100.0, False), _rows(55.0, False))
    assert [g.verdict for g in result.groups] == ["regression"]
