"""Reading results files back: typed rows, one-line errors, and fuzzing for anything else."""

from __future__ import annotations

import atexit
import contextlib
import json
import shutil
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cvbench.analysis.gate import compare
from cvbench.results.gab import gab_entries
from cvbench.results.read import ResultsError, load_results
from cvbench.results.schema import SCHEMA_VERSION, blank_row
from cvbench.results.write import csv_text, json_text
from tests.helpers import QUICK_RUN, shared_run_rows


def _row(**kw) -> dict:
    fields = dict(
        workload="threshold",
        model="threads",
        workers=2,
        repetition=0,
        items=400,
        ok=True,
        wall_s=0.5,
        throughput_per_s=800.0,
        ctx_voluntary=12,
        predicted=False,
        inline=False,
        schema_version=SCHEMA_VERSION,
    )
    return blank_row(**{**fields, **kw})


def test_csv_round_trip_is_typed(tmp_path):
    path = tmp_path / "r.csv"
    path.write_text(csv_text([_row(), _row(repetition=1, ok=False, error="boom, again")]))
    rows = load_results(path)
    assert len(rows) == 2
    r = rows[0]
    assert (r["workload"], r["workers"], r["ok"], r["predicted"]) == ("threshold", 2, True, False)
    assert type(r["workers"]) is int and type(r["ctx_voluntary"]) is int
    assert type(r["wall_s"]) is float and r["throughput_per_s"] == 800.0
    assert r["latency_p99_ms"] is None and r["error"] is None
    assert rows[1]["ok"] is False and rows[1]["error"] == "boom, again"


def test_json_and_csv_of_a_real_run_agree():
    from_csv, from_json = load_results(QUICK_RUN["csv"]), load_results(QUICK_RUN["json"])
    assert len(from_csv) == len(from_json)
    assert sum(not r["predicted"] for r in from_csv) == shared_run_rows()[0]
    for a, b in zip(from_csv, from_json, strict=True):
        for key in ("workload", "model", "workers", "repetition", "ok", "items", "cv_threads"):
            assert a[key] == b[key], key
        assert a["wall_s"] == pytest.approx(b["wall_s"], rel=1e-5)


def test_json_written_by_the_real_writer(tmp_path):
    path = tmp_path / "r.json"
    path.write_text(json_text([_row()], [], {"python": "3.11"}, [], {}))
    assert load_results(path, required=["wall_s"])[0]["wall_s"] == 0.5
    # a bare list of rows, with a suffix that says nothing
    (tmp_path / "rows.txt").write_text(json.dumps([_row()]))
    assert load_results(tmp_path / "rows.txt")[0]["model"] == "threads"


def test_non_finite_values_are_missing(tmp_path):
    path = tmp_path / "r.json"
    path.write_text(json.dumps({"rows": [_row(wall_s=float("nan"), latency_p99_ms=1e999)]}))
    row = load_results(path)[0]
    assert row["wall_s"] is None and row["latency_p99_ms"] is None


def test_unknown_columns_are_kept(tmp_path):
    path = tmp_path / "r.csv"
    text = csv_text([_row()]).splitlines()
    path.write_text("\n".join([text[0] + ",gpu,temp_c", text[1] + ",none,41.5"]) + "\n")
    row = load_results(path)[0]
    assert (row["gpu"], row["temp_c"]) == ("none", 41.5)


ERRORS = {
    "no such file": None,
    "empty file": "  \n",
    "no result rows": csv_text([]),
    "not UTF-8": b"\xff\xfe\x00garbage",
    "invalid or truncated JSON": '{"schema_version": 1, "rows": [',
    "missing required column(s) ok": "workload,model,workers,repetition\nt,m,1,0\n",
    "record 2 has 3 fields": "workload,model,workers,repetition,ok\nt,m,1\n",
    "column 'workers' expects an integer, got 'two'": csv_text([_row(workers="two")]),
    "column 'wall_s' expects a number": csv_text([_row(wall_s="fast")]),
    "column 'ok' expects true/false": csv_text([_row(ok="maybe")]),
    "empty 'model'": csv_text([_row(model=None)]),
    "written by a newer cvbench": csv_text([_row(schema_version=SCHEMA_VERSION + 1)]),
    "schema_version must be an integer": json.dumps({"schema_version": "x", "rows": []}),
    "no 'rows' key": json.dumps({"schema_version": 1}),
    "row 0: expected an object": json.dumps({"rows": [1]}),
    "duplicate column(s)": "workload,workload,model\n",
}


@pytest.mark.parametrize("message", list(ERRORS))
def test_bad_files_raise_one_line_naming_file_and_problem(tmp_path, message):
    content = ERRORS[message]
    suffix = ".json" if isinstance(content, str) and content.startswith("{") else ".csv"
    path = tmp_path / f"bad{suffix}"
    if isinstance(content, bytes):
        path.write_bytes(content)
    elif content is not None:
        path.write_text(content)
    with pytest.raises(ResultsError) as info:
        load_results(path, required=["wall_s"])
    text = str(info.value)
    assert "\n" not in text
    assert text.startswith(str(path)) and message in text, text


def test_required_metric_column(tmp_path):
    path = tmp_path / "r.csv"
    path.write_text("workload,model,workers,repetition,ok\nthreshold,threads,1,0,true\n")
    assert load_results(path)[0]["ok"] is True
    with pytest.raises(ResultsError, match="missing required column.*lag_p99_ms"):
        load_results(path, required=["lag_p99_ms"])


def test_directory_is_an_error(tmp_path):
    with pytest.raises(ResultsError, match="is a directory"):
        load_results(tmp_path)


# --- fuzz: whatever arrives, only ResultsError ----------------------------------------------------

_FUZZ_DIR = Path(tempfile.mkdtemp(prefix="cvbench-fuzz-"))
atexit.register(shutil.rmtree, _FUZZ_DIR, True)


def _load_only_results_errors(data: bytes, suffix: str) -> None:
    path = _FUZZ_DIR / f"f{suffix}"
    path.write_bytes(data)
    try:
        rows = load_results(path, required=["throughput_per_s"])
    except ResultsError as exc:
        assert "\n" not in str(exc)
        return
    # whatever loads must also be safe to compare and publish
    with contextlib.suppress(ResultsError):
        compare(rows, rows)
    gab_entries(rows, "throughput_per_s")


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=2000), st.sampled_from([".csv", ".json", ".txt"]))
def test_fuzz_arbitrary_bytes(data, suffix):
    _load_only_results_errors(data, suffix)


def _mutate(data: bytes, ops: list[tuple[int, int, int, bytes]]) -> bytes:
    for kind, at, length, blob in ops:
        at = at % (len(data) + 1)
        if kind == 0:
            data = data[:at]  # truncated upload
        elif kind == 1:
            data = data[:at] + data[at + length :]  # lost chunk
        elif kind == 2:
            data = data[:at] + blob + data[at:]  # garbage inserted
        else:
            data = data[:at] + blob + data[at + len(blob) :]  # bytes overwritten
    return data


_ops = st.lists(
    st.tuples(
        st.integers(0, 3),
        st.integers(0, 10**7),
        st.integers(0, 200),
        st.sampled_from([b",", b"\n", b'"', b"x", b"nan", b"-1e999", b"]", b"{", b"\x00", b"\xff"])
        | st.binary(max_size=8),
    ),
    min_size=1,
    max_size=4,
)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_ops, st.booleans())
def test_fuzz_mutated_real_files(ops, use_json):
    path = QUICK_RUN["json"] if use_json else QUICK_RUN["csv"]
    _load_only_results_errors(_mutate(path.read_bytes(), ops), path.suffix)


@settings(max_examples=150, deadline=None)
@given(
    st.dictionaries(
        st.sampled_from(
            [
                "workload",
                "model",
                "workers",
                "repetition",
                "ok",
                "throughput_per_s",
                "predicted",
                "schema_version",
                "extra",
            ]
        ),
        st.none()
        | st.booleans()
        | st.integers()
        | st.floats()
        | st.text(max_size=5)
        | st.lists(st.integers(), max_size=2),
    ),
    st.integers(0, 3),
)
def test_fuzz_json_rows_with_any_types(row, count):
    _load_only_results_errors(
        json.dumps({"schema_version": 1, "rows": [row] * count}).encode(), ".json"
    )
