"""A results JSON whose fields have the wrong type (issue 22, point 8: "non-dict environment/items
in a JSON, 5 cases"; point 9: hostile numbers): compare, report, history and plot each say one
line naming the file and the field, exit 2, never a traceback. Real files, the real commands."""

from __future__ import annotations

import atexit
import contextlib
import json
import shutil
import tempfile
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cvbench.cli import cli
from cvbench.results.read import ResultsError, load_document
from cvbench.results.shape import ENVIRONMENT, ITEM, TOP
from tests.helpers import CVBENCH, QUICK_RUN, assert_one_error_line

REAL = json.loads(QUICK_RUN["json"].read_text())

# the probe's five cases, and their neighbours
CASES = {
    "environment-list": ("environment", []),
    "environment-string": ("environment", "linux"),
    "environment-number": ("environment", 5),
    "environment-null": ("environment", None),
    "items-string": ("items", "x"),
    "items-list-of-numbers": ("items", [1, 2]),
    "summary-string": ("summary", "x"),
    "findings-number": ("findings", 3),
    "prep_s-list": ("prep_s", [1]),
    "harness_overhead-text": ("harness_overhead", {"threshold": {"overhead_pct": "high"}}),
    "round_loads-strings": ("round_loads", ["a"]),
    "environment-timestamp-number": ("environment", {**REAL["environment"], "timestamp": 7}),
    "environment-allowed_cpus-text": ("environment", {**REAL["environment"], "allowed_cpus": "0"}),
    "items-records-text": ("items", [{**REAL["items"][0], "records": "x"}]),
    "items-without-records": ("items", [{"workload": "w", "model": "m", "workers": 1}]),
}


def _commands(path: Path, tmp: Path) -> list[list[str]]:
    good = str(QUICK_RUN["json"])
    return [
        ["compare", good, str(path)],
        ["compare", str(path), good],
        ["report", str(path), "-o", str(tmp / "r.html")],
        ["history", str(path), good],
        ["plot", str(path), "--out", str(tmp / "charts")],
    ]


@pytest.mark.parametrize("case", list(CASES))
def test_a_field_of_the_wrong_type_is_one_line(case, tmp_path):
    field, value = CASES[case]
    path = tmp_path / f"{case}.json"
    path.write_text(json.dumps({**REAL, field: value}))
    for args in _commands(path, tmp_path):
        result = CliRunner().invoke(cli, args)
        line = assert_one_error_line(result, str(path), field.split("-")[0])
        assert "must be" in line or "has no" in line, line
    assert not (tmp_path / "r.html").exists() and not (tmp_path / "charts").exists()


@pytest.mark.parametrize("case", ["environment-list", "items-string"])
def test_the_probe_cases_in_a_real_process(case, tmp_path):
    import subprocess

    field, value = CASES[case]
    path = tmp_path / "bad.json"
    path.write_text(json.dumps({**REAL, field: value}))
    res = subprocess.run(
        [*CVBENCH, "report", str(path), "-o", str(tmp_path / "r.html")],
        capture_output=True, text=True, timeout=60, cwd=tmp_path,
    )  # fmt: skip
    assert_one_error_line(res, "bad.json", f"'{field}'")


def test_unknown_fields_are_left_alone(tmp_path):
    path = tmp_path / "newer.json"
    path.write_text(json.dumps({**REAL, "from_a_newer_writer": [1, {"x": None}]}))
    assert load_document(path)["rows"]


@pytest.mark.parametrize(
    "column,value,needle",
    [
        ("throughput_per_s", -5.0, "cannot be negative"),
        ("throughput_per_s", 0, "must be above 0 in a row that is ok"),
        ("workers", -1, "must be at least 1"),
        ("workers", 0, "must be at least 1"),
        ("items", -3, "cannot be negative"),
        ("repetition", -1, "cannot be negative"),
    ],
)
def test_compare_refuses_hostile_numbers(column, value, needle, tmp_path):
    path = tmp_path / "hostile.json"
    rows = [{**r, column: value} for r in REAL["rows"]]
    path.write_text(json.dumps({**REAL, "rows": rows}))
    for args in (["compare", str(QUICK_RUN["json"]), str(path)], ["compare", str(path), str(path)]):
        result = CliRunner().invoke(cli, args)
        assert_one_error_line(result, "hostile.json", column, needle)


def test_compare_markdown_escapes_html(tmp_path):
    """A model named <script>… in a results file is text in the job summary, not HTML."""
    path, md = tmp_path / "script.json", tmp_path / "summary.md"
    rows = [{**r, "model": r["model"] + "<script>alert(1)</script>"} for r in REAL["rows"]]
    path.write_text(json.dumps({**REAL, "rows": rows}))
    result = CliRunner().invoke(cli, ["compare", str(path), str(path), "--markdown", str(md)])
    assert result.exit_code == 0, result.output
    text = md.read_text()
    assert "<script>" not in text and "&lt;script&gt;alert(1)&lt;/script&gt;" in text


# -- hostile documents, generated ---------------------------------------------------------------

_json = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats() | st.text(max_size=6),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner, max_size=3)
    ),
    max_leaves=8,
)
_FUZZ_DIR = Path(tempfile.mkdtemp(prefix="cvbench-shape-fuzz-"))
atexit.register(shutil.rmtree, _FUZZ_DIR, True)


def _hostile(doc: dict[str, Any], where: str, key: str, value: Any, item: int) -> dict[str, Any]:
    doc = json.loads(json.dumps(doc))
    if where == "top":
        doc[key] = value
    elif where == "environment":
        doc["environment"][key] = value
    else:
        doc["items"][item % len(doc["items"])][key] = value
    return doc


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.sampled_from(
        [("top", k) for k in TOP]
        + [("environment", k) for k in ENVIRONMENT]
        + [("item", k) for k in ITEM]
    ),
    _json,
    st.integers(0, 100),
)
def test_hostile_documents_load_and_render_or_fail_with_one_line(target, value, item):
    """Whatever a known field holds: a one-line ResultsError, or a document that the gate,
    the report, the charts' data and the history all read without an exception."""
    from cvbench.analysis.gate import compare
    from cvbench.analysis.history import build_history
    from cvbench.report.charts.data import prepare
    from cvbench.report.html import render_report

    where, key = target
    path = _FUZZ_DIR / "doc.json"
    path.write_text(json.dumps(_hostile(REAL, where, key, value, item)))
    try:
        doc = load_document(path, any_schema=True)
    except ResultsError as exc:
        assert "\n" not in str(exc) and str(path) in str(exc)
        return
    with contextlib.suppress(ResultsError):
        compare(doc["rows"], doc["rows"])
    render_report(doc, [], prepare(doc).notes, "fuzz")
    with contextlib.suppress(ResultsError):  # e.g. "no rows match" once its rows changed
        build_history([path, QUICK_RUN["json"]])
