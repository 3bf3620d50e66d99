"""`cvbench doctor` and its probes, on this machine's real /proc and /sys (nothing mocked)."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

from click.testing import CliRunner

from cvbench import cli as climod
from cvbench.measure import noise
from tests.helpers import assert_one_error_line

CHECK_FIELDS = {"status", "value", "message", "advice"}


def _aggregate_cpu(text: str) -> list[int]:
    """Parsed here, independently of cvbench: the first line of /proc/stat is 'cpu  u n s ...'."""
    first = text.splitlines()[0]
    assert first.split()[0] == "cpu"
    return [int(x) for x in first.split()[1:]]


def test_steal_agrees_with_an_independent_parse_of_two_proc_stat_reads():
    before = Path("/proc/stat").read_text()
    deadline = time.monotonic() + 0.3
    while time.monotonic() < deadline:  # burn a little CPU so ticks certainly pass
        sum(range(10_000))
    after = Path("/proc/stat").read_text()
    a, b = _aggregate_cpu(before), _aggregate_cpu(after)
    # user nice system idle iowait irq softirq steal; guest* are inside user/nice already
    delta = [y - x for x, y in zip(a[:8], b[:8], strict=True)]
    expected = 100 * delta[7] / sum(delta)
    assert noise.steal_percent(before, after) == expected
    assert 0 <= expected <= 100


def test_steal_does_not_count_guest_time_twice():
    before = "cpu  100 0 0 100 0 0 0 0 50 0\ncpu0 1 2 3\n"
    after = "cpu  200 0 0 180 0 0 0 20 90 0\ncpu0 1 2 3\n"
    assert noise.steal_percent(before, after) == 10.0  # 20 of 200 ticks, guest ignored
    assert noise.steal_percent(before, before) is None


def test_doctor_prints_every_check_and_writes_json(tmp_path):
    out = tmp_path / "doctor.json"
    result = CliRunner().invoke(climod.cli, ["doctor", "--sample", "200ms", "--json", str(out)])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    for key, label in noise.LABELS.items():
        hits = [ln for ln in lines if ln[6:].startswith(label)]
        assert len(hits) == 1, (key, result.output)
        assert hits[0].split()[0] in ("ok", "warn", "info")
    assert lines[-1].startswith("doctor: ")
    doc = json.loads(out.read_text())
    assert set(doc) == {"sample_s", "checks", "warnings"}
    assert list(doc["checks"]) == list(noise.LABELS)
    for check in doc["checks"].values():
        assert set(check) == CHECK_FIELDS
        assert check["status"] in ("ok", "warn", "info")
        if check["value"] is None and check["status"] == "info":
            assert check["message"].startswith("unknown (")
    assert doc["warnings"] == noise.warnings(doc)
    assert len(doc["warnings"]) == sum(c["status"] == "warn" for c in doc["checks"].values())


def test_readings_match_the_machine():
    checks = noise.collect_noise(0.1)["checks"]
    assert checks["allowed_cpus"]["value"] == sorted(os.sched_getaffinity(0))
    hz = checks["hz"]["value"]
    assert hz is None or hz in (100, 250, 300, 1000)
    load = checks["load"]["value"]
    assert load["cpus"] == len(os.sched_getaffinity(0)) and load["load1"] >= 0
    assert checks["steal"]["value"] is None or 0 <= checks["steal"]["value"] <= 100


def test_window_leaves_out_this_process():
    window = noise.NoiseWindow()
    deadline = time.monotonic() + 0.3
    while time.monotonic() < deadline:
        sum(range(10_000))
    doc = window.finish()
    busy = doc["checks"]["busy_processes"]["value"]
    assert os.getpid() not in {p["pid"] for p in busy["top"]}
    assert doc["window_s"] >= 0.3
    assert set(doc["checks"]) == {"steal", "busy_processes"}


def test_bad_sample_is_one_line():
    result = CliRunner().invoke(climod.cli, ["doctor", "--sample", "0"])
    line = assert_one_error_line(result)
    assert line == "Error: --sample 0: must be more than 0 and at most 60 s"
