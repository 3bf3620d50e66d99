"""Your own function as a workload, your own images as items, and the Python API.

Real runs: the user's module lives in a temp folder that only --pythonpath points at, so a
process worker can only run it if cvbench really put that folder on its import path.
"""

from __future__ import annotations

import csv
import json
import textwrap
from pathlib import Path

import cv2
import numpy as np
import pytest

import cvbench
from cvbench.work import user_op
from cvbench.workloads import data
from tests.helpers import assert_one_error_line
from tests.helpers import cvbench as cli

MODULE = textwrap.dedent(
    """
    import cv2, numpy as np

    def edges(image):
        return cv2.Canny(cv2.cvtColor(image, cv2.COLOR_BGR2GRAY), 50, 150)

    def mean_level(image):
        return float(image.mean())

    def explode(image):
        if image[0, 0, 0] > 250:
            raise ZeroDivisionError("the first pixel is too bright")
        return 1

    def noisy(image):
        import os
        return os.getpid()  # differs between processes: not deterministic across models

    NOT_A_FUNCTION = 3

    def two_args(image, other):
        return 0
    """
)


@pytest.fixture
def user_dir(tmp_path: Path) -> Path:
    d = tmp_path / "mine"
    d.mkdir()
    (d / "my_ops.py").write_text(MODULE)
    return d


@pytest.fixture
def images(tmp_path: Path) -> Path:
    d = tmp_path / "imgs"
    d.mkdir()
    for i, frame in enumerate(data.jittered_frames(data.astronaut(), 6, 160, seed=2)):
        cv2.imwrite(str(d / f"f{i:02d}.png"), frame)
    return d


def _rows(path: Path) -> list[dict]:
    return [r for r in csv.DictReader(path.open()) if r["predicted"] == "false"]


@pytest.mark.slow
def test_user_function_runs_under_threads_and_processes_with_one_digest(user_dir, images, tmp_path):
    out = tmp_path / "r.csv"
    res = cli(
        "run", "--op", "my_ops:edges", "--pythonpath", str(user_dir), "--input", str(images),
        "-m", "sequential,threads,processes", "--workers", "2", "--repeat", "2",
        "--warmup", "0", "--csv", str(out), "--json", str(tmp_path / "r.json"),
    )  # fmt: skip
    assert res.returncode == 0, res.stderr
    rows = _rows(out)
    assert {r["model"] for r in rows} == {"sequential", "threads", "processes"}
    assert all(r["ok"] == "true" and r["items"] == "6" for r in rows)
    assert len({r["output_digest"] for r in rows}) == 1
    # the digest is the function's own output on each image, item by item
    direct = [
        user_op.digest_result(
            cv2.Canny(cv2.cvtColor(cv2.imread(str(f)), cv2.COLOR_BGR2GRAY), 50, 150)
        )[0]
        for f in sorted(images.iterdir())
    ]
    from cvbench.work.digest import combine_digests

    assert rows[0]["output_digest"] == combine_digests(direct)


@pytest.mark.slow
def test_user_function_under_dask_if_present(user_dir, images, tmp_path):
    pytest.importorskip("distributed")
    from cvbench.models import MODELS

    if "dask" not in MODELS:
        pytest.skip("no dask model in this build")
    out = tmp_path / "r.csv"
    res = cli(
        "run", "--op", "my_ops:mean_level", "--pythonpath", str(user_dir),
        "--input", str(images), "-m", "sequential,dask", "--workers", "1",
        "--repeat", "1", "--warmup", "0", "--csv", str(out), "--json", str(tmp_path / "r.json"),
        timeout=180,
    )  # fmt: skip
    assert res.returncode == 0, res.stderr
    rows = _rows(out)
    assert {r["model"] for r in rows} == {"sequential", "dask"}
    assert len({r["output_digest"] for r in rows}) == 1


@pytest.mark.parametrize(
    ("op", "needle"),
    [
        ("no_such_module:f", "cannot import no_such_module"),
        ("my_ops:missing", "has no 'missing'"),
        ("my_ops:NOT_A_FUNCTION", "not a function"),
        ("my_ops:two_args", "one image argument"),
        ("my_ops", "--op"),
    ],
)
def test_bad_user_function_is_one_line_exit_2(user_dir, op, needle):
    assert_one_error_line(cli("run", "--op", op, "--pythonpath", str(user_dir), "--quick"), needle)


@pytest.mark.slow
def test_a_raising_function_fails_its_row_naming_the_item(user_dir, images, tmp_path):
    bright = cv2.imread(str(images / "f03.png"))
    bright[0, 0] = 255
    cv2.imwrite(str(images / "f03.png"), bright)
    out = tmp_path / "r.csv"
    res = cli(
        "run", "--op", "my_ops:explode", "--pythonpath", str(user_dir), "--input", str(images),
        "-m", "sequential,threads", "--workers", "1", "--repeat", "1", "--warmup", "0",
        "--csv", str(out), "--json", str(tmp_path / "r.json"),
    )  # fmt: skip
    assert res.returncode == 1 and "Traceback" not in res.stderr
    rows = _rows(out)
    assert len(rows) == 2 and all(r["ok"] == "false" for r in rows)
    assert all(
        "item 3: ZeroDivisionError: the first pixel is too bright" in r["error"] for r in rows
    )


@pytest.mark.slow
def test_a_non_deterministic_function_is_marked_with_what_differed(user_dir, images, tmp_path):
    out = tmp_path / "r.csv"
    res = cli(
        "run", "--op", "my_ops:noisy", "--pythonpath", str(user_dir), "--input", str(images),
        "-m", "sequential,processes", "--workers", "1", "--repeat", "1", "--warmup", "0",
        "--csv", str(out), "--json", str(tmp_path / "r.json"),
    )  # fmt: skip
    assert res.returncode == 1
    procs = next(r for r in _rows(out) if r["model"] == "processes")
    assert (
        procs["ok"] == "false"
        and "differs from the reference model's at 6 of 6 items" in procs["error"]
    )


@pytest.mark.slow
def test_input_folder_is_one_item_per_image_and_grid_cuts_tiles(images, tmp_path):
    for grid, expected in ((None, 6), ("2x3", 36)):
        out = tmp_path / f"r{grid}.csv"
        args = ["--grid", grid] if grid else []
        res = cli(
            "run", "-w", "threshold", "--input", str(images), *args, "-m", "sequential",
            "--repeat", "1", "--warmup", "0", "--csv", str(out), "--json", str(out) + ".json",
        )  # fmt: skip
        assert res.returncode == 0, res.stderr
        assert _rows(out)[0]["items"] == str(expected)


def test_bad_grid_and_grid_without_input_exit_2(images):
    for args, needle in (
        (["--input", str(images), "--grid", "0x3"], "--grid"),
        (["--input", str(images), "--grid", "abc"], "--grid"),
        (["--grid", "2x2"], "--grid"),
    ):
        res = cli("run", "--quick", *args)
        assert res.returncode == 2 and needle in res.stderr, res.stderr


def test_digest_of_each_result_kind_is_stable_and_distinct():
    kinds = [np.zeros((2, 2), np.uint8), [(1, 2, 3, 4)], 3, 3.5, [], "text", None]
    digests = [user_op.digest_result(k)[0] for k in kinds]
    assert digests == [user_op.digest_result(k)[0] for k in kinds]
    assert len(set(digests)) == len(digests)
    assert user_op.digest_result([(1, 2, 3, 4), (5, 6, 7, 8)])[1] == 2


@pytest.mark.slow
def test_python_api_runs_and_compares(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    res = cvbench.run(
        workload="threshold", models="sequential,threads", workers="1", quick=True,
        repeat=2, warmup=0, csv=str(tmp_path / "a.csv"), json=str(tmp_path / "a.json"),
    )  # fmt: skip
    assert isinstance(res, cvbench.Results) and res.rounds == 2
    measured = [r for r in res.rows if not r["predicted"]]
    assert len(measured) == 4 and all(r["ok"] for r in measured)
    assert res.summary[0]["metrics"]["throughput_per_s"]["median"] > 0
    assert res.findings and json.dumps(res.summary)  # plain, serialisable objects
    same = cvbench.compare(tmp_path / "a.csv", tmp_path / "a.csv")
    assert same.regressions == [] and same.auto
    with pytest.raises(ValueError, match="--workers"):
        cvbench.run(workers="0")
