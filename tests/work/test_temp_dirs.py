"""Temp folders named after their process: a killed run's are removed by the next run."""

from __future__ import annotations

import subprocess
import tempfile
from pathlib import Path

import pytest

from cvbench.work.temp_dirs import owned_dir, remove_stale


def test_a_dead_process_folder_goes_a_live_one_stays(tmp_path, monkeypatch):
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    dead = subprocess.Popen(["true"])
    dead.wait()  # reaped: its pid names no process now
    alive = subprocess.Popen(["sleep", "30"])
    try:
        stale = tmp_path / f"cvbench-test-{dead.pid}-x"
        live = tmp_path / f"cvbench-test-{alive.pid}-y"
        other = tmp_path / "cvbench-test-notapid-z"
        for folder in (stale, live, other):
            folder.mkdir()
            (folder / "f").write_text("x")
        mine = owned_dir("cvbench-test-")
        assert mine.parent == tmp_path and mine.is_dir()
        assert not stale.exists() and live.exists() and other.exists()
        assert remove_stale("cvbench-test-") == []  # its own folder is never stale
    finally:
        alive.kill()
        alive.wait()


@pytest.mark.slow
def test_a_run_leaves_no_temp_folder(tmp_path):
    """pymp-* (the fork server's socket), dask-scratch-space and the job's tiles: none stays
    after a run that used a process pool, dask and the file-based workload."""
    import os
    import sys

    root = Path(__file__).resolve().parents[2]
    env = {**os.environ, "TMPDIR": str(tmp_path), "PYTHONPATH": str(root)}
    res = subprocess.run(
        [sys.executable, "-m", "cvbench", "run", "--quick", "-w", "threshold-io",
         "-m", "sequential,processes,dask", "--workers", "1", "--repeat", "1", "--warmup", "0",
         "--out", str(tmp_path / "out")],
        env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert res.returncode == 0, res.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_a_long_tmpdir_still_gets_a_fork_server(tmp_path):
    """A TMPDIR too long for the fork server's AF_UNIX socket (a test runner's, a deep home):
    multiprocessing's folder goes to /tmp instead, the pool starts, and the folder goes at
    exit."""
    import os
    import sys

    long_tmp = tmp_path / ("t" * max(1, 80 - len(str(tmp_path))))
    long_tmp.mkdir()
    script = (
        "import concurrent.futures as cf, multiprocessing as mp, os\n"
        "from multiprocessing import process\n"
        "from cvbench.work.temp_dirs import claim_multiprocessing_tempdir\n"
        "claim_multiprocessing_tempdir()\n"
        "print(process.current_process()._config['tempdir'])\n"
        "with cf.ProcessPoolExecutor(1, mp_context=mp.get_context('forkserver')) as pool:\n"
        "    print(pool.submit(os.getpid).result() != os.getpid())\n"
    )
    root = Path(__file__).resolve().parents[2]
    env = {**os.environ, "TMPDIR": str(long_tmp), "PYTHONPATH": str(root)}
    res = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=60
    )
    assert res.returncode == 0, res.stderr
    folder, worked = res.stdout.split()
    assert worked == "True" and folder.startswith("/tmp/cvbench-mp-")
    assert not Path(folder).exists() and list(long_tmp.iterdir()) == []
