"""Issue 22, the file and input cases the probe found, by name: totals bounded before anything
is generated or written (a TOML's product of sizes, --grid tiles), the smaller point-9 cases
(full disk, /dev/full, dask addresses, empty values, ops whose output has no value, the API
caller's state) and the memory of a video larger than the old 2 GiB ceiling. Real processes,
real files."""

from __future__ import annotations

import contextlib
import csv
import os
import struct
import subprocess
import sys
import textwrap
import time
import zlib
from pathlib import Path

import pytest

from tests.helpers import CVBENCH, ROOT, assert_one_error_line, cvbench_in, write_video


def _run(cwd: Path, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return cvbench_in(cwd, *args, timeout=timeout)[0]


def _zero_png(path: Path, side: int) -> None:
    """A PNG of side x side black pixels: a few hundred KB on disk, side² x 3 decoded."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(kind + data) & 0xFFFFFFFF
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)

    z = zlib.compressobj(9)
    row = b"\0" * (side * 3 + 1)
    idat = b"".join(z.compress(row) for _ in range(side)) + z.flush()
    ihdr = struct.pack(">IIBBBBB", side, side, 8, 2, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat)
                     + chunk(b"IEND", b""))  # fmt: skip


# -- point 6: totals bounded before anything is made --------------------------------------------


def test_toml_frames_100000_size_8192_is_refused_before_generating(tmp_path):
    toml = tmp_path / "huge.toml"
    toml.write_text(
        'name = "huge"\nop = "faces"\nsource = "frames"\n'
        "[sizes.default]\nframes = 100000\nsize = 8192\nseed = 1\n"
    )
    t0 = time.monotonic()
    res = _run(tmp_path, "run", "-w", str(toml), "-m", "sequential", "--out", "out")
    assert_one_error_line(res, "huge.toml", "GiB decoded", "2.0 GiB memory ceiling")
    assert time.monotonic() - t0 < 30 and not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    "table,needle",
    [
        ("width = 40000\nheight = 10000\nimages = 4\nseed = 1", "memory ceiling"),  # 9 GB
        ("width = 4000\nheight = 4000\ngrid = 1000\nimages = 4\nseed = 1", "200,000"),
        ("width = 800", "needs height, seed"),  # was a KeyError when the run began
    ],
)
def test_toml_sizes_whose_product_is_unbounded_are_one_line(tmp_path, table, needle):
    toml = tmp_path / "w.toml"
    toml.write_text(
        f'name = "w"\nop = "threshold"\nsource = "tile-files"\n[sizes.default]\n{table}\n'
    )
    assert_one_error_line(_run(tmp_path, "run", "-w", str(toml), "-m", "sequential"), needle)


def test_grid_1000x1000_threshold_io_on_a_huge_image_writes_nothing(tmp_path):
    """The probe wrote ~7.7 GB of tiles; now: refused from the PNG header, nothing decoded."""
    _zero_png(tmp_path / "huge.png", 12000)
    res = _run(tmp_path, "run", "--grid", "1000x1000", "-w", "threshold-io", "-m", "sequential",
               "--input", "huge.png", "--out", "out")  # fmt: skip
    assert_one_error_line(res, "huge.png", "1,000,000 items", "200,000")
    assert not (tmp_path / "out").exists()


def test_grid_tile_files_beyond_the_disk_ceiling_are_refused_before_writing(tmp_path, monkeypatch):
    import cv2
    import numpy as np

    from cvbench.workloads import bounds
    from cvbench.workloads.sources import InputError, check_input
    from cvbench.workloads.spec import load_spec

    folder = tmp_path / "photos"
    folder.mkdir()
    for i in range(3):
        cv2.imwrite(str(folder / f"{i}.png"), np.full((200, 300, 3), i, np.uint8))
    spec = load_spec("threshold-io")
    monkeypatch.setattr(bounds, "TILE_FILES_CEILING", 2 << 20)  # 300 tiles x 2 files x 4 KiB: above
    with pytest.raises(InputError, match="the 300 tiles take ~2.3 MiB as PNG files, above"):
        check_input(str(folder), (10, 10), [spec])
    check_input(str(folder), (5, 5), [spec])  # 150 tiles fit


# -- point 9 --------------------------------------------------------------------------------------


def test_plots_on_a_full_disk_is_exit_1_and_no_empty_chart(tmp_path):
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs (a full disk) needs root")
    mnt = tmp_path / "full"
    mnt.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=12k", "tmpfs", str(mnt)]).returncode:
        pytest.skip("cannot mount a tmpfs here")
    try:
        res = _run(tmp_path, "run", "--quick", "-w", "threshold", "-m", "sequential",
                   "--repeat", "1", "--warmup", "0", "--out", "out",
                   "--plots", str(mnt / "charts"), timeout=180)  # fmt: skip
        assert res.returncode == 1, res.stderr
        assert "not written: --plots" in res.stderr and "Traceback" not in res.stderr
        assert [p for p in (mnt / "charts").glob("*") if p.stat().st_size == 0] == []
        assert len(list((tmp_path / "out").glob("*.csv"))) == 1  # the results are kept
    finally:
        subprocess.run(["umount", str(mnt)])


@pytest.mark.slow
def test_trace_to_dev_full_names_the_file(tmp_path):
    res = _run(tmp_path, "run", "--quick", "-w", "threshold", "-m", "sequential", "--repeat",
               "1", "--warmup", "0", "--out", "out", "--trace", "/dev/full")  # fmt: skip
    assert res.returncode != 0 and "/dev/full" in res.stderr, res.stderr
    assert "Traceback" not in res.stderr


@pytest.mark.parametrize(
    "address,needle",
    [
        ("tcp://h:notaport", "expected an address"),
        (":99999", "expected an address"),
        ("inproc://", "expected an address"),
        ("tcp://localhost:99999", "port 1-65535"),
        ("tcp://nosuchhost.invalid:8786", "cannot resolve its host"),
    ],
)
def test_dask_scheduler_values_fail_the_up_front_check(tmp_path, address, needle):
    t0 = time.monotonic()
    res = _run(tmp_path, "run", "--quick", "-m", "dask", "--dask-scheduler", address,
               "--out", "out")  # fmt: skip
    assert_one_error_line(res, "--dask-scheduler", needle)
    assert time.monotonic() - t0 < 30
    assert not (tmp_path / "out").exists()  # no empty results file left behind


@pytest.mark.parametrize("option", ["--op", "--input", "--csv", "--workers"])
def test_an_empty_value_is_one_line_not_ignored(tmp_path, option):
    res = _run(tmp_path, "run", "--quick", "-m", "sequential", option, "", "--out", "out")
    assert_one_error_line(res, f"{option}: empty value")
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    "option",
    ["--json", "--markdown", "--gab", "--trace", "--html", "--plots", "--out", "--pythonpath",
     "--cpus", "--grid", "--dask-scheduler", "--workload", "--models", "--seed"],
)  # fmt: skip
def test_every_empty_value_is_refused(option):
    from cvbench.config import ConfigError, build_config
    from cvbench.config.options import RunOptions

    field = option[2:].replace("-", "_")
    value: object = ("",) if field == "pythonpath" else ""
    with pytest.raises(ConfigError, match=f"^{option}: empty value$"):
        build_config(RunOptions(**{field: value}))


OPS = textwrap.dedent(
    """
    def gen(img):
        return (x for x in range(3))

    def obj(img):
        return object()

    def nested(img):
        return {"mean": float(img.mean()), "tags": {"a", "b"}, "box": [1, 2, 3, 4]}
    """
)


@pytest.mark.slow
@pytest.mark.parametrize("op,kind", [("gen", "a generator"), ("obj", "an object")])
def test_an_output_without_a_value_is_a_failed_row_not_a_repr(tmp_path, op, kind):
    (tmp_path / "outs.py").write_text(OPS)
    res = _run(tmp_path, "run", "--quick", "--op", f"outs:{op}", "-m",
               "sequential,threads,processes", "--workers", "1", "--repeat", "1",
               "--warmup", "0", "--csv", "r.csv", "--json", "r.json", timeout=240)  # fmt: skip
    assert res.returncode == 1 and "Traceback" not in res.stderr, res.stderr
    with open(tmp_path / "r.csv", newline="") as fh:
        rows = [r for r in csv.DictReader(fh) if r["predicted"] == "false"]
    assert len(rows) == 3 and all(r["ok"] == "false" for r in rows)
    assert all(f"the op returned {kind}, which has no value to digest" in r["error"] for r in rows)


@pytest.mark.slow
def test_a_nested_output_is_digested_by_value_in_every_process(tmp_path):
    """Sets of text change order between processes (hash seeds): the digest must not."""
    (tmp_path / "outs.py").write_text(OPS)
    res = _run(tmp_path, "run", "--quick", "--op", "outs:nested", "-m",
               "sequential,threads,processes", "--workers", "2", "--repeat", "1",
               "--warmup", "0", "--csv", "r.csv", "--json", "r.json", timeout=240)  # fmt: skip
    assert res.returncode == 0, res.stderr
    with open(tmp_path / "r.csv", newline="") as fh:
        rows = [r for r in csv.DictReader(fh) if r["predicted"] == "false"]
    assert all(r["ok"] == "true" for r in rows) and len({r["output_digest"] for r in rows}) == 1


def test_output_digests_are_values_not_identities():
    import numpy as np

    from cvbench.work.user_digest import UndigestableOutput, digest_output

    assert digest_output({"b": 1, "a": {2, 3}}) == digest_output({"a": {3, 2}, "b": 1})
    assert digest_output([np.zeros(2000), np.ones(3)]) != digest_output([np.zeros(2000), 1.0])
    big = [np.arange(5000), np.arange(3)]  # ragged: repr would print "..." for the first
    other = [np.arange(5000) * (np.arange(5000) != 2500), np.arange(3)]
    assert digest_output(big) != digest_output(other)
    for value in (iter([1]), object(), len, [1, object()]):
        with pytest.raises(UndigestableOutput, match="no value to digest"):
            digest_output(value)
    loop: list = []
    loop.append(loop)
    with pytest.raises(UndigestableOutput, match="nested"):
        digest_output(loop)


API_SCRIPT = textwrap.dedent(
    """
    import json, os, sys, threading
    import cvbench

    def masks():
        return {t: sorted(os.sched_getaffinity(int(t))) for t in os.listdir("/proc/self/task")}

    if __name__ == "__main__":
        env, before, path = dict(os.environ), sorted(os.sched_getaffinity(0)), list(sys.path)
        res = cvbench.run(workload="threshold", models=sys.argv[1], workers="1,2",
                          quick=True, repeat=1, warmup=0, cpus="0", out="out",
                          pythonpath=("extra",))
        print(json.dumps({
            "rows": len(res.rows),
            "process_mask": sorted(os.sched_getaffinity(0)),
            "before": before,
            "thread_masks": sorted({tuple(m) for m in masks().values()}),
            "env_added": sorted(set(os.environ) - set(env)),
            "env_changed": sorted(k for k in env if os.environ.get(k) != env[k]),
            "sys_path_same": sys.path == path,
            "threads": [t.name for t in threading.enumerate()],
        }))
    """
)


@pytest.mark.slow
def test_the_api_leaves_the_caller_as_it_found_it(tmp_path):
    """--cpus 0 pins every thread while the run lasts; afterwards the caller's threads, and
    the threads frameworks started and keep, have the caller's mask again; no variable the run
    or its imports set (CVBENCH_*, PYTHONPATH, cv2's LD_LIBRARY_PATH, dask's) is left; no
    multiprocessing queue feeder thread is alive."""
    if len(os.sched_getaffinity(0)) < 2:
        pytest.skip("needs 2 CPUs to tell a pinned caller from a free one")
    (tmp_path / "api_state.py").write_text(API_SCRIPT)
    models = "sequential,threads,processes,processes+shm,asyncio+processes,trio+threads,dask"
    env = {k: v for k, v in os.environ.items() if not k.startswith("CVBENCH_")}
    env["PYTHONPATH"] = str(ROOT)
    res = subprocess.run(
        [sys.executable, "api_state.py", models], capture_output=True, text=True, timeout=300,
        cwd=tmp_path, env=env,
    )  # fmt: skip
    assert res.returncode == 0, res.stderr[-3000:]
    import json

    state = json.loads(res.stdout.strip().splitlines()[-1])
    assert state["rows"] > 0
    assert state["process_mask"] == state["before"]
    assert state["thread_masks"] == [state["before"]]
    assert state["env_added"] == [] and state["env_changed"] == []
    assert state["sys_path_same"]
    assert not [t for t in state["threads"] if "QueueFeeder" in t]


# -- the memory of a long video --------------------------------------------------------------------


@pytest.mark.slow
def test_a_video_above_the_old_2_gib_ceiling_runs_in_bounded_memory(tmp_path):
    """400 frames of 1080p (2.5 GB decoded, refused before: more than 2 GiB) run under three
    models with the summed RSS of every process far below the decoded size."""
    import psutil

    clip = write_video(tmp_path / "hd.mp4", 400, size=(1920, 1080), fourcc="mp4v")
    proc = subprocess.Popen(
        [*CVBENCH, "run", "--input", str(clip), "-w", "threshold", "-m",
         "sequential,threads,processes", "--workers", "2", "--repeat", "1", "--warmup", "0",
         "--csv", str(tmp_path / "r.csv"), "--json", str(tmp_path / "r.json")],
        cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )  # fmt: skip
    root, peak = psutil.Process(proc.pid), 0
    while proc.poll() is None:
        total = 0
        with_children = [root]
        try:
            with_children += root.children(recursive=True)
        except psutil.NoSuchProcess:
            break
        for p in with_children:
            with contextlib.suppress(psutil.NoSuchProcess):
                total += p.memory_info().rss
        peak = max(peak, total)
        time.sleep(0.1)
    err = proc.stderr.read() if proc.stderr else ""
    assert proc.wait(timeout=600) == 0, err[-3000:]
    with open(tmp_path / "r.csv", newline="") as fh:
        rows = [r for r in csv.DictReader(fh) if r["predicted"] == "false"]
    assert len(rows) == 3 and all(r["ok"] == "true" and r["items"] == "400" for r in rows)
    assert len({r["output_digest"] for r in rows}) == 1
    decoded = 400 * 1920 * 1080 * 3
    assert peak < decoded / 2, f"peak RSS of all processes {peak >> 20} MiB"


def test_items_x_cells_x_rounds_is_bounded_before_the_run(tmp_path, monkeypatch):
    """An hour of video under every model would keep millions of item records: the product
    is bounded (config/records.py): a fixed --repeat beyond it is one line, auto gets fewer
    rounds."""
    from cvbench.config import ConfigError, build_config, records
    from cvbench.config.options import RunOptions

    clip = write_video(tmp_path / "v.avi", 300)
    opts = {"input": str(clip), "workload": "threshold", "models": "sequential,threads",
            "workers": "1,2", "out": str(tmp_path / "out")}  # fmt: skip
    monkeypatch.setattr(records, "MAX_ITEM_RECORDS", 2500)
    with pytest.raises(ConfigError, match=r"300 items x 4 cells x 3 rounds = 3,600 item records"):
        build_config(RunOptions(**opts, repeat=3))
    assert build_config(RunOptions(**opts)).max_rounds == 2  # auto: what fits
    monkeypatch.setattr(records, "MAX_ITEM_RECORDS", 1000)
    with pytest.raises(ConfigError, match="x one round = 1,200 item records"):
        build_config(RunOptions(**opts))
