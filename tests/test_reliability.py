"""The reliability suite: every fault is injected for real (signals to real processes, a real
tiny tmpfs, symlinks, /dev/null, concurrent runs, a folder whose name is not UTF-8) and the
run must end promptly, keep what it measured, say one line, and leave nothing behind."""

from __future__ import annotations

import csv
import json
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import click
import cv2
import psutil
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cvbench.commands.run import config_from_options
from cvbench.commands.run import run as run_cmd
from cvbench.workloads import data
from cvbench.workloads.spec import WorkloadError, load_spec
from tests.helpers import CVBENCH, ROOT, cvbench

QUICK = ["run", "--quick", "-w", "faces", "--workers", "2", "--warmup", "0"]


def _start(tmp_path: Path, *args: str) -> subprocess.Popen:
    return subprocess.Popen(
        [*CVBENCH, *args], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "COLUMNS": "200"}, start_new_session=True,
    )  # fmt: skip


def _descendants_when(proc: subprocess.Popen, at_least: int, timeout: float = 60) -> list[int]:
    """Wait until the run has started at least `at_least` processes; their pids."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        kids = psutil.Process(proc.pid).children(recursive=True)
        if len(kids) >= at_least:
            time.sleep(0.3)  # let the pool settle into its timed region
            return [k.pid for k in psutil.Process(proc.pid).children(recursive=True)]
        time.sleep(0.05)
    pytest.fail(f"the run never started {at_least} processes")


def _alive(pids: list[int]) -> list[int]:
    alive = []
    for pid in pids:
        try:
            if psutil.Process(pid).status() != psutil.STATUS_ZOMBIE:
                alive.append(pid)
        except psutil.NoSuchProcess:
            pass
    return alive


@pytest.mark.slow
@pytest.mark.parametrize("model", ["processes", "asyncio+processes"])
def test_sigkill_of_the_main_process_leaves_no_process_behind(tmp_path, model):
    proc = _start(
        tmp_path, *QUICK, "-m", model, "--repeat", "200",
        "--csv", str(tmp_path / "r.csv"), "--json", str(tmp_path / "r.json"),
    )  # fmt: skip
    pids = _descendants_when(proc, at_least=3)  # forkserver (+ tracker) + 2 workers
    proc.kill()
    proc.wait()
    deadline = time.monotonic() + 10
    while _alive(pids) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert _alive(pids) == [], [psutil.Process(p).cmdline() for p in _alive(pids)]


@pytest.mark.slow
@pytest.mark.parametrize(("sig", "code"), [(signal.SIGTERM, 143), (signal.SIGHUP, 129)])
def test_sigterm_and_sighup_keep_rows_and_mark_the_json(tmp_path, sig, code):
    proc = _start(
        tmp_path, *QUICK, "-m", "sequential,threads", "--repeat", "500",
        "--csv", str(tmp_path / "r.csv"), "--json", str(tmp_path / "r.json"),
    )  # fmt: skip
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if (tmp_path / "r.csv").exists() and len((tmp_path / "r.csv").read_text().splitlines()) > 3:
            break
        time.sleep(0.1)
    proc.send_signal(sig)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == code, err
    assert "Traceback" not in out + err and signal.Signals(sig).name in err
    doc = json.loads((tmp_path / "r.json").read_text())
    assert doc["interrupted"] is True and len(doc["rows"]) >= 2


@pytest.mark.slow
def test_two_ctrl_c_in_quick_succession_during_a_process_pool(tmp_path):
    proc = _start(
        tmp_path, *QUICK, "-m", "processes", "--repeat", "200",
        "--csv", str(tmp_path / "r.csv"), "--json", str(tmp_path / "r.json"),
    )  # fmt: skip
    pids = _descendants_when(proc, at_least=3)
    os.killpg(proc.pid, signal.SIGINT)  # a terminal's Ctrl-C reaches the whole group
    time.sleep(0.07)
    os.killpg(proc.pid, signal.SIGINT)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 130, err
    assert "Traceback" not in out + err
    time.sleep(1)
    assert _alive(pids) == []


@pytest.mark.slow
def test_outputs_follow_symlinks_and_write_through_devices(tmp_path):
    target = tmp_path / "real.csv"
    target.write_text("workload,model,workers\n")  # an earlier result: ours to replace
    link = tmp_path / "link.csv"
    link.symlink_to(target)
    res = cvbench(
        "run", "--quick", "-w", "threshold", "-m", "sequential", "--repeat", "1",
        "--warmup", "0", "--csv", str(link), "--json", "/dev/null",
    )  # fmt: skip
    assert res.returncode == 0, res.stderr
    assert link.is_symlink() and link.resolve() == target
    assert target.read_text().startswith("workload,")
    assert Path("/dev/null").is_char_device()


@pytest.mark.slow  # a subprocess or a wait of seconds: the full tier
def test_a_file_that_is_not_ours_is_never_replaced(tmp_path):
    """The user's own files named as outputs: refused with one line (an input always, another
    existing file unless --force), before any work."""
    mine = tmp_path / "notes.csv"
    mine.write_text("my,own\ndata,1\n")
    module = tmp_path / "myop.py"
    module.write_text("def f(img):\n    return img.sum()\n")
    link = tmp_path / "link.json"
    link.symlink_to(mine)
    for args, needle in (
        (["--csv", str(mine)], "not a cvbench result"),
        (["--csv", str(tmp_path / "x.csv"), "--json", str(link)], "through the symlink"),
        (["--op", "myop:f", "--pythonpath", str(tmp_path), "--csv", str(module)], "an input"),
        (["--op", "myop:f", "--pythonpath", str(tmp_path), "--csv", str(module), "--force"],
         "an input"),
    ):  # fmt: skip
        res = cvbench("run", "--quick", "-m", "sequential", *args)
        assert res.returncode == 2 and needle in res.stderr, (args, res.stderr)
        assert "Traceback" not in res.stderr
    assert mine.read_text() == "my,own\ndata,1\n" and "def f" in module.read_text()


@pytest.mark.slow
def test_a_full_disk_is_one_line_and_other_outputs_are_written(tmp_path):
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("mounting a tiny tmpfs needs root")
    tiny = tmp_path / "tiny"
    tiny.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=12k", "tmpfs", str(tiny)]).returncode:
        pytest.skip("cannot mount a tmpfs here")
    try:
        res = cvbench(
            "run", "--quick", "-w", "threshold", "-m", "sequential,threads", "--workers", "1",
            "--repeat", "2", "--warmup", "0", "--json", str(tiny / "r.json"),
            "--csv", str(tmp_path / "r.csv"), "--markdown", str(tmp_path / "r.md"),
        )  # fmt: skip
        assert res.returncode == 1
        assert "Traceback" not in res.stdout + res.stderr
        assert f"cannot write --json {tiny / 'r.json'}: No space left on device" in res.stderr
        with (tmp_path / "r.csv").open() as fh:
            rows = [r for r in csv.DictReader(fh) if r["predicted"] == "false"]
        assert len(rows) == 4 and all(r["ok"] == "true" for r in rows)  # 2 rounds x 2 cells
        assert (tmp_path / "r.md").exists()
        # no half-written temp file left; an earlier periodic rewrite that still fitted (a
        # slow machine makes one before the document outgrows 12 KB) stays whole, and says
        # it is not the end (a clean-clone CI run on a VM with 10 % steal left one)
        left = list(tiny.iterdir())
        assert left in ([], [tiny / "r.json"]), left
        if left:
            assert json.loads(left[0].read_text())["complete"] is False
    finally:
        subprocess.run(["umount", str(tiny)])


@pytest.mark.slow
def test_two_runs_started_together_write_different_files(tmp_path):
    args = [*CVBENCH, "run", "--quick", "-w", "threshold", "-m", "sequential", "--repeat", "1",
            "--warmup", "0", "--out", str(tmp_path)]  # fmt: skip
    procs = [subprocess.Popen(args, cwd=ROOT, stdout=subprocess.DEVNULL) for _ in range(2)]
    assert [p.wait(timeout=120) for p in procs] == [0, 0]
    csvs = sorted(tmp_path.glob("*.csv"))
    assert len(csvs) == 2 and all(len(p.read_text().splitlines()) == 2 for p in csvs)


@pytest.mark.slow
def test_a_folder_whose_name_is_not_utf8(tmp_path):
    folder = os.path.join(os.fsencode(tmp_path), b"bad\xffname")
    os.mkdir(folder)
    for i in range(3):
        ok, buf = cv2.imencode(".png", data.textured_image(64, 48, i))
        with open(os.path.join(folder, b"img%d.png" % i), "wb") as fh:
            fh.write(buf.tobytes())
    res = subprocess.run(
        [*CVBENCH, "run", "-w", "threshold", "-m", "sequential,threads", "--workers", "1",
         "--repeat", "1", "--warmup", "0", "--input", os.fsdecode(folder),
         "--csv", str(tmp_path / "r.csv"), "--json", str(tmp_path / "r.json")],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert res.returncode == 0, res.stderr
    rows = json.loads((tmp_path / "r.json").read_text())["rows"]
    measured = [r for r in rows if not r["predicted"]]
    assert [(r["items"], r["ok"]) for r in measured] == [(3, True), (3, True)]


def test_truncated_jpeg_fails_fast_naming_it(tmp_path):
    ok, buf = cv2.imencode(".jpg", data.textured_image(200, 150, 1))
    (tmp_path / "cut.jpg").write_bytes(buf.tobytes()[: len(buf) // 2])
    res = cvbench("run", "--quick", "--input", str(tmp_path))
    assert res.returncode == 2 and "cut.jpg" in res.stderr and "truncated" in res.stderr


def test_nothing_is_expanded_before_it_is_bounded():
    t0 = time.monotonic()
    for args in (["--workers", "2-2000000000000"], ["--cpus", "0-99999999999"]):
        res = cvbench("run", "--quick", *args)
        assert res.returncode == 2 and "Traceback" not in res.stderr
    assert time.monotonic() - t0 < 20


def _parse_only(argv: list[str]) -> None:
    """The whole up-front validation of `cvbench run`, without running anything."""
    with run_cmd.make_context("run", argv) as ctx:
        params = dict(ctx.params)
        params.pop("brief")
        config_from_options(params)


VALUE = st.one_of(
    st.text(max_size=12),
    st.integers(-(10**15), 10**15).map(str),
    st.sampled_from(["nan", "inf", "-1", "0", "1-", "-", "1e308", "0x10", "1,,2", "2-1"]),
)
OPTION = st.sampled_from(
    ["--workers", "--cpus", "--repeat", "--seed", "--target-ci", "--max-time", "--grid",
     "--fps", "--heartbeat-ms", "--nice", "--cv-threads", "--models", "--workload"]
)  # fmt: skip


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(pairs=st.lists(st.tuples(OPTION, VALUE), min_size=1, max_size=3))
def test_hypothesis_cli_values_are_accepted_or_one_clean_error(pairs, tmp_path_factory):
    out = tmp_path_factory.mktemp("hyp")
    argv = ["--out", str(out), "--input", str(ROOT / "workloads" / "astronaut.jpg")]
    for option, value in pairs:
        argv += [option, value]
    try:
        _parse_only(argv)
    except click.ClickException as exc:
        assert "\n" not in exc.format_message().strip()
    except click.exceptions.Exit:
        pass


TOML_VALUE = st.one_of(
    st.integers(-(10**12), 10**12), st.floats(allow_nan=True), st.text(max_size=8), st.booleans()
)


@settings(max_examples=200, deadline=None)
@given(
    name=st.one_of(st.just("ok"), st.text(max_size=10)),
    op=st.one_of(st.sampled_from(["threshold", "faces", "x:y", "kernel"]), st.text(max_size=6)),
    key=st.sampled_from(["frames", "size", "width", "height", "grid", "images", "seed", "fps"]),
    value=TOML_VALUE,
    raw=st.binary(max_size=40),
)
def test_hypothesis_toml_files_load_or_fail_with_one_line(
    tmp_path_factory, name, op, key, value, raw
):
    d = tmp_path_factory.mktemp("toml")
    literal = repr(value) if isinstance(value, float) else json.dumps(value)
    text = (
        f'name = {json.dumps(name)}\nop = {json.dumps(op)}\nsource = "frames"\n'
        f"[sizes.default]\n{key} = {literal}\n"
    )
    for content in (text.encode(), raw, text.encode()[:20] + raw):
        path = d / "w.toml"
        path.write_bytes(content)
        try:
            spec = load_spec(str(path))
        except WorkloadError as exc:
            assert "\n" not in str(exc)
            continue
        assert spec.name and spec.slug and "/" not in spec.slug


def test_compare_markdown_escapes_pipes(tmp_path):
    from cvbench.analysis.gate import compare
    from cvbench.report.compare import markdown_text
    from tests.helpers import rows_for

    rows = rows_for({("sequential", 1): [100, 101, 99], ("a|b", 2): [150, 151, 149]})
    text = markdown_text(compare(rows, rows), "x|y.csv", "z.csv")
    table = [ln for ln in text.splitlines() if ln.startswith("| w |")]
    assert any("a\\|b" in ln for ln in table)
    assert all(ln.count("|") - ln.count("\\|") == 10 for ln in table)


@pytest.mark.slow
def test_a_stopped_worker_fails_its_row_after_the_timeout_and_the_run_goes_on(tmp_path):
    t0 = time.monotonic()
    proc = _start(
        tmp_path, *QUICK, "-m", "processes,threads", "--repeat", "10", "--item-timeout", "3s",
        "--csv", str(tmp_path / "r.csv"), "--json", str(tmp_path / "r.json"),
    )  # fmt: skip
    deadline = time.monotonic() + 60
    stopped_pid = None
    csv_path = tmp_path / "r.csv"
    while time.monotonic() < deadline:  # past the calibration: a measured row exists
        if csv_path.exists() and len(csv_path.read_text().splitlines()) > 1:
            break
        time.sleep(0.05)
    while stopped_pid is None and time.monotonic() < deadline:
        kids = psutil.Process(proc.pid).children(recursive=True)
        pids = [k.pid for k in kids]
        for pid in [k.pid for k in kids if k.ppid() != proc.pid]:  # the forkserver's children
            try:  # a pool of an earlier repetition may have ended since the listing
                os.kill(pid, signal.SIGSTOP)
                stopped_pid = pid
                break
            except ProcessLookupError:
                continue
        time.sleep(0.02)
    assert stopped_pid is not None, "no pool worker to stop"
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 1, err
    assert "Traceback" not in out + err
    rows = json.loads((tmp_path / "r.json").read_text())["rows"]
    stopped = [r for r in rows if r["model"] == "processes" and not r["ok"]]
    assert stopped and "no progress for 3 s" in stopped[0]["error"]
    assert any(r["model"] == "threads" and r["ok"] for r in rows)  # the run went on
    assert time.monotonic() - t0 < 90
    assert _alive(pids) == [] or all(psutil.Process(p).status() != "stopped" for p in _alive(pids))
