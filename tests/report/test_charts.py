"""Charts from a small real run: valid, non-blank PNG and SVG; skipped input is noted."""

from __future__ import annotations

import copy
import json
import sys
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

pytest.importorskip("matplotlib", reason="plots need the plot extra (matplotlib)")

from cvbench.commands.plot import plot_cmd
from cvbench.commands.report import report_cmd
from cvbench.report import charts as plots
from cvbench.results.schema import SCHEMA_VERSION
from tests.helpers import QUICK_RUN, assert_one_error_line

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
ALL_STEMS = {
    "scaling", "latency_cdf", "lag_cdf", "ctx_switches", "timeline_threshold", "timeline_frames",
    "predicted", "budget",
}  # fmt: skip
ROW_STEMS = {"scaling", "ctx_switches", "predicted", "budget"}  # drawable from the CSV alone


@pytest.fixture(scope="session")
def real_run() -> dict[str, Path]:
    return QUICK_RUN


@pytest.fixture(scope="session")
def doc(real_run: dict[str, Path]) -> dict[str, Any]:
    return plots.load_results(real_run["json"])


@pytest.fixture(scope="session")
def drawn(doc: dict[str, Any], tmp_path_factory: pytest.TempPathFactory):
    out = tmp_path_factory.mktemp("charts")
    return plots.make_plots(doc, out)


def assert_png(path: Path) -> None:
    """A real picture: PNG signature, a few KB, and more than one colour."""
    import matplotlib.image as mpimg
    import numpy as np

    raw = path.read_bytes()
    assert raw[:8] == PNG_SIGNATURE, path
    assert len(raw) > 5_000, f"{path}: only {len(raw)} bytes"
    img = mpimg.imread(path)
    assert img.ndim == 3 and img.shape[0] > 300 and img.shape[1] > 600, img.shape
    colours = np.unique(img[::4, ::4, :3].reshape(-1, 3), axis=0)  # every 4th pixel: enough
    assert len(colours) > 20, f"{path}: {len(colours)} colours: blank?"


def assert_svg(path: Path) -> None:
    root = ET.parse(path).getroot()
    assert root.tag.endswith("svg"), root.tag
    assert len(list(root.iter())) > 50, f"{path}: almost empty"


def stems(paths: list[Path]) -> set[str]:
    return {p.stem for p in paths}


def test_every_chart_is_a_valid_png_and_svg(drawn) -> None:
    paths, notes = drawn
    assert notes == []
    assert stems(paths) == ALL_STEMS
    for p in paths:
        assert_png(p) if p.suffix == ".png" else assert_svg(p)
    assert sum(p.suffix == ".svg" for p in paths) == len(ALL_STEMS)


def test_one_colour_per_model_and_stable_spares() -> None:
    assert len(set(plots.MODEL_COLOURS.values())) == len(plots.MODEL_COLOURS)
    from cvbench.models import MODELS

    assert set(MODELS) <= set(plots.MODEL_COLOURS)
    # an unknown model gets a spare colour that no built-in model has, the same one every time
    spare = plots.model_colour("future+model")
    assert spare not in plots.MODEL_COLOURS.values()
    assert spare == plots.model_colour("future" + "+model")


def test_csv_input_draws_row_charts_and_notes_the_rest(real_run, tmp_path: Path) -> None:
    doc = plots.load_results(real_run["csv"])
    assert doc["rows"] and isinstance(doc["rows"][0]["ok"], bool)
    paths, notes = plots.make_plots(doc, tmp_path)
    assert stems(paths) == ROW_STEMS
    text = " ".join(notes)
    for what in ("per-item records", "latency CDF", "heartbeat lag CDF", "timeline"):
        assert what in text, notes
    for p in paths:
        assert_png(p) if p.suffix == ".png" else assert_svg(p)


def test_failed_rows_and_other_schema_rows_are_skipped(doc, tmp_path: Path) -> None:
    bad = copy.deepcopy(doc)
    n = 0
    for r in bad["rows"]:
        if r["model"] == "asyncio":
            r["ok"], r["error"] = False, "boom: worker died"
            n += 1
    bad["rows"][0]["schema_version"] = SCHEMA_VERSION + 1
    paths, notes = plots.make_plots(bad, tmp_path)
    assert sum("boom: worker died" in x for x in notes) == n
    assert any("schema_version" in x and "threshold · sequential" in x for x in notes)
    assert "scaling" in stems(paths)
    data = plots.prepare(bad)
    assert all(r["model"] != "asyncio" for r in data.rows)
    assert all(k[1] != "asyncio" for k in data.items or {})
    measured = [r for r in doc["rows"] if not r.get("predicted")]
    assert len(data.rows) == len(measured) - n - 1


def test_a_newer_schema_file_is_skipped_with_a_note(doc, tmp_path: Path) -> None:
    newer = {**doc, "schema_version": SCHEMA_VERSION + 1}
    paths, notes = plots.make_plots(newer, tmp_path)
    assert paths == []
    assert any(f"schema_version {SCHEMA_VERSION + 1}" in x for x in notes), notes
    one, notes = plots.plot_scaling(newer, tmp_path)
    assert one == [] and notes


def test_stored_predictions_are_used(doc, tmp_path: Path) -> None:
    d = copy.deepcopy(doc)
    d["rows"] = [r for r in d["rows"] if not r.get("predicted")]
    d["rows"].append({"workload": "threshold", "model": "processes", "workers": 2,
                      "throughput_per_s": 1234.0, "predicted": True, "wall_s": 0.3})  # fmt: skip
    data = plots.prepare(d)
    assert [r["throughput_per_s"] for r in data.predicted] == [1234.0]
    paths, notes = plots.plot_predicted(d, tmp_path)
    assert stems(paths) == {"predicted"} and notes == []
    d["rows"] = [r for r in d["rows"] if not r.get("predicted")]  # none stored: simulated
    paths, notes = plots.plot_predicted(d, tmp_path)
    assert stems(paths) == {"predicted"} and notes == []


def test_simulated_schedule_runs_every_item_once(doc) -> None:
    data = plots.prepare(doc)
    trace = plots.sequential_trace(data, "threshold", 2)
    pieces, makespan = plots.simulated_schedule(trace, 2, 2)
    ran: dict[int, int] = {}
    for _, _, item, start, end in pieces:
        assert end > start
        ran[item] = ran.get(item, 0) + end - start
    want = {i: round(s * 1e9) for i, (s, _) in enumerate(trace.items) if s > 0}
    assert ran == want  # the replay of the pool's queue matched the simulator's
    assert max(e for *_, e in pieces) == makespan
    for core in (0, 1):  # one core runs one item at a time
        spans = sorted((s, e) for c, _, _, s, e in pieces if c == core)
        assert all(a[1] <= b[0] for a, b in zip(spans, spans[1:], strict=False))


def test_missing_matplotlib_is_a_clear_error(monkeypatch: pytest.MonkeyPatch, doc) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    with pytest.raises(plots.PlotError, match=r"pip install 'cvbench\[plot\]'"):
        plots.make_plots(doc, "/nonexistent")


def test_cli_plot_writes_charts(real_run, tmp_path: Path) -> None:
    r = CliRunner().invoke(plot_cmd, [str(real_run["csv"]), "--out", str(tmp_path / "c")])
    assert r.exit_code == 0, r.output
    assert {Path(x).name for x in r.stdout.split()} >= {"scaling.png", "scaling.svg"}


@pytest.mark.parametrize("content", [None, "", "{not json", '{"rows": 3}', "a,b\n1,2\n"])
def test_cli_bad_results_file_is_one_line_exit_2(tmp_path: Path, content: str | None) -> None:
    path = tmp_path / ("r.csv" if content and content.startswith("a,") else "r.json")
    if content is not None:
        path.write_text(content)
    for cmd, args in ((plot_cmd, ["--out", str(tmp_path / "o")]),
                      (report_cmd, ["-o", str(tmp_path / "r.html")])):  # fmt: skip
        r = CliRunner().invoke(cmd, [str(path), *args])
        assert_one_error_line(r, str(path))
        assert len(r.output.strip().splitlines()) == 1, r.output


def test_load_results_round_trips_csv_types(real_run) -> None:
    rows = plots.load_results(real_run["csv"])["rows"]
    ref = json.loads(real_run["json"].read_text())["rows"]
    assert len(rows) == len(ref)
    assert [(r["model"], r["workers"], r["ok"]) for r in rows] == [
        (r["model"], r["workers"], r["ok"]) for r in ref
    ]
    assert rows[0]["throughput_per_s"] == pytest.approx(ref[0]["throughput_per_s"], rel=1e-5)
