"""The two sides of an A/B job and the processes that measure them.

A side is what the user names for base (A) or head (B): a git ref (checked out into a
temporary ``git worktree add --detach``, removed afterwards, also on Ctrl-C, SIGTERM or an
exception), an interpreter or virtualenv, extra PYTHONPATH folders, a workload TOML or op,
environment variables and extra ``cvbench run`` options. Everything is checked before any
work starts; a problem is one line (BadInput), exit 2.
"""

from __future__ import annotations

import contextlib
import os
import shlex
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cvbench.ab.protocol import LineReader, ProtocolError, send
from cvbench.ab.side_process import PARENT_ENV
from cvbench.work.temp_dirs import owned_dir

LOG_TAIL = 3  # lines of a side's log quoted when it fails


class BadInput(ValueError):
    """A side that cannot be used; one line naming the option and the problem."""


@dataclass(frozen=True)
class SideSpec:
    label: str  # base | head
    ref: str | None = None  # None: the working tree as it is
    python: str | None = None  # an interpreter or a virtualenv folder; None: this one
    pythonpath: tuple[str, ...] = ()
    workload: str | None = None  # replaces the shared -w/--op for this side
    env: dict[str, str] = field(default_factory=dict)
    options: tuple[str, ...] = ()  # extra `cvbench run` options, e.g. ("--cv-threads", "4")

    def describe(self) -> str:
        parts = [self.ref or f"working tree{_uncommitted()}"]
        if self.python:
            parts.append(f"python {self.python}")
        parts += [f"{k}={v}" for k, v in self.env.items()]
        if self.options:
            parts.append(shlex.join(self.options))
        if self.workload:
            parts.append(f"workload {self.workload}")
        return ", ".join(parts)


def parse_env(items: tuple[str, ...] | list[str], option: str) -> dict[str, str]:
    env = {}
    for item in items:
        key, eq, value = item.partition("=")
        if not eq or not key or not key.replace("_", "a").isalnum():
            raise BadInput(f"{option} {item!r}: expected NAME=VALUE")
        env[key] = value
    return env


def parse_options(items: tuple[str, ...] | list[str], option: str) -> tuple[str, ...]:
    out: list[str] = []
    for item in items:
        try:
            out += shlex.split(item)
        except ValueError as exc:
            raise BadInput(f"{option} {item!r}: {exc}") from None
    return tuple(out)


def resolve_python(text: str | None, option: str) -> str:
    """An interpreter path, or a virtualenv folder's bin/python."""
    if not text:
        return sys.executable
    path = Path(text).expanduser()
    if path.is_dir():
        path = path / "bin" / "python"
    found = shutil.which(str(path)) if not path.exists() else str(path)
    if not found or not os.access(found, os.X_OK):
        raise BadInput(f"{option} {text}: no such interpreter (an executable or a virtualenv)")
    return str(Path(found).absolute())


def _git(args: list[str], cwd: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=False)


def resolve_ref(ref: str, option: str, cwd: str) -> tuple[str, Path]:
    """(commit sha, repository top level) of a ref; BadInput if it is not a commit here."""
    if shutil.which("git") is None:
        raise BadInput(f"{option} {ref}: git is not installed")
    top = _git(["rev-parse", "--show-toplevel"], cwd)
    if top.returncode != 0:
        raise BadInput(f"{option} {ref}: {cwd} is not inside a git repository")
    sha = _git(["rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}"], cwd)
    if sha.returncode != 0 or not sha.stdout.strip():
        hint = " (a shallow clone? use fetch-depth: 0)" if "/" in ref else ""
        raise BadInput(f"{option} {ref}: not a commit in this repository{hint}")
    return sha.stdout.strip(), Path(top.stdout.strip())


class Worktrees:
    """Temporary detached worktrees, removed on exit whatever happened."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.made: list[tuple[Path, Path]] = []  # (repository top level, worktree)

    def add(self, top: Path, sha: str, label: str) -> Path:
        _git(["worktree", "prune"], str(top))  # those of a killed job whose folder is gone
        path = self.root / f"worktree-{label}"
        res = _git(["worktree", "add", "--detach", "--quiet", str(path), sha], str(top))
        if res.returncode != 0:
            msg = (res.stderr.strip().splitlines() or ["git worktree add failed"])[-1]
            raise BadInput(f"--{label} {sha[:12]}: cannot check out: {msg}")
        self.made.append((top, path))
        return path

    def remove_all(self) -> None:
        for top, path in reversed(self.made):
            res = _git(["worktree", "remove", "--force", str(path)], str(top))
            if res.returncode != 0:
                shutil.rmtree(path, ignore_errors=True)
                _git(["worktree", "prune"], str(top))
        self.made.clear()

    def __enter__(self) -> Worktrees:
        return self

    def __exit__(self, *exc: object) -> None:
        self.remove_all()


@dataclass
class Placed:
    """A side resolved to what its process needs."""

    spec: SideSpec
    python: str
    cwd: Path
    pythonpath: list[str]
    argv: list[str]
    sha: str | None = None


class SideProcess:
    """One long-lived side process and its two pipes."""

    def __init__(self, placed: Placed, tmp: Path) -> None:
        self.placed = placed
        self.tmp = tmp / placed.spec.label
        self.tmp.mkdir(parents=True, exist_ok=True)
        self.log = self.tmp / "side.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self.w_req = -1
        self.reader: LineReader | None = None
        self.ready: dict[str, Any] = {}
        self.starts = 0

    @property
    def label(self) -> str:
        return self.placed.spec.label

    def start(self) -> None:
        p = self.placed
        r_req, self.w_req = os.pipe()
        r_resp, w_resp = os.pipe()
        env = os.environ.copy()
        env.update(p.spec.env)
        inherited = [x for x in env.get("PYTHONPATH", "").split(os.pathsep) if x]
        env["PYTHONPATH"] = os.pathsep.join(dict.fromkeys([*p.pythonpath, *inherited]))
        env[PARENT_ENV] = str(os.getpid())
        env.pop("CVBENCH_MAIN_PID", None)  # the side is the main process of its own pools
        cmd = [p.python, "-m", "cvbench.ab.side_process", "--in", str(r_req),
               "--out", str(w_resp), "--tmp", str(self.tmp), "--", *p.argv]  # fmt: skip
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(
                cmd,
                cwd=p.cwd,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                pass_fds=(r_req, w_resp),
                start_new_session=True,  # its own process group: killpg reaches its pools
            )
        os.close(r_req)
        os.close(w_resp)
        self.reader = LineReader(r_resp)
        self.starts += 1

    def handshake(self, timeout_s: float) -> dict[str, Any]:
        """Wait for "ready"; BadInput with one line if the side cannot run."""
        assert self.reader is not None
        try:
            msg = self.reader.read(timeout_s)
        except ProtocolError as exc:
            raise BadInput(f"{self.label} side: {self._why(exc)}") from None
        if msg.get("type") == "error":
            raise BadInput(f"{self.label} side: {msg.get('message')}")
        if msg.get("type") != "ready":
            raise BadInput(f"{self.label} side: unexpected answer {msg.get('type')!r}")
        self.ready = msg
        return msg

    def run(self, cell: str, round_index: int, timeout_s: float) -> dict[str, Any]:
        """One repetition of a cell; ProtocolError (with the reason) if the side crashed or
        hung: the caller fails the cell and restarts the side."""
        assert self.reader is not None
        try:
            send(self.w_req, {"op": "run", "cell": cell, "round": round_index})
            msg = self.reader.read(timeout_s)
        except (OSError, ProtocolError) as exc:
            raise ProtocolError(self._why(exc)) from None
        if msg.get("type") != "row":
            raise ProtocolError(str(msg.get("message") or msg))
        return msg

    def _why(self, exc: BaseException) -> str:
        """The reason with the side's exit status and the tail of its log."""
        status = None
        if self.proc is not None:
            try:  # it closed its pipe: it is exiting, give it a moment to be reaped
                status = self.proc.wait(2.0 if "ended" in str(exc) else 0.01)
            except subprocess.TimeoutExpired:
                status = None
        if status is None and "no answer" in str(exc):
            text = f"hung ({exc})"
        elif status is not None:
            how = f"signal {signal.Signals(-status).name}" if status < 0 else f"exit {status}"
            text = f"ended with {how}"
        else:
            text = str(exc)
        tail = self.log_tail()
        if "No module named 'cvbench'" in tail:
            return (
                f"{self.placed.python} cannot import cvbench (install it into that "
                "interpreter, or give the side a --*-pythonpath to a checkout)"
            )
        if "No module named" in tail:
            missing = tail[tail.index("No module named") :].splitlines()[0]
            return f"{self.placed.python}: {missing}"
        return f"{text}{': ' + tail if tail else ''}"

    def log_tail(self) -> str:
        try:
            lines = [x for x in self.log.read_text(errors="replace").splitlines() if x.strip()]
        except OSError:
            return ""
        return " | ".join(lines[-LOG_TAIL:])

    def stop(self, interrupted: bool = False, grace_s: float = 5.0) -> None:
        """Ask it to quit (or interrupt it), then make sure nothing of its group is left."""
        proc = self.proc
        if proc is None:
            return
        if self.w_req >= 0:
            with contextlib.suppress(OSError):
                if not interrupted:
                    send(self.w_req, {"op": "quit"})
                os.close(self.w_req)
            self.w_req = -1
        if interrupted and proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(proc.pid, signal.SIGTERM)  # the runner closes its pools and memory
        try:
            proc.wait(grace_s)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(2.0)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        deadline = time.monotonic() + 2.0
        while _group_alive(proc.pid) and time.monotonic() < deadline:
            time.sleep(0.05)  # its pool workers follow it via their lifeline
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)  # stragglers of its process group
        if self.reader is not None:
            with contextlib.suppress(OSError):
                os.close(self.reader.fd)
            self.reader = None
        self.proc = None


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except (ProcessLookupError, PermissionError):
        return False
    return True


def _uncommitted() -> str:
    """' (3 uncommitted changes)' when the working tree is a dirty git checkout: what head
    measures then is not a commit, and the summary must say so."""
    res = _git(["status", "--porcelain", "--untracked-files=no"], os.getcwd())
    changed = (
        [line for line in res.stdout.splitlines() if line.strip()] if res.returncode == 0 else []
    )
    return (
        f" ({len(changed)} uncommitted change{'s' if len(changed) != 1 else ''})" if changed else ""
    )


JOB_PREFIX = "cvbench-ab-"


@contextlib.contextmanager
def job_folder() -> Iterator[Path]:
    path = owned_dir(JOB_PREFIX)  # a SIGKILLed job's folder goes first (work/temp_dirs.py)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)
