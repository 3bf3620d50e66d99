"""One small real run through the CLI: the files it writes are complete and consistent."""

from __future__ import annotations

import csv
import json

import pytest

from cvbench.results.schema import ALL_COLUMNS, COLUMNS
from tests.helpers import cvbench, shared_run_rows

DESIGN_COLUMNS = [
    "workload",
    "model",
    "workers",
    "repetition",
    "items",
    "ok",
    "error",
    "wall_s",
    "startup_s",
    "throughput_per_s",
    "speedup",
    "cpu_user_s",
    "cpu_sys_s",
    "ctx_voluntary",
    "ctx_involuntary",
    "user_switches",
    "migrations",
    "runqueue_wait_s",
    "latency_p50_ms",
    "latency_p90_ms",
    "latency_p99_ms",
    "latency_max_ms",
    "service_p50_ms",
    "lag_p50_ms",
    "lag_p99_ms",
    "lag_max_ms",
    "max_rss_mb",
    "output_digest",
    "cpus",
    "nice",
    "cv_threads",
    "predicted",
]


@pytest.fixture(scope="module")
def run_files(quick_run):
    """The shared quick run, as (folder, completed-process-like) with r.csv, r.json, r.md."""
    return quick_run["dir"], quick_run


def test_csv_has_the_design_schema(run_files):
    d, _ = run_files
    rows = list(csv.DictReader((d / "r.csv").open()))
    assert list(rows[0]) == list(ALL_COLUMNS)
    assert list(COLUMNS[: len(DESIGN_COLUMNS)]) == DESIGN_COLUMNS
    assert len(rows) == sum(shared_run_rows())
    for r in rows:
        assert r["ok"] == "true"
        if r["predicted"] == "true":
            continue  # the emulated kernel's rows measure no counters
        wall, items = float(r["wall_s"]), int(r["items"])
        assert abs(float(r["throughput_per_s"]) - items / wall) < 1e-3 * items / wall
        for col in (
            "ctx_voluntary",
            "ctx_involuntary",
            "migrations",
            "runqueue_wait_s",
            "latency_p99_ms",
            "cpu_user_s",
            "output_digest",
            "python",
            "opencv",
            "schema_version",
        ):
            assert r[col] != "", col
        # responsiveness is measured in the heartbeat rounds only (odd rounds run without it)
        assert (r["lag_p99_ms"] != "") == (r["heartbeat"] == "true"), r["round"]
    frames = [r for r in rows if r["workload"] == "frames"]
    assert all(r["deadline_misses"] != "" for r in frames)
    assert len({r["output_digest"] for r in frames}) == 1


def test_json_has_rows_summary_items_and_environment(run_files):
    d, _ = run_files
    doc = json.loads((d / "r.json").read_text())
    env = doc["environment"]
    for key in (
        "python",
        "opencv",
        "psutil",
        "trio",
        "curio",
        "greenlet",
        "kernel",
        "cpu_model",
        "allowed_cpus",
        "loadavg",
        "autogroup",
        "cvbench_version",
        "command",
    ):
        assert key in env, key
    assert len(doc["rows"]) == sum(shared_run_rows())
    assert {(s["workload"], s["model"], s["workers"]) for s in doc["summary"]} == {
        (r["workload"], r["model"], r["workers"]) for r in doc["rows"]
    }
    first = doc["items"][0]
    assert len(first["records"]) == doc["rows"][0]["items"]
    overhead = doc["harness_overhead"]["threshold"]
    assert overhead["bare_loop_s"] > 0 and overhead["sequential_s"] > 0
    # item records are consistent with the row: the last item ends within the wall time
    wall_us = doc["rows"][0]["wall_s"] * 1e6
    assert max(rec[5] for rec in first["records"]) <= wall_us + 1


def test_tables_and_markdown(run_files):
    d, res = run_files
    for title in ("Throughput", "Context switches", "Per-item latency", "Responsiveness"):
        assert title in res["stdout"]
    assert "harness overhead on threshold" in res["stdout"]
    md = (d / "r.md").read_text()
    rows = [r for r in csv.DictReader((d / "r.csv").open()) if r["predicted"] == "false"]
    threshold_groups = {(r["model"], r["workers"]) for r in rows if r["workload"] == "threshold"}
    assert md.count("| threshold |") == len(threshold_groups) and "| frames |" in md


def test_gab_and_compare_through_the_main_cli(run_files):
    d, _ = run_files
    entries = json.loads((d / "gab.json").read_text())
    rows = [r for r in csv.DictReader((d / "r.csv").open()) if r["predicted"] == "false"]
    # one per workload x model x workers
    assert len(entries) == len({(r["workload"], r["model"], r["workers"]) for r in rows})
    for e in entries:
        assert isinstance(e["name"], str) and e["unit"] and isinstance(e["value"], int | float)
    same = cvbench("compare", str(d / "r.csv"), str(d / "r.json"))
    assert same.returncode == 0, same.stdout + same.stderr
    missing = cvbench("compare", str(d / "r.csv"), str(d / "nope.csv"))
    assert missing.returncode == 2 and "nope.csv" in missing.stderr


def test_speedup_is_paired_with_the_same_rounds_sequential(run_files):
    d, _ = run_files
    rows = [r for r in csv.DictReader((d / "r.csv").open()) if r["predicted"] == "false"]
    seq = {
        (r["workload"], r["round"]): float(r["throughput_per_s"])
        for r in rows
        if r["model"] == "sequential"
    }
    for r in rows:
        expected = float(r["throughput_per_s"]) / seq[(r["workload"], r["round"])]
        assert abs(float(r["speedup"]) - expected) < 1e-3 * expected


def test_rounds_are_shuffled_interleaved_and_complete(run_files):
    """Every round runs every cell once, in an order recorded by position; one seed."""
    d, _ = run_files
    rows = [r for r in csv.DictReader((d / "r.csv").open()) if r["predicted"] == "false"]
    assert len({r["seed"] for r in rows}) == 1
    by_round: dict[str, list[dict]] = {}
    for r in rows:
        by_round.setdefault(r["round"], []).append(r)
    assert sorted(by_round) == ["0", "1", "2"]  # --repeat 3
    cells = {(r["workload"], r["model"], r["workers"]) for r in rows}
    orders = []
    for members in by_round.values():
        assert {(r["workload"], r["model"], r["workers"]) for r in members} == cells
        assert sorted(int(r["position"]) for r in members) == list(range(len(cells)))
        ordered = sorted(members, key=lambda r: int(r["position"]))
        orders.append([(r["workload"], r["model"], r["workers"]) for r in ordered])
    assert len({tuple(o) for o in orders}) > 1  # shuffled afresh each round


def test_two_worker_predictions_take_the_runs_measured_corun_slowdown(run_files):
    """Where the run measured its parallel ceiling (2 CPUs: two copies of the bare loop at
    once against one alone), each 2-worker prediction scales its items' CPU work by that
    machine fact, and says so; 1-worker predictions never do. On 1 CPU there is no ceiling
    and no prediction is scaled."""
    doc = json.loads(run_files[1]["json"].read_text())
    for workload, ceiling in doc["parallel_ceiling"].items():
        predicted = [r for r in doc["rows"] if r["workload"] == workload and r.get("predicted")]
        scaled = [r for r in predicted if "items' CPU work x" in (r.get("notes") or "")]
        if not isinstance(ceiling, dict) or not ceiling.get("speedup") or ceiling["pairs"] < 3:
            assert not scaled
            continue
        assert scaled and {r["workers"] for r in scaled} == {ceiling["workers"]}
        factor = float(scaled[0]["notes"].split("items' CPU work x")[1].split(":")[0])
        # the median of the pairs' together / alone: the printed ceiling is the median of
        # copies x alone / together over the same pairs (equal for an odd count of them)
        assert factor == pytest.approx(ceiling["workers"] / ceiling["speedup"], rel=0.02)
