"""Bad input: one clear line naming the problem, exit 2, before any work starts."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from cvbench import cli as climod
from cvbench.measure import affinity
from tests.helpers import assert_one_error_line


def _run(args: list[str]):
    return CliRunner().invoke(climod.cli, ["run", *args])


@pytest.mark.parametrize(
    ("args", "needles"),
    [
        (["--workload", "nope"], ["unknown workload", "nope"]),
        (["--models", "threads,fibers"], ["unknown model", "fibers"]),
        (["--workers", "two"], ["--workers", "two"]),
        (["--workers", "3-1"], ["--workers"]),
        (["--workers", "0"], ["--workers"]),
        (["--cpus", "0-x"], ["--cpus"]),
        (["--cpus", "4096"], ["--cpus", "4096", "allowed"]),
        (["--nice", "25"], ["--nice 25", "-20 and 19"]),
        (["--input", "/no/such/dir"], ["/no/such/dir"]),
        (["--workload", "missing.toml"], ["missing.toml"]),
        (["--csv", "/proc/cvbench/r.csv"], ["--csv", "/proc/cvbench"]),
        (["--plots", "/proc/cvbench-plots"], ["--plots", "/proc/cvbench-plots"]),
        (["--target-ci", "0"], ["--target-ci"]),
        (["--target-ci", "51%"], ["--target-ci", "50"]),
        (["--target-ci", "nan"], ["--target-ci"]),
        (["--max-time", "0s"], ["--max-time", "> 0"]),
        (["--max-time", "-3"], ["--max-time"]),
        (["--seed", "1.5"], ["--seed", "integer"]),
        (["--seed", "abc"], ["--seed"]),
        (["--fps", "nan"], ["--fps", "finite"]),
        (["--heartbeat-ms", "nan"], ["--heartbeat-ms", "finite"]),
        (["--fps", "inf"], ["--fps"]),
        (["--repeat", "many"], ["--repeat", "auto"]),
        (["--repeat", "0"], ["--repeat"]),
        (["--workers", "2-2000000000000"], ["--workers", "256"]),
        (["--cpus", "0-99999999999"], ["--cpus", "8191"]),
    ],
)
def test_bad_option_exits_2_with_one_line(args, needles):
    assert_one_error_line(_run(args), *needles)


def test_negative_nice_without_privilege(monkeypatch):
    monkeypatch.setattr(affinity, "has_cap_sys_nice", lambda: False)
    monkeypatch.setattr(affinity.resource, "getrlimit", lambda _: (0, 0))
    assert_one_error_line(_run(["--nice", "-5"]), "--nice -5", "CAP_SYS_NICE")


def test_empty_input_folder(tmp_path):
    assert_one_error_line(_run(["--input", str(tmp_path)]), str(tmp_path), "no files")


def test_corrupt_image_is_named(tmp_path):
    import cv2
    import numpy as np

    cv2.imwrite(str(tmp_path / "a_good.png"), np.zeros((40, 40, 3), np.uint8))
    (tmp_path / "b_broken.jpg").write_bytes(b"\xff\xd8 this is not a jpeg")
    assert_one_error_line(_run(["--input", str(tmp_path)]), "b_broken.jpg")


def test_bad_workload_definition(tmp_path):
    bad = tmp_path / "mine.toml"
    bad.write_text('name = "x"\nkernel = "sharpen"\nsource = "tiles"\n[sizes.default]\n')
    assert_one_error_line(_run(["--workload", str(bad)]), "mine.toml", "kernel")


def _run_on_input(input_path, workload: str, tmp_path) -> list[dict]:
    """sequential and threads at 2 workers on the user's input; the CSV rows."""
    import csv

    out = tmp_path / "r.csv"
    result = _run(
        ["--input", str(input_path), "--workload", workload, "--models", "sequential,threads",
         "--repeat", "1", "--warmup", "0", "--workers", "2", "--csv", str(out),
         "--json", str(tmp_path / "r.json")]
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    return [r for r in csv.DictReader(out.open()) if r["predicted"] == "false"]


@pytest.mark.slow
def test_input_folder_runs_on_user_images(tmp_path):
    """A user's own images: each image is one item (no grid unless --grid asks for one)."""

    import cv2

    from cvbench.workloads import data

    for i in range(2):
        cv2.imwrite(str(tmp_path / f"img{i}.png"), data.textured_image(400, 300, i))
    rows = _run_on_input(tmp_path, "threshold", tmp_path)
    assert [r["items"] for r in rows] == ["2", "2"]
    assert rows[0]["output_digest"] == rows[1]["output_digest"]


@pytest.mark.slow
def test_input_video_runs_faces_on_its_frames(tmp_path):
    """A video file: every frame is one item; the face is found in them."""

    import cv2

    from cvbench.workloads import data

    frames = data.jittered_frames(data.astronaut(), 5, 256, seed=3)
    path = tmp_path / "clip.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10, (256, 256))
    for f in frames:
        writer.write(f)
    writer.release()
    rows = _run_on_input(path, "faces", tmp_path)
    assert [r["items"] for r in rows] == ["5", "5"]
    assert int(rows[0]["faces_found"]) >= 4
    assert rows[0]["output_digest"] == rows[1]["output_digest"]


def test_unexpected_failure_is_one_line_and_keeps_rows(monkeypatch, tmp_path):
    """A failure outside any model (here: turning the 2nd repetition into a row) keeps the
    rows measured before it and prints one line instead of a traceback."""
    import csv

    from cvbench import runner

    real = runner.measured_row
    calls = []

    def flaky(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise MemoryError("simulated: no memory for the row")
        return real(*args, **kwargs)

    monkeypatch.setattr(runner, "measured_row", flaky)
    out = tmp_path / "r.csv"
    result = _run(
        [
            "--quick",
            "--workload",
            "threshold",
            "--models",
            "sequential,threads",
            "--workers",
            "1",
            "--repeat",
            "1",
            "--warmup",
            "0",
            "--csv",
            str(out),
            "--json",
            str(tmp_path / "r.json"),
        ]  # fmt: skip
    )
    assert result.exit_code == 1
    assert "Traceback" not in result.output
    assert "MemoryError: simulated" in result.output
    rows = list(csv.DictReader(out.open()))
    assert len(rows) == 1 and rows[0]["ok"] == "true"


def test_cap_sys_nice_matches_what_the_kernel_allows():
    """The up-front check agrees with a real attempt to lower nice (in a throwaway child)."""
    import os
    import resource

    pid = os.fork()
    if pid == 0:
        try:
            os.setpriority(os.PRIO_PROCESS, 0, os.getpriority(os.PRIO_PROCESS, 0) - 1)
            os._exit(0)
        except PermissionError:
            os._exit(1)
    _, status = os.waitpid(pid, 0)
    allowed = os.waitstatus_to_exitcode(status) == 0
    soft, _ = resource.getrlimit(resource.RLIMIT_NICE)
    rlimit_allows = 20 - soft <= os.getpriority(os.PRIO_PROCESS, 0) - 1
    assert allowed == (affinity.has_cap_sys_nice() or rlimit_allows)
