"""`cvbench ab`: paired verdicts, the counterbalanced schedule, and real two-commit jobs."""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cvbench.ab import verdict as V
from cvbench.ab.schedule import A, B, Schedule

ROOT = Path(__file__).resolve().parents[2]
CVBENCH = [sys.executable, "-m", "cvbench.cli"]


# --- the interval and the verdicts -------------------------------------------------------------


def test_signed_rank_ci_matches_scipy_test():
    """The exact interval excludes 0 exactly when scipy's exact signed-rank test rejects."""
    scipy_stats = pytest.importorskip("scipy.stats")
    rng = np.random.default_rng(5)
    for n in (8, 12, 20):
        for _ in range(40):
            d = rng.normal(rng.uniform(-0.05, 0.05), 0.03, n)
            _, lo, hi = V.signed_rank_ci(d, 0.95)
            p = scipy_stats.wilcoxon(d, method="exact").pvalue
            if p < 0.04:
                assert not lo <= 0 <= hi
            if p > 0.06:
                assert lo <= 0 <= hi


def test_signed_rank_ci_coverage():
    rng = np.random.default_rng(1)
    for n in (8, 15):
        hits = sum(
            lo <= 0 <= hi
            for _, lo, hi in (V.signed_rank_ci(rng.standard_t(3, n), 0.95) for _ in range(800))
        )
        assert 0.93 <= hits / 800 <= 0.985


def test_too_few_rounds_is_inconclusive():
    v = V.judge([0.5] * 5)
    assert v.verdict == V.INCONCLUSIVE and "8 rounds" in v.note
    assert V.signed_rank_ci([0.1, 0.2, 0.3], 0.99) is None


def test_clear_shift_is_detected_both_ways():
    rng = np.random.default_rng(2)
    slower = math.log(1.2) + rng.normal(0, 0.02, 12)
    assert V.judge(slower).verdict == V.SLOWER
    assert V.judge(-slower).verdict == V.FASTER
    same = rng.normal(0, 0.005, 12)
    assert V.judge(same).verdict == V.SAME
    v = V.judge(rng.normal(0, 0.2, 12))
    assert v.verdict == V.INCONCLUSIVE and "across" in v.note


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.floats(0.0, 0.3, allow_nan=False), min_size=1, max_size=30),
    st.lists(st.booleans(), min_size=30, max_size=30),
)
def test_aa_symmetric_noise_is_never_slower(magnitudes, signs):
    """Perfectly symmetric noise (every ratio paired with its inverse) has its centre at 1:
    no interval of it lies wholly beyond the threshold, whatever the values."""
    d = [m if s else -m for m, s in zip(magnitudes, signs, strict=False)]
    d = d + [-x for x in d]
    v = V.judge(d)
    assert v.verdict not in (V.SLOWER, V.FASTER)


def test_aa_false_alarms_rare_under_sequential_looks():
    """Simulated A/A jobs of 10 cells, heavy-tailed noise, a look after every round."""
    rng = np.random.default_rng(3)
    flagged = 0
    for _ in range(60):
        for _cell in range(10):
            d: list[float] = []
            for _ in range(40):
                d.append(0.03 * rng.standard_t(3))
                v = V.judge(d)
                if v.final:
                    break
            flagged += v.verdict in (V.SLOWER, V.FASTER)
    assert flagged <= 3  # of 600 cells


def test_five_percent_is_caught_on_quiet_noise():
    rng = np.random.default_rng(4)
    caught = 0
    for _ in range(40):
        d: list[float] = []
        for _ in range(40):
            d.append(math.log(1.05) + 0.02 * rng.standard_t(3))
            v = V.judge(d)
            if v.final:
                break
        caught += v.verdict == V.SLOWER
    assert caught >= 34


# --- the schedule ------------------------------------------------------------------------------


def test_schedule_counterbalances_and_shuffles():
    s = Schedule(seed=7)
    cells = [f"c{i}" for i in range(6)]
    first = {c: Counter() for c in cells}
    orders = set()
    for _ in range(10):
        rnd = s.round(cells)
        assert sorted(c for c, _ in rnd) == cells
        orders.add(tuple(c for c, _ in rnd))
        for c, order in rnd:
            assert sorted(order) == sorted((A, B))
            first[c][order[0]] += 1
    assert all(f[A] == f[B] == 5 for f in first.values())  # every block of two: AB and BA
    assert len(orders) > 1
    s1, s2 = Schedule(9), Schedule(9)
    assert [s1.round(cells) for _ in range(4)] == [s2.round(cells) for _ in range(4)]


# --- real jobs ---------------------------------------------------------------------------------

OP = """import cv2
import numpy as np


def blur(img):
    out = img
    for _ in range({reps}):
        out = cv2.GaussianBlur(img, (41, 41), 0)
    return float(np.round(out.mean(), 3))
"""


def _git(repo: Path, *args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=repo, check=True, capture_output=True, text=True
    ).stdout


@pytest.fixture
def two_commits(tmp_path: Path) -> Path:
    """A repository whose head commit makes the op three times the work (same output)."""
    repo = tmp_path / "repo"
    repo.mkdir()
    _git(repo, "init", "-q")
    _git(repo, "config", "user.email", "t@example.com")
    _git(repo, "config", "user.name", "t")
    (repo / "myop.py").write_text(OP.format(reps=1))
    _git(repo, "add", "myop.py")
    _git(repo, "commit", "-qm", "fast")
    (repo / "myop.py").write_text(OP.format(reps=3))
    _git(repo, "commit", "-qam", "slow")
    return repo


def _env() -> dict[str, str]:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    env.pop("CVBENCH_MAIN_PID", None)
    return env


def _ab(repo: Path, *args: str, timeout: float = 240) -> subprocess.CompletedProcess[str]:
    cmd = [*CVBENCH, "ab", "--op", "myop:blur", "--quick", "-m", "sequential",
           "--workers", "1", "--seed", "1", "--max-time", "40s", *args]  # fmt: skip
    return subprocess.run(cmd, cwd=repo, env=_env(), capture_output=True, text=True,
                          timeout=timeout)  # fmt: skip


def _worktrees(repo: Path) -> list[str]:
    return [x for x in _git(repo, "worktree", "list").splitlines() if x.strip()]


@pytest.mark.slow
def test_two_commits_slower_then_faster(two_commits: Path, tmp_path: Path):
    repo = two_commits
    csv = tmp_path / "ab.csv"
    res = _ab(repo, "--base", "HEAD~1", "--head", "HEAD", "--csv", str(csv),
              "--markdown", str(tmp_path / "ab.md"))  # fmt: skip
    assert res.returncode == 1, res.stdout + res.stderr
    assert "slower" in res.stdout
    text = csv.read_text()
    header = text.splitlines()[0].split(",")
    assert "side" in header and "ab_round" in header
    sides = {line.split(",")[header.index("side")] for line in text.splitlines()[1:]}
    assert sides == {"base", "head"}
    assert "slower" in (tmp_path / "ab.md").read_text()
    assert len(_worktrees(repo)) == 1  # only the main one: both temporary ones removed
    rev = _ab(repo, "--base", "HEAD", "--head", "HEAD~1")
    assert rev.returncode == 0, rev.stdout + rev.stderr
    assert "faster" in rev.stdout
    assert len(_worktrees(repo)) == 1


@pytest.mark.slow
def test_output_change_is_not_a_speed_change(two_commits: Path):
    repo = two_commits
    (repo / "myop.py").write_text(OP.format(reps=1).replace("out.mean(), 3", "out.mean() + 1, 3"))
    res = _ab(repo, "--base", "HEAD")  # head: the working tree with a changed result
    assert "output changed" in res.stdout, res.stdout + res.stderr
    assert res.returncode == 0


def test_bad_ref_is_one_line(two_commits: Path):
    res = _ab(two_commits, "--base", "no-such-ref", timeout=60)
    assert res.returncode == 2
    assert res.stderr.strip().count("\n") == 0
    assert "no-such-ref" in res.stderr and "not a commit" in res.stderr
    assert len(_worktrees(two_commits)) == 1


@pytest.mark.slow  # a subprocess or a wait of seconds: the full tier
def test_interpreter_without_cvbench_is_one_line(two_commits: Path, tmp_path: Path):
    python = "/root/.pyenv/versions/3.12.1/bin/python"
    if not Path(python).exists():
        venv = tmp_path / "bare"
        subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
        python = str(venv / "bin" / "python")
    # the side's PYTHONPATH emptied, so that the bare interpreter cannot find this checkout
    cmd = [*CVBENCH, "ab", "--op", "myop:blur", "--quick", "--base-python", python,
           "--base-env", "PYTHONPATH="]  # fmt: skip
    res = subprocess.run(cmd, cwd=two_commits, env=_env(), capture_output=True, text=True,
                         timeout=120)  # fmt: skip
    assert res.returncode == 2, res.stderr
    assert res.stderr.strip().count("\n") == 0, res.stderr
    assert "base side" in res.stderr and "cannot import cvbench" in res.stderr


def _descendants(pid: int) -> list[int]:
    psutil = pytest.importorskip("psutil")
    try:
        return [p.pid for p in psutil.Process(pid).children(recursive=True)]
    except psutil.NoSuchProcess:
        return []


@pytest.mark.slow
def test_ctrl_c_leaves_nothing(two_commits: Path):
    psutil = pytest.importorskip("psutil")
    cmd = [*CVBENCH, "ab", "--op", "myop:blur", "--quick", "-m", "sequential,processes",
           "--workers", "2", "--base", "HEAD~1", "--max-time", "60s"]  # fmt: skip
    proc = subprocess.Popen(
        cmd, cwd=two_commits, env=_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True, preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )  # fmt: skip
    children: set[int] = set()
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:  # until both sides (and a process pool) are up
        children |= set(_descendants(proc.pid))
        if len(children) >= 4 and len(_worktrees(two_commits)) == 2:
            break
        time.sleep(0.3)
    time.sleep(2.0)
    children |= set(_descendants(proc.pid))
    assert len(_worktrees(two_commits)) == 2
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, out + err
    time.sleep(1.0)
    alive = [p for p in children if psutil.pid_exists(p) and psutil.Process(p).status() != "zombie"]
    assert not alive, alive
    assert len(_worktrees(two_commits)) == 1
    assert "Traceback" not in err


@pytest.mark.slow
def test_a_killed_job_is_cleaned_up_by_the_next(two_commits: Path):
    """SIGKILL leaves the job's worktree (nothing can run in a killed process); its sides die
    with it, and the next job removes the folder and prunes the worktree."""
    psutil = pytest.importorskip("psutil")
    cmd = [*CVBENCH, "ab", "--op", "myop:blur", "--quick", "-m", "sequential",
           "--workers", "1", "--base", "HEAD~1", "--max-time", "60s"]  # fmt: skip
    proc = subprocess.Popen(cmd, cwd=two_commits, env=_env(), stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)  # fmt: skip
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and len(_worktrees(two_commits)) < 2:
        time.sleep(0.2)
    time.sleep(2.0)
    children = _descendants(proc.pid)
    proc.kill()
    proc.wait(timeout=30)
    left = [w for w in _worktrees(two_commits) if "cvbench-ab-" in w]
    assert left, "the killed job had a worktree"
    time.sleep(12)  # a side's last resort (the pidfd watcher) ends it within 10 s
    alive = [p for p in children if psutil.pid_exists(p) and psutil.Process(p).status() != "zombie"]
    assert not alive, alive
    res = _ab(two_commits, "--base", "HEAD~1", "--head", "HEAD")
    assert res.returncode in (0, 1), res.stderr
    assert len(_worktrees(two_commits)) == 1  # the killed job's worktree pruned
    folder = Path(left[0].split()[0]).parent
    assert not folder.exists()


CRASHY = """import os
import cv2

calls = 0


def blur(img):
    global calls
    calls += 1
    if os.environ.get("CRASH_AFTER") and calls > int(os.environ["CRASH_AFTER"]):
        os._exit(7)  # the whole side process dies mid-request
    return float(cv2.GaussianBlur(img, (5, 5), 0).mean())
"""


@pytest.mark.slow
def test_side_crash_fails_the_cell_and_the_job_goes_on(tmp_path: Path):
    (tmp_path / "myop.py").write_text(CRASHY)
    doc = tmp_path / "a.json"
    cmd = [*CVBENCH, "ab", "--op", "myop:blur", "--quick", "-m", "sequential", "--workers", "1",
           "--head-env", "CRASH_AFTER=6", "--max-time", "20s", "--json", str(doc)]  # fmt: skip
    res = subprocess.run(cmd, cwd=tmp_path, env=_env(), capture_output=True, text=True,
                         timeout=180)  # fmt: skip
    assert res.returncode == 1, res.stdout + res.stderr
    ab = json.loads(doc.read_text())["ab"]
    (cell,) = ab["cells"]
    assert cell["verdict"] == "failed"
    # the CPU-speed check ran before the sides: its line, and on stderr when it warned
    speed = ab["cpu_speed"]
    assert speed["status"] in ("ok", "warn") and speed["value"]["slices"] >= 8
    assert ("WARNING: CPU speed:" in res.stderr) == (speed["status"] == "warn")
    assert "head side crashed or hung" in cell["note"] and "exit 7" in cell["note"]
    assert "1 cell(s) failed" in res.stderr
    assert "Traceback" not in res.stderr
