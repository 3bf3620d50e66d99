"""The regression gate: verdicts, exit codes, Mann-Whitney against known values, gab output."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from cvbench.analysis.gate import NoMatchError, compare
from cvbench.commands.compare import compare_cmd
from cvbench.report.compare import markdown_text
from cvbench.results import gab
from cvbench.results.read import ResultsError, load_results
from cvbench.results.schema import COLUMNS, METRICS, SCHEMA_VERSION, blank_row
from cvbench.results.write import csv_text
from tests.helpers import QUICK_RUN, assert_one_error_line


@pytest.fixture(scope="session")
def real_files() -> tuple[Path, Path]:
    return QUICK_RUN["csv"], QUICK_RUN["json"]


def real_groups(path: Path) -> set[tuple[str, str, int]]:
    """The measured workload x model x workers groups of a real results file."""
    rows = load_results(path)
    return {(r["workload"], r["model"], r["workers"]) for r in rows if not r["predicted"]}


GROUPS = [("sequential", 1), ("threads", 1), ("threads", 2), ("asyncio", 1), ("asyncio", 2)]


def synth_rows(
    reps: int = 5, slow: dict[str, float] | None = None, noise: float = 0.01, seed: int = 0
) -> list[dict]:
    """Rows as `cvbench run` makes them: wall_s ~ 1 s / workers, small noise, a slowdown
    factor per model (wall_s x f, throughput / f)."""
    rng = np.random.default_rng(seed)
    rows = []
    for model, workers in GROUPS:
        for rep in range(reps):
            wall = (1.0 / workers) * (1 + rng.uniform(-noise, noise))
            wall *= (slow or {}).get(model, 1.0)
            rows.append(
                blank_row(
                    workload="threshold",
                    model=model,
                    workers=workers,
                    repetition=rep,
                    items=400,
                    ok=True,
                    wall_s=wall,
                    throughput_per_s=400 / wall,
                    speedup=1.0 / wall,
                    ctx_voluntary=int(40 * wall),
                    predicted=False,
                    schema_version=SCHEMA_VERSION,
                )
            )
    return rows


def write(path: Path, rows: list[dict]) -> Path:
    path.write_text(csv_text(rows))
    return path


def run_compare(*args: str):
    return CliRunner().invoke(compare_cmd, [str(a) for a in args])


def last_line(result) -> str:
    return result.output.strip().splitlines()[-1]


# --- the gate through the CLI ------------------------------------------------------------------


def test_same_real_file_is_no_regression(real_files, tmp_path):
    csv_path, json_path = real_files
    for base, cur in ((csv_path, csv_path), (json_path, json_path), (csv_path, json_path)):
        res = run_compare(base, cur, "--markdown", tmp_path / "m.md")
        assert res.exit_code == 0, res.output
        assert "no regression" in last_line(res)
    md = (tmp_path / "m.md").read_text()
    assert "| threshold | threads | 2 |" in md


def test_markdown_appends_to_the_github_step_summary(real_files, tmp_path, monkeypatch):
    csv_path, _ = real_files
    summary = tmp_path / "summary.md"
    summary.write_text("earlier step output\n")
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    for metric in ("throughput_per_s", "wall_s"):
        res = run_compare(csv_path, csv_path, "--metric", metric, "--markdown", summary)
        assert res.exit_code == 0, res.output
    text = summary.read_text()
    assert text.startswith("earlier step output")
    assert "cvbench compare: throughput_per_s" in text and "cvbench compare: wall_s" in text
    other = tmp_path / "other.md"
    for _ in range(2):
        assert run_compare(csv_path, csv_path, "--markdown", other).exit_code == 0
    assert other.read_text().count("## cvbench compare") == 1


@pytest.mark.parametrize("metric", ["throughput_per_s", "wall_s"])
@pytest.mark.parametrize("reps", [5, 3])
def test_slowdown_in_one_model_names_only_that_model(tmp_path, metric, reps):
    base = write(tmp_path / "base.csv", synth_rows(reps, seed=1))
    cur = write(tmp_path / "cur.csv", synth_rows(reps, slow={"threads": 1.25}, seed=2))
    res = run_compare(base, cur, "--metric", metric)
    assert res.exit_code == 1, res.output
    line = last_line(res)
    assert "2 regression(s)" in line
    assert "threshold/threads/1w" in line and "threshold/threads/2w" in line
    assert "sequential" not in line and "asyncio" not in line
    # the injected copy as baseline reads as an improvement, never a regression
    assert run_compare(cur, base, "--metric", metric).exit_code == 0


def test_slowdown_below_threshold_is_same(tmp_path):
    base = write(tmp_path / "base.csv", synth_rows(5, seed=1))
    cur = write(tmp_path / "cur.csv", synth_rows(5, slow={"threads": 1.05}, seed=2))
    assert run_compare(base, cur).exit_code == 0
    assert run_compare(base, cur, "--threshold", "3%").exit_code == 1


def test_noisy_three_repetitions_are_not_significant(tmp_path):
    """A 25 % step inside ±40 % noise is beyond the threshold but not significant."""
    base = write(tmp_path / "base.csv", synth_rows(3, noise=0.4, seed=3))
    cur = write(tmp_path / "cur.csv", synth_rows(3, slow={"threads": 1.25}, noise=0.4, seed=4))
    c = compare(load_results(base), load_results(cur), "wall_s")
    for g in c.groups:
        if g.verdict == "same" and abs(g.ratio - 1) > 0.1:
            assert g.note == "beyond threshold but not significant"
    assert all(g.p is not None and g.p >= 0.1 for g in c.groups)  # 3 vs 3: exact p >= 0.1


def test_one_repetition_is_threshold_only(tmp_path):
    base = write(tmp_path / "base.csv", synth_rows(1, seed=1))
    cur = write(tmp_path / "cur.csv", synth_rows(1, slow={"asyncio": 1.25}, seed=2))
    res = run_compare(base, cur)
    assert res.exit_code == 1, res.output
    assert "threshold only: 1 repetition" in res.output
    assert "asyncio" in last_line(res) and "threads" not in last_line(res)
    c = compare(load_results(base), load_results(cur))
    assert {g.note for g in c.groups} == {"threshold only: 1 repetition"}
    assert all(g.p is None and g.ci is None for g in c.groups)


def test_normalize_sequential_cancels_a_slower_machine(tmp_path):
    base = write(tmp_path / "base.csv", synth_rows(5, seed=1))
    everything = {m: 1.6 for m, _ in GROUPS}
    slower = write(tmp_path / "slower.csv", synth_rows(5, slow=everything, seed=2))
    assert run_compare(base, slower).exit_code == 1
    res = run_compare(base, slower, "--normalize", "sequential")
    assert res.exit_code == 0, res.output
    # on the slower machine, threads also got 25 % slower relative to sequential: caught
    worse = write(tmp_path / "w.csv", synth_rows(5, slow={**everything, "threads": 2.0}, seed=2))
    res = run_compare(base, worse, "--normalize", "sequential")
    assert res.exit_code == 1 and "threads" in last_line(res) and "asyncio" not in last_line(res)
    c = compare(load_results(base), load_results(worse), normalize="sequential")
    assert [g.verdict for g in c.groups if g.model == "sequential"] == ["reference"]


def test_missing_and_new_groups_are_listed_not_errors(tmp_path):
    rows = synth_rows(3)
    cur = [r for r in rows if r["model"] != "asyncio"]
    cur += [{**r, "model": "trio"} for r in rows if r["model"] == "threads"]
    cur += [{**r, "model": "greenlet", "ok": False, "error": "boom\nsecond"} for r in rows[:2]]
    c = compare(rows, cur)
    verdicts = {(g.model, g.workers): g.verdict for g in c.groups}
    assert verdicts[("asyncio", 1)] == verdicts[("asyncio", 2)] == "missing"
    assert verdicts[("trio", 2)] == "new"
    assert ("greenlet", 1) not in verdicts  # failed on one side only and absent on the other
    base = write(tmp_path / "b.csv", rows)
    res = run_compare(base, write(tmp_path / "c.csv", cur))
    assert res.exit_code == 0 and "missing" in res.output and "new" in res.output


def test_failed_group_in_current_is_reported_missing():
    rows = synth_rows(3)
    cur = [
        {**r, "ok": False, "error": "worker died\ntrace"} if r["model"] == "asyncio" else r
        for r in rows
    ]
    g = [g for g in compare(rows, cur).groups if g.model == "asyncio"]
    assert {x.verdict for x in g} == {"missing"}
    assert g[0].note == "failed in current: worker died"


def test_predicted_rows_are_ignored():
    rows = synth_rows(3)
    predicted = [{**r, "predicted": True, "wall_s": 100.0, "throughput_per_s": 1.0} for r in rows]
    c = compare(rows, rows + predicted)
    assert not c.regressions and all(g.n_current == 3 for g in c.groups)


def test_no_matching_rows_is_an_error(tmp_path):
    rows = synth_rows(2)
    other = [{**r, "workload": "faces"} for r in rows]
    with pytest.raises(NoMatchError, match="no rows match"):
        compare(rows, other)
    res = run_compare(write(tmp_path / "a.csv", rows), write(tmp_path / "b.csv", other))
    assert_one_error_line(res, "no rows match")


def test_zero_baseline_counts():
    """Counters are often 0: 0 -> 0 is no change, 0 -> many is a regression, not a crash."""
    rows = synth_rows(5)
    zero = [{**r, "ctx_involuntary": 0} for r in rows]
    many = [{**r, "ctx_involuntary": 50 + r["repetition"]} for r in rows]
    assert not compare(zero, zero, "ctx_involuntary").regressions
    c = compare(zero, many, "ctx_involuntary")
    assert len(c.regressions) == len(GROUPS)
    assert "∞" in markdown_text(c)


# --- bad input: exit 2, one line ---------------------------------------------------------------


def test_bad_inputs_exit_2_with_one_line(real_files, tmp_path):
    csv_path, json_path = real_files
    good = csv_path.read_text()
    cases = {
        "missing.csv": None,
        "empty.csv": "",
        "trunc.csv": good[: len(good) // 2],
        "trunc.json": json_path.read_text()[:5000],
        "nometric.csv": good.replace("throughput_per_s", "thru"),
        "text.csv": re.sub(r",threads,1,0,\d+,true,", ",threads,1,0,lots,true,", good, count=1),
        "newer.json": json.dumps({"schema_version": SCHEMA_VERSION + 1, "rows": []}),
    }
    needles = {
        "missing.csv": "no such file",
        "empty.csv": "empty file",
        "trunc.csv": "fields",
        "trunc.json": "JSON",
        "nometric.csv": "throughput_per_s",
        "text.csv": "'items'",
        "newer.json": "newer cvbench",
    }
    for name, text in cases.items():
        path = tmp_path / name
        if text is not None:
            path.write_text(text)
        assert_one_error_line(run_compare(csv_path, path), name, needles[name])
        assert_one_error_line(run_compare(path, csv_path), name, needles[name])


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--threshold", "ten"], "percentage"),
        (["--threshold", "0"], "between"),
        (["--alpha", "1.5"], "--alpha"),
        (["--metric", "bogus"], "--metric"),
        (["--normalize", "best"], "--normalize"),
    ],
)
def test_bad_options_exit_2(real_files, args, needle):
    csv_path, _ = real_files
    assert_one_error_line(run_compare(csv_path, csv_path, *args), needle)


def test_threshold_accepts_percent_forms(real_files):
    csv_path, _ = real_files
    for value in ("10", "10%", "2.5 %"):
        assert run_compare(csv_path, csv_path, "--threshold", value).exit_code == 0


# --- github-action-benchmark -------------------------------------------------------------------


def test_gab_output_parses(real_files, tmp_path):
    csv_path, _ = real_files
    out = tmp_path / "gab.json"
    assert run_compare(csv_path, csv_path, "--gab", out, "--metric", "wall_s").exit_code == 0
    entries = json.loads(out.read_text())
    groups = real_groups(csv_path)
    assert len(entries) == len(groups)
    for e in entries:
        assert isinstance(e["name"], str) and e["name"].endswith(" wall_s")
        assert e["unit"] == "s"
        assert isinstance(e["value"], float) and e["value"] > 0
        assert e["range"].startswith("± ") and "3 repetitions" in e["extra"]
    assert len({e["name"] for e in entries}) == len(entries)
    rows = load_results(csv_path)
    assert gab.write_gab(tmp_path / "t.json", rows, "throughput_per_s") == len(groups)
    names = [e["name"] for e in json.loads((tmp_path / "t.json").read_text())]
    assert "threshold/threads/2w throughput_per_s" in names
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == []


def test_gab_single_repetition_and_skipped_rows():
    rows = synth_rows(1)
    rows.append({**rows[0], "ok": False})
    rows.append({**rows[0], "predicted": True, "model": "processes"})
    entries = gab.gab_entries(rows, "throughput_per_s")
    assert len(entries) == len(GROUPS)
    assert all("range" not in e and e["extra"] == "1 repetition" for e in entries)


def test_bigger_is_better_table():
    assert gab.bigger_is_better("throughput_per_s") and gab.bigger_is_better("speedup")
    for m in ("wall_s", "latency_p99_ms", "lag_p99_ms", "ctx_voluntary", "max_rss_mb"):
        assert not gab.bigger_is_better(m)
    assert gab.tool_name("throughput_per_s") == "customBiggerIsBetter"
    assert gab.tool_name("wall_s") == "customSmallerIsBetter"
    assert set(METRICS) <= set(COLUMNS)
    with pytest.raises(ValueError, match="unknown metric"):
        gab.gab_entries([], "output_digest")


def test_unknown_metric_is_a_value_error_not_results_error():
    with pytest.raises(ValueError) as info:
        compare([], [], "bogus")
    assert not isinstance(info.value, ResultsError)
