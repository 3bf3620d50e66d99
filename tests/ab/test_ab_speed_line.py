"""The job's CPU-speed check reaches its Markdown (the PR comment) only when it warned."""

from __future__ import annotations

from dataclasses import asdict

from cvbench.ab.export import json_text, markdown_text
from cvbench.ab.job import AbResult
from cvbench.measure.noise.speed import speed_check


def _result(walls: list[float]) -> AbResult:
    result = AbResult(sides={"base": {"description": "HEAD~1"}, "head": {"description": "HEAD"}})
    result.speed = asdict(speed_check([(w, w) for w in walls]))
    return result


def test_a_warning_speed_check_is_a_line_of_the_markdown():
    swinging = [0.005 * (1.0 if i % 3 else 1.5) * (1.0 if i % 4 else 1.3) for i in range(60)]
    result = _result(swinging)
    assert result.speed["status"] == "warn"
    assert "- ⚠ CPU speed: the same work took" in markdown_text(result)
    assert '"cpu_speed": {"status": "warn"' in json_text(result)


def test_a_steady_cpu_adds_no_line():
    result = _result([0.005] * 60)
    assert result.speed["status"] == "ok" and "CPU speed" not in markdown_text(result)
