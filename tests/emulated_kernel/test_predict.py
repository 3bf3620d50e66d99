"""`run --trace` and the emulated kernel's predicted processes rows."""

from __future__ import annotations

import csv
import json
import statistics

import pytest

from cvbench.emulated_kernel.predict.trace import load_trace
from tests.helpers import cvbench

pytestmark = pytest.mark.slow


def test_trace_and_predicted_rows(tmp_path):
    res = cvbench(
        "run",
        "--quick",
        "--workload",
        "faces",
        "--models",
        "sequential,processes",
        "--workers",
        "1,2",
        "--repeat",
        "2",
        "--trace",
        str(tmp_path / "t.json"),
        "--csv",
        str(tmp_path / "r.csv"),
        "--json",
        str(tmp_path / "r.json"),
    )
    assert res.returncode == 0, res.stderr
    assert "Emulated kernel" in res.stdout
    trace = load_trace(tmp_path / "t.json")
    doc = json.loads((tmp_path / "r.json").read_text())
    seq_reps = [i for i in doc["items"] if i["model"] == "sequential"]
    # the trace is, item by item, the median of the sequential model's repetitions
    per_item = list(
        zip(*[[(r[5] - r[4]) / 1e6 for r in rep["records"]] for rep in seq_reps], strict=True)
    )
    assert len(trace.items) == len(per_item) and len(seq_reps) == 2
    for (service_s, io_s), measured in zip(trace.items, per_item, strict=True):
        assert min(measured) - 2e-6 <= service_s + io_s <= max(measured) + 2e-6
    services = [s + io for s, io in trace.items]
    rows = list(csv.DictReader((tmp_path / "r.csv").open()))
    predicted = {int(r["workers"]): r for r in rows if r["predicted"] == "true"}
    assert set(predicted) == {1, 2}
    assert all(r["model"] == "processes" and r["ok"] == "true" for r in predicted.values())
    assert all("bottleneck" in r["notes"] for r in predicted.values())
    # one worker: the items back to back, plus what shipping them costs: never less
    assert float(predicted[1]["wall_s"]) >= sum(services) * 0.999
    # two workers on at most two cores never beat a perfect split, never lose to one worker
    w1, w2 = float(predicted[1]["wall_s"]), float(predicted[2]["wall_s"])
    assert w1 / 2 - 1e-6 <= w2 <= w1 + 1e-6
    # predicted rows stay out of the measured summary
    assert all(s["model"] != "processes" or s["repetitions"] == 2 for s in doc["summary"])
    # its quick items go one per chunk at both worker counts: nothing to ship
    assert {r["chunksize"] for r in predicted.values()} == {"1"}
    assert "shipping" not in doc["predictions"]["faces"]


def test_a_process_pools_chunks_of_another_size_are_shipped_and_the_parent_cost_moved(tmp_path):
    """threshold: Pool.map's chunks are 16 tiles at 1 worker and 8 at 2. The items were
    shipped in both sizes, and the 2-worker prediction moved the 1-worker cell's parent cost
    by the difference (on the default tiles, 0.7 ms per item: the 16-tile messages fault)."""
    res = cvbench(
        "run", "--quick", "-w", "threshold", "-m", "sequential,processes", "--workers", "1,2",
        "--repeat", "1", "--csv", str(tmp_path / "r.csv"), "--json", str(tmp_path / "r.json"),
    )  # fmt: skip
    assert res.returncode == 0, res.stderr
    doc = json.loads((tmp_path / "r.json").read_text())
    predicted = {r["workers"]: r for r in doc["rows"] if r["predicted"]}
    sizes = {predicted[w]["chunksize"] for w in (1, 2)}
    shipped = doc["predictions"]["threshold"]["shipping"]
    # and the chunks of the scaling lines' 4, 16 and 64 workers (Pool.map's rule: 4, 1, 1)
    items = predicted[1]["items"]
    at_scale = {max(1, -(-items // (4 * w))) for w in (4, 16, 64)}
    assert len(sizes) == 2 and {int(k) for k in shipped} == sizes | at_scale, shipped
    assert all(v["parent_item_s"] > 0 and v["chunks"] > 0 for v in shipped.values())
    one, two = (shipped[str(predicted[w]["chunksize"])] for w in (1, 2))
    delta_ms = 1e3 * (two["parent_item_s"] - one["parent_item_s"])
    assert f"parent CPU per item {delta_ms:+.2f} ms" in predicted[2]["notes"]
    assert "chunks of" not in predicted[1]["notes"]
    (val,) = [v for v in doc["predictions"]["threshold"]["validation"] if v["workers"] == 2]
    assert val["rechunked"] in predicted[2]["notes"]
    # at 16 cores the parent ships chunks of one tile: its cost per item moved the same way
    (at16,) = [p for p in doc["predictions"]["threshold"]["scaling"]
               if p["model"] == "processes" and p["cores"] == 16]  # fmt: skip
    per16 = str(max(1, -(-items // 64)))
    moved_ms = 1e3 * (shipped[per16]["parent_item_s"] - one["parent_item_s"])
    measured_ms = 1e3 * _parent_per_item_s(doc, "processes", 1)
    assert f"parent {max(0.0, measured_ms + moved_ms):.2f} ms per item" in at16["why"], at16


def _parent_per_item_s(doc: dict, model: str, workers: int) -> float:
    rows = [r for r in doc["rows"] if r["model"] == model and r["workers"] == workers
            and r["ok"] and not r["predicted"]]  # fmt: skip
    return statistics.median(r["parent_cpu_s"] / r["items"] for r in rows)
