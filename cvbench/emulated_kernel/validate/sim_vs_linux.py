"""``cvbench validate``: check the simulator's CFS/EEVDF predictions against this Linux kernel.

For each scenario (a set of nice values) the parent forks one CPU-bound child per nice value,
pins them all to ONE core and lets them compete.  Forking from one parent matters: nice only
weighs tasks inside one autogroup/cgroup.  ``/proc/<pid>/schedstat`` (run ns, run-queue wait
ns, timeslices) is read at the start and the end of a window; the measured CPU shares, slice
counts and waits are compared with the simulator's for the same window.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from cvbench.measure.kernel_config import kernel_hz as linux_hz

from ..policies import DEFAULT_HZ, nice_to_weight
from ..sim import TaskSpec, simulate

SCENARIOS: dict[str, tuple[int, ...]] = {
    "0 vs 5": (0, 5),
    "0 vs 1": (0, 1),
    "0 vs 19": (0, 19),
    "0/3/7": (0, 3, 7),
}
SETTLE_S = 0.3  # let every child start competing before the window opens
_INF = float("inf")


class ValidateError(RuntimeError):
    """Validation cannot run on this machine (the message says why)."""


def unsupported_reason() -> str | None:
    """Why validation cannot run here, or None when it can."""
    if not hasattr(os, "sched_setaffinity") or not hasattr(os, "fork"):
        return "os.sched_setaffinity/os.fork are not available (Linux only)"
    if not Path(f"/proc/{os.getpid()}/schedstat").exists():
        return "/proc/<pid>/schedstat is missing (kernel built without CONFIG_SCHEDSTATS?)"
    try:
        cpus = os.sched_getaffinity(0)
    except OSError as e:
        return f"sched_getaffinity failed: {e}"
    if not cpus:
        return "no usable CPU"
    return None


def read_schedstat(pid: int) -> tuple[int, int, int]:
    """(on-CPU ns, run-queue wait ns, timeslices) of a process's main thread."""
    with open(f"/proc/{pid}/schedstat") as f:
        run, wait, slices = f.read().split()[:3]
    return int(run), int(wait), int(slices)


def kernel_slice_ns() -> int | None:
    """The live EEVDF base slice (``se.slice`` in /proc/self/sched), None on older kernels."""
    try:
        text = Path("/proc/self/sched").read_text()
    except OSError:
        return None
    m = re.search(r"^se\.slice\s*:\s*(\d+)", text, re.M)
    return int(m.group(1)) if m else None


def kernel_hz() -> int:
    """CONFIG_HZ of this kernel, else Linux's common default (250)."""
    return linux_hz() or DEFAULT_HZ


def kernel_policy() -> str:
    """eevdf on Linux >= 6.6, cfs before."""
    m = re.match(r"(\d+)\.(\d+)", os.uname().release)
    if m and (int(m.group(1)), int(m.group(2))) >= (6, 6):
        return "eevdf"
    return "cfs"


def _busy_child(cpu: int, nice: int, ready_fd: int, deadline: float) -> None:
    """Child body: pin, renice, report ready, spin until killed (or the deadline passes)."""
    code = 0
    try:
        os.sched_setaffinity(0, {cpu})
        os.setpriority(os.PRIO_PROCESS, 0, nice)
        os.write(ready_fd, b"1")
        os.close(ready_fd)
        n = 0
        while True:
            n += 1
            if not n & 0xFFFFF and (time.monotonic() > deadline or os.getppid() == 1):
                break
    except BaseException:  # noqa: BLE001 - a forked child must reach os._exit, whatever
        code = 1
    finally:
        os._exit(code)


def measure(nices: Sequence[int], cpu: int, seconds: float) -> list[tuple[int, int, int]]:
    """Fork one busy child per nice value on ``cpu``; schedstat deltas over ``seconds``."""
    base = os.getpriority(os.PRIO_PROCESS, 0)
    if base + max(nices) > 19 or base + min(nices) < base:
        raise ValidateError(f"this process runs at nice {base}; run validate at nice 0")
    pids: list[int] = []
    r, w = os.pipe()
    deadline = time.monotonic() + seconds + SETTLE_S + 30
    try:
        for nice in nices:
            pid = os.fork()
            if pid == 0:  # pragma: no cover - child
                os.close(r)
                _busy_child(cpu, base + nice, w, deadline)
            pids.append(pid)
        os.close(w)
        w = -1
        got = b""
        while len(got) < len(nices):
            chunk = os.read(r, 16)
            if not chunk:
                raise ValidateError("a child failed to pin itself or to set its nice value")
            got += chunk
        time.sleep(SETTLE_S)
        before = [read_schedstat(p) for p in pids]
        time.sleep(seconds)
        after = [read_schedstat(p) for p in pids]
    finally:
        for p in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(p, signal.SIGKILL)
        for p in pids:
            with contextlib.suppress(ChildProcessError):
                os.waitpid(p, 0)
        os.close(r)
        if w >= 0:
            os.close(w)
    return [(a[0] - b[0], a[1] - b[1], a[2] - b[2]) for a, b in zip(after, before, strict=True)]


def predict(
    nices: Sequence[int],
    seconds: float,
    policy: str,
    *,
    ncpus: int,
    slice_ns: int | None,
    hz: int,
) -> list[tuple[int, int, int]]:
    """Simulated (run ns, wait ns, timeslices) of endless tasks on one core over the same
    window [SETTLE_S, SETTLE_S + seconds]: the difference of two deterministic runs."""
    settle = int(SETTLE_S * 1e9)
    window = int(seconds * 1e9)
    specs = [TaskSpec([_INF], nice=n) for n in nices]

    def run(duration: int) -> list[tuple[int, int, int]]:
        res = simulate(
            specs,
            1,
            policy,
            duration_ns=duration,
            scale_cpus=ncpus,
            slice_ns=slice_ns if policy == "eevdf" else None,
            hz=hz,
        )
        return [(t.cpu_ns, t.wait_ns, t.timeslices) for t in res.tasks]

    a, b = run(settle), run(settle + window)
    return [(y[0] - x[0], y[1] - x[1], y[2] - x[2]) for x, y in zip(a, b, strict=True)]


def _pct(pred: float, meas: float) -> float | None:
    return None if meas == 0 else (pred - meas) / meas * 100.0


@dataclass
class Row:
    scenario: str
    nice: int
    weight: int
    measured_share: float
    measured_slices: int
    measured_wait_ms: float
    predicted: dict[str, dict[str, float | None]] = field(default_factory=dict)


@dataclass
class ValidationReport:
    seconds: float
    cpu: int
    tolerance: float
    kernel: str
    kernel_policy: str
    hz: int
    slice_ns: int | None
    ncpus: int
    policies: list[str]
    rows: list[Row]

    @property
    def worst_error(self) -> float:
        errs = [abs(p["share_err_pts"] or 0.0) for r in self.rows for p in r.predicted.values()]
        return max(errs, default=0.0)

    @property
    def ok(self) -> bool:
        return self.worst_error <= self.tolerance

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["ok"] = self.ok
        d["worst_share_err_pts"] = self.worst_error
        return d


def run_validation(
    seconds: float = 3.0,
    tolerance: float = 1.0,
    *,
    cpu: int | None = None,
    policies: Sequence[str] = ("cfs", "eevdf"),
    scenarios: dict[str, tuple[int, ...]] | None = None,
    progress: Callable[[str], None] | None = None,
) -> ValidationReport:
    """Measure every scenario and compare it with the simulated policies.

    Raises ValidateError when the machine cannot run it (see ``unsupported_reason``).
    """
    reason = unsupported_reason()
    if reason:
        raise ValidateError(reason)
    if seconds <= 0:
        raise ValueError("seconds must be > 0")
    allowed = sorted(os.sched_getaffinity(0))
    if cpu is None:
        cpu = allowed[-1]
    elif cpu not in allowed:
        raise ValueError(f"cpu {cpu} is not in this process's affinity {allowed}")
    ncpus = os.cpu_count() or len(allowed)
    hz = kernel_hz()
    slice_ns = kernel_slice_ns()
    rows: list[Row] = []
    for name, nices in (scenarios or SCENARIOS).items():
        if progress:
            progress(f"{name}: {len(nices)} busy children on cpu {cpu} for {seconds:g} s")
        meas = measure(nices, cpu, seconds)
        total = sum(m[0] for m in meas) or 1
        preds = {
            pol: predict(nices, seconds, pol, ncpus=ncpus, slice_ns=slice_ns, hz=hz)
            for pol in policies
        }
        for i, nice in enumerate(nices):
            share = meas[i][0] / total * 100.0
            row = Row(name, nice, nice_to_weight(nice), share, meas[i][2], meas[i][1] / 1e6)
            for pol, pr in preds.items():
                ptotal = sum(p[0] for p in pr) or 1
                pshare = pr[i][0] / ptotal * 100.0
                row.predicted[pol] = {
                    "share": pshare,
                    "share_err_pts": pshare - share,
                    "slices": pr[i][2],
                    "slices_err_pct": _pct(pr[i][2], meas[i][2]),
                    "wait_ms": pr[i][1] / 1e6,
                    "wait_err_pct": _pct(pr[i][1], meas[i][1]),
                }
            rows.append(row)
    return ValidationReport(
        seconds=seconds,
        cpu=cpu,
        tolerance=tolerance,
        kernel=os.uname().release,
        kernel_policy=kernel_policy(),
        hz=hz,
        slice_ns=slice_ns,
        ncpus=ncpus,
        policies=list(policies),
        rows=rows,
    )
