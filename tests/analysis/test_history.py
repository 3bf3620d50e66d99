"""`cvbench history`: trends and change points over many real results files.

The histories are built from real rows (the committed quick baseline, or this session's quick
run) copied into 30 files with seeded per-file noise and, where a test says so, one 20 % step.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import os
import random
from pathlib import Path

import pytest
from click.testing import CliRunner

from cvbench import cli as climod
from cvbench.analysis.history import build_history, change_points
from cvbench.report.history import sparkline
from tests.helpers import QUICK_RUN, ROOT, assert_one_error_line

BASELINE = ROOT / "results" / "baseline-quick.csv"
T0 = dt.datetime(2026, 11, 1, tzinfo=dt.UTC)
N_FILES = 30
STEP_AT = 17  # 0-based: the 18th file is the first one with the step


def write_history(
    out_dir: Path,
    src: Path = BASELINE,
    n: int = N_FILES,
    step_at: int | None = STEP_AT,
    step: float = -0.20,
    model: str = "threads",
    seed: int = 0,
    keep: tuple[str, ...] = ("sequential", "threads"),
    file_noise: float = 0.03,
    row_noise: float = 0.02,
) -> list[Path]:
    """``n`` results files (random commit-like names, timestamps 6 h apart) from ``src``'s
    real rows of the threshold workload: throughput x (1 +- file_noise) per file, x (1 +-
    row_noise) per row, and x (1 + step) for ``model`` from file ``step_at`` on."""
    rng = random.Random(seed)
    with src.open(newline="") as fh:
        rows = [
            r for r in csv.DictReader(fh) if r["workload"] == "threshold" and r["model"] in keep
        ]
    header = list(rows[0])
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(n):
        f = 1 + rng.uniform(-file_noise, file_noise)
        path = out_dir / f"{rng.getrandbits(28):07x}.csv"
        with path.open("w", newline="") as fh:
            writer = csv.DictWriter(fh, header)
            writer.writeheader()
            for r in rows:
                g = f * (1 + rng.uniform(-row_noise, row_noise))
                if step_at is not None and i >= step_at and r["model"] == model:
                    g *= 1 + step
                writer.writerow(
                    {
                        **r,
                        "throughput_per_s": f"{float(r['throughput_per_s']) * g:.6g}",
                        "wall_s": f"{float(r['wall_s']) / g:.6g}",
                        "timestamp": (T0 + dt.timedelta(hours=6 * i)).isoformat(),
                    }
                )
        paths.append(path)
    return paths


def _found(history) -> dict[str, list[int]]:
    return {t.name: [c.file.index for c in t.changes] for t in history.trends}


def _history(args: list[str]):
    return CliRunner().invoke(climod.cli, ["history", *args])


# --- the goal: one 20 % step, found within +-1 file, and nothing else --------------------------


@pytest.mark.parametrize(("seed", "step_at"), [(0, STEP_AT), (1, 5), (2, 26)])
def test_inserted_step_is_found_within_one_file_and_alone(tmp_path, seed, step_at):
    write_history(tmp_path, seed=seed, step_at=step_at)
    history = build_history([tmp_path])
    found = _found(history)
    assert found.pop("threshold/sequential/1w") == []
    for name, at in found.items():
        assert len(at) == 1 and abs(at[0] - step_at) <= 1, (name, at, step_at)
    stepped = [t for t in history.trends if t.model == "threads"]
    assert all(t.changes[0].worse and -24 < t.changes[0].change_pct < -16 for t in stepped)
    assert {t.name for t in history.regressions} == {t.name for t in stepped}


def test_no_step_reported_without_one(tmp_path):
    write_history(tmp_path, step_at=None, seed=3)
    history = build_history([tmp_path])
    assert all(not t.changes for t in history.trends), _found(history)
    assert not history.regressions


def test_files_are_ordered_by_their_metadata_not_their_names(tmp_path):
    paths = write_history(tmp_path, n=8, step_at=None)
    history = build_history([tmp_path])
    assert [Path(f.source) for f in history.files] == paths  # creation = timestamp order
    assert sorted(paths) != paths  # the names alone would have given another order
    assert {f.time_from for f in history.files} == {"metadata"}


def test_mtime_is_the_fallback_with_a_note(tmp_path):
    paths = write_history(tmp_path, n=6, step_at=None)
    for i, p in enumerate(paths):
        rows = list(csv.DictReader(p.open(newline="")))
        with p.open("w", newline="") as fh:
            w = csv.DictWriter(fh, list(rows[0]))
            w.writeheader()
            w.writerows({**r, "timestamp": ""} for r in rows)
        os.utime(p, (1_700_000_000 + 60 * i, 1_700_000_000 + 60 * i))
    history = build_history(paths[::-1])
    assert [Path(f.source) for f in history.files] == paths
    assert {f.time_from for f in history.files} == {"mtime"}
    assert any("modification time" in n for n in history.notes)


def test_a_csv_and_json_of_one_run_count_once(tmp_path):
    paths = write_history(tmp_path, n=5, step_at=None)
    rows = list(csv.DictReader(paths[0].open(newline="")))
    doc = {"schema_version": 1, "rows": rows, "environment": {"timestamp": rows[0]["timestamp"]}}
    paths[0].with_suffix(".json").write_text(json.dumps(doc))
    history = build_history([tmp_path])
    assert len(history.files) == 5
    assert Path(history.files[0].source).suffix == ".json"
    assert any("same run" in n for n in history.notes)


def test_change_points_on_a_plain_series():
    assert change_points([10.0] * 12 + [8.0] * 12) == [12]
    assert change_points([10.0] * 30) == []
    assert change_points([10.0, 8.0, 10.0]) == []  # too short for two segments of two


def test_sparkline_scales_and_marks_gaps():
    assert sparkline([1.0, 2.0, None, 8.0]) == "▁▂ █"
    assert sparkline([5.0, 5.0]) == "▁▁"
    assert len(sparkline([float(i) for i in range(100)], width=40)) == 40


# --- the command: exit codes, output, options -------------------------------------------------


def test_cli_exit_1_names_file_and_timestamp_of_the_step(tmp_path):
    paths = write_history(tmp_path / "h", seed=4)
    out = tmp_path / "history.json"
    result = _history([str(tmp_path / "h"), "--json", str(out)])
    assert result.exit_code == 1, result.output
    first = paths[STEP_AT]
    stamp = (T0 + dt.timedelta(hours=6 * STEP_AT)).isoformat(timespec="seconds")
    assert f"threshold/threads/1w: from {first} ({stamp}" in result.output
    assert "regression(s)" in result.output.splitlines()[-1]
    doc = json.loads(out.read_text())
    assert set(doc) >= {"metric", "unit", "files", "groups", "regressions", "notes", "method"}
    assert doc["regressions"] == ["threshold/threads/1w", "threshold/threads/2w"]
    group = next(g for g in doc["groups"] if g["group"] == "threshold/threads/2w")
    assert [c["file_index"] for c in group["changes"]] == [STEP_AT]
    assert group["changes"][0]["source"] == str(first)


def test_cli_exit_0_when_the_step_is_below_threshold_or_an_improvement(tmp_path):
    write_history(tmp_path / "down", seed=5)
    write_history(tmp_path / "up", seed=6, step=+0.20)
    # -20 % throughput is a slowdown factor of 1.25 (as `compare` measures): 30 % lets it pass
    assert _history([str(tmp_path / "down"), "--threshold", "30%"]).exit_code == 0
    result = _history([str(tmp_path / "up")])
    assert result.exit_code == 0, result.output
    assert "improvement" in result.output


def test_cli_group_filter_and_other_metric(tmp_path):
    write_history(tmp_path, seed=7)
    result = _history([str(tmp_path), "--group", "*/sequential/*"])
    assert result.exit_code == 0, result.output
    assert "threads/1w" not in result.output
    # wall_s went up by 1/0.8: smaller is better, so that is a regression as well
    result = _history([str(tmp_path), "--metric", "wall_s", "--group", "threshold/threads/2w"])
    assert result.exit_code == 1, result.output


@pytest.mark.parametrize(
    ("make", "args", "needles"),
    [
        ("empty-dir", [], ["no *.csv or *.json"]),
        (None, ["/no/such/file.csv"], ["/no/such/file.csv", "no such file"]),
        ("truncated", [], ["truncated or corrupted"]),
        ("history", ["--metric", "bogus"], ["unknown metric", "bogus"]),
        ("history", ["--group", "nope/*"], ["no group matches", "nope/*"]),
        ("history", ["--threshold", "ten"], ["--threshold", "ten"]),
    ],
)
def test_bad_input_exits_2_with_one_line(tmp_path, make, args, needles):
    target: list[str] = []
    if make == "empty-dir":
        target = [str(tmp_path)]
    elif make == "truncated":
        p = write_history(tmp_path, n=4, step_at=None)[2]
        p.write_text(p.read_text()[:-40])
        target = [str(tmp_path)]
        needles = [p.name, *needles]
    elif make == "history":
        write_history(tmp_path, n=4, step_at=None)
        target = [str(tmp_path)]
    assert_one_error_line(_history([*target, *args]), *needles)


def test_no_files_at_all_exits_2():
    assert_one_error_line(_history([]), "no results files given")


# --- on a real quick run (tests/data) -------------------------------------------------------------


def test_step_in_a_history_built_from_the_real_quick_run(tmp_path):
    write_history(tmp_path, src=QUICK_RUN["csv"], seed=8, keep=("sequential", "threads"))
    history = build_history([tmp_path])
    for t in history.trends:
        expected = [STEP_AT] if t.model == "threads" else []
        assert [c.file.index for c in t.changes] in (
            expected,
            [i + d for i in expected for d in (-1, 1)],
        ), (t.name, t.changes)


@pytest.mark.slow
def test_trend_chart_is_written(tmp_path):
    pytest.importorskip("matplotlib")
    from cvbench.report.charts.trend import plot_trend

    write_history(tmp_path / "h", seed=9)
    paths, notes = plot_trend(build_history([tmp_path / "h"]), tmp_path / "plots")
    assert [p.name for p in paths] == ["trend.png", "trend.svg"]
    assert all(p.stat().st_size > 1000 for p in paths)
    assert notes == []


def test_last_keeps_the_newest_files_and_renumbers_them(tmp_path):
    write_history(tmp_path / "h", seed=10)
    out = tmp_path / "h.json"
    result = _history([str(tmp_path / "h"), "--last", "16", "--json", str(out)])
    assert result.exit_code == 1, result.output
    doc = json.loads(out.read_text())
    assert len(doc["files"]) == 16 and "kept the newest 16 of 30 files" in doc["notes"]
    group = next(g for g in doc["groups"] if g["group"] == "threshold/threads/1w")
    assert [c["file_index"] for c in group["changes"]] == [STEP_AT - (N_FILES - 16)]


@pytest.mark.parametrize("seed", [0, 4])
def test_a_drop_in_the_newest_file_alone_is_flagged(tmp_path, seed):
    """The CI question: the newest file (the pull request's run) is 20 % slower than every
    file before it. PELT needs files after a step to see it; the newest-file check does not."""
    write_history(tmp_path, seed=seed, step_at=N_FILES - 1)
    history = build_history([tmp_path])
    stepped = {t.name for t in history.trends if t.model == "threads"}
    assert {t.name for t in history.regressions} == stepped
    for t in history.trends:
        if t.model == "threads":
            assert t.changes[-1].file.index == N_FILES - 1 and t.changes[-1].worse
        else:
            assert not t.changes  # sequential did not move


def test_an_ordinary_newest_file_is_not_flagged(tmp_path):
    for seed in (5, 6, 7):
        write_history(tmp_path / str(seed), step_at=None, seed=seed)
        assert not build_history([tmp_path / str(seed)]).regressions
