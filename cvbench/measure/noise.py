"""What makes timings noisy on this machine, read from /proc and /sys, with what to do.

Every probe returns a ``Check`` (status ok / warn / info, a value, one line of message and
advice) and never raises: a file that cannot be read becomes "unknown (why)". The probes feed
`cvbench doctor` and the run's JSON, where ``warnings`` turns the warn lines into the
warnings a run prints.

Two kinds of probe: instantaneous ones (quota, governor, SMT, HZ, ...) and those measured over
a window (steal time from two reads of /proc/stat, CPU taken by other processes). A
``NoiseWindow`` spans a window: ``collect_noise(1.0)`` spans one second of sleep; a run can
start one before its first repetition and finish it after its last.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

import psutil

from cvbench.measure.kernel_config import kernel_hz

Status = Literal["ok", "warn", "info"]

STEAL_WARN_PCT = 2.0  # of all CPU time: the hypervisor ran someone else on "our" CPU
LOAD_WARN_PER_CPU = 0.5  # 1-minute load average per allowed CPU
OTHERS_WARN_PCT = 10.0  # CPU of other processes during the window, % of one CPU
PRESSURE_WARN_PCT = 5.0  # PSI cpu "some" avg10: share of time a task waited for a CPU
TOP_PROCESSES = 3
SYS_CPU = Path("/sys/devices/system/cpu")


@dataclass(frozen=True)
class Check:
    """One line of the doctor: what was read, what it means and what to do about it."""

    status: Status
    value: Any  # the reading (a number, a list, a string); None when unknown
    message: str
    advice: str = ""

    def line(self, label: str) -> str:
        advice = f" → {self.advice}" if self.advice else ""
        return f"{self.status:<4}  {label:<15} {self.message}{advice}"


def _unknown(why: str) -> Check:
    return Check("info", None, f"unknown ({why})")


def _read(path: str | Path) -> tuple[str | None, str]:
    """(text, "") or (None, why it could not be read)."""
    try:
        return Path(path).read_text().strip(), ""
    except FileNotFoundError:
        return None, f"no {path}"
    except OSError as exc:
        return None, f"{path}: {exc.strerror or exc}"


def _cpu_list(text: str) -> list[int]:
    """The kernel's CPU list format: '0-3,8' -> [0, 1, 2, 3, 8]; '' -> []."""
    cpus: list[int] = []
    for part in text.strip().split(","):
        if part:
            lo, _, hi = part.partition("-")
            cpus += range(int(lo), int(hi or lo) + 1)
    return cpus


def _fmt_cpus(cpus: list[int]) -> str:
    """[0, 1, 2, 5] -> '0-2,5'."""
    runs: list[list[int]] = []
    for c in sorted(cpus):
        if runs and c == runs[-1][-1] + 1:
            runs[-1].append(c)
        else:
            runs.append([c])
    return ",".join(f"{r[0]}-{r[-1]}" if len(r) > 1 else str(r[0]) for r in runs)


def _allowed() -> list[int]:
    return sorted(os.sched_getaffinity(0))


# --- probes over a window --------------------------------------------------------------------


def cpu_ticks(stat_text: str) -> list[int]:
    """The aggregate ``cpu`` line of /proc/stat: user nice system idle iowait irq softirq
    steal [guest guest_nice], in USER_HZ ticks."""
    for line in stat_text.splitlines():
        if line.startswith("cpu "):
            return [int(x) for x in line.split()[1:]]
    raise ValueError("no aggregate 'cpu' line in /proc/stat")


def steal_percent(before: str, after: str) -> float | None:
    """Steal as a percentage of all CPU time between two /proc/stat texts; None if no tick
    passed. guest and guest_nice are already counted in user and nice, so the total is the
    first eight fields."""
    a, b = cpu_ticks(before), cpu_ticks(after)
    delta = [y - x for x, y in zip(a[:8], b[:8], strict=False)]
    total = sum(delta)
    if total <= 0 or len(delta) < 8:
        return None
    return 100.0 * delta[7] / total


def _process_name(info: dict[str, Any]) -> str:
    """'python -m pytest' beats 'python': the program and what it runs."""
    argv = [a for a in (info.get("cmdline") or []) if a]
    if not argv:
        return str(info.get("name") or "?")
    words = [os.path.basename(argv[0])]
    if words[0].startswith("python"):
        for i, a in enumerate(argv[1:4], start=1):
            if a in ("-m", "-c"):
                words += [a, *argv[i + 1 : i + 2]] if a == "-m" else [a]
                break
            if not a.startswith("-"):
                words.append(os.path.basename(a))
                break
    name = " ".join(words)
    return name if len(name) <= 32 else name[:31] + "…"


class NoiseWindow:
    """Steal time and other processes' CPU between ``__init__`` and ``finish()``."""

    def __init__(self) -> None:
        self.started_s = time.monotonic()
        self.stat, self.stat_why = _read("/proc/stat")
        self.procs: dict[int, psutil.Process] = {}
        for p in psutil.process_iter(["name", "cmdline"]):
            try:
                p.cpu_percent(None)  # primes psutil's per-process counter
                self.procs[p.pid] = p
            except (psutil.Error, OSError):
                continue

    def checks(self) -> dict[str, Check]:
        """The window's checks so far: ``steal`` and ``busy_processes``."""
        window_s = time.monotonic() - self.started_s
        return {
            "steal": _safe("steal", lambda: self._steal(window_s)),
            "busy_processes": _safe("busy processes", lambda: self._busy(window_s)),
        }

    def finish(self) -> dict[str, Any]:
        """JSON-ready {"window_s", "checks"} of the window; ``warnings`` reads it."""
        window_s = time.monotonic() - self.started_s
        return {"window_s": round(window_s, 3), "checks": _as_json(self.checks())}

    def _steal(self, window_s: float) -> Check:
        after, why = _read("/proc/stat")
        if self.stat is None or after is None:
            return _unknown(self.stat_why or why)
        try:
            pct = steal_percent(self.stat, after)
        except ValueError as exc:
            return _unknown(str(exc))
        if pct is None:
            return _unknown(f"no CPU tick passed in {window_s:.2f} s")
        msg = f"{pct:.1f} % of CPU time stolen by the hypervisor over {window_s:.1f} s"
        if pct >= STEAL_WARN_PCT:
            return Check(
                "warn", round(pct, 2), msg, "other guests share this host's CPUs: repeat runs "
                "at a quieter time, or use a dedicated/bare-metal runner",
            )  # fmt: skip
        return Check("ok", round(pct, 2), msg)

    def _busy(self, window_s: float) -> Check:
        me = psutil.Process()
        try:
            mine = {me.pid, *(c.pid for c in me.children(recursive=True))}
        except psutil.Error:
            mine = {me.pid}
        usage: list[tuple[float, int, str]] = []
        for pid, p in self.procs.items():
            if pid in mine:
                continue
            try:
                usage.append((p.cpu_percent(None), pid, _process_name(p.info)))
            except (psutil.Error, OSError):
                continue  # exited during the window
        usage.sort(reverse=True)
        others = sum(u for u, _, _ in usage)
        top = [
            {"pid": pid, "name": name, "cpu_pct": round(u, 1)}
            for u, pid, name in usage[:TOP_PROCESSES]
            if u > 0
        ]
        shown = ", ".join(f"{t['name']} ({t['pid']}) {t['cpu_pct']:.0f} %" for t in top)
        msg = f"other processes used {others:.0f} % of one CPU over {window_s:.1f} s" + (
            f"; busiest: {shown}" if top else ""
        )
        value = {"others_cpu_pct": round(others, 1), "top": top}
        if others >= OTHERS_WARN_PCT:
            return Check("warn", value, msg, "stop them or wait: they compete for the CPUs")
        return Check("ok", value, msg)


# --- instantaneous probes --------------------------------------------------------------------


def check_load() -> Check:
    """1-minute load average against the CPUs this process may use."""
    try:
        load1, load5, _ = os.getloadavg()
    except OSError as exc:
        return _unknown(f"getloadavg: {exc}")
    cpus = len(_allowed())
    msg = f"load average {load1:.2f} (1 min), {load5:.2f} (5 min) on {cpus} allowed CPU(s)"
    value = {"load1": round(load1, 2), "load5": round(load5, 2), "cpus": cpus}
    if load1 > LOAD_WARN_PER_CPU * cpus:
        return Check("warn", value, msg, "the machine is busy: results will be slower and noisier")
    return Check("ok", value, msg)


def check_pressure() -> Check:
    """PSI: how often a runnable task waited for a CPU (the noise a benchmark feels)."""
    text, why = _read("/proc/pressure/cpu")
    if text is None:
        return _unknown(f"{why}; kernel without PSI")
    fields = dict(kv.split("=") for kv in text.splitlines()[0].split()[1:])
    avg10 = float(fields["avg10"])
    msg = f"tasks waited for a CPU {avg10:.1f} % of the last 10 s (PSI some avg10)"
    if avg10 >= PRESSURE_WARN_PCT:
        return Check("warn", avg10, msg, "CPUs are contended: fewer workers or a quieter moment")
    return Check("ok", avg10, msg)


def _cgroup_paths() -> dict[str, str]:
    """controller -> path from /proc/self/cgroup ('' for the v2 unified hierarchy)."""
    text, _ = _read("/proc/self/cgroup")
    out: dict[str, str] = {}
    for line in (text or "").splitlines():
        _, controllers, path = line.split(":", 2)
        for c in controllers.split(",") if controllers else [""]:
            out[c] = path
    return out


def _walk_up(mount: Path, rel: str) -> list[Path]:
    """The cgroup's directory and its ancestors up to the mount (namespaces may hide some)."""
    d = mount / rel.lstrip("/")
    dirs = [d, *d.parents]
    return [p for p in dirs if p.is_relative_to(mount) and p.is_dir()]


def _quota_cpus() -> tuple[float | None, str, str]:
    """(tightest quota in CPUs or None, where it was read, why unknown)."""
    paths = _cgroup_paths()
    quotas: list[tuple[float, str]] = []
    seen = False
    root = Path("/sys/fs/cgroup")
    if (root / "cgroup.controllers").exists():  # v2
        for d in _walk_up(root, paths.get("", "/")):
            text, _ = _read(d / "cpu.max")
            if text is None:
                continue
            seen = True
            quota, _, period = text.partition(" ")
            if quota != "max":
                quotas.append((int(quota) / int(period or 100000), str(d / "cpu.max")))
    else:  # v1
        for name in ("cpu,cpuacct", "cpu", "cpuacct,cpu"):
            mount = root / name
            if not mount.is_dir():
                continue
            for d in _walk_up(mount, paths.get("cpu", "/")):
                q, _ = _read(d / "cpu.cfs_quota_us")
                p, _ = _read(d / "cpu.cfs_period_us")
                if q is None or p is None:
                    continue
                seen = True
                if int(q) > 0:
                    quotas.append((int(q) / int(p), str(d / "cpu.cfs_quota_us")))
            break
    if not seen:
        return None, "", "no cpu.max (v2) or cpu.cfs_quota_us (v1) readable"
    if not quotas:
        return float("inf"), "", ""
    best = min(quotas)
    return best[0], best[1], ""


def check_quota() -> Check:
    """cgroup CPU bandwidth limit: work beyond it is throttled in 100 ms periods."""
    try:
        quota, where, why = _quota_cpus()
    except (OSError, ValueError) as exc:
        return _unknown(f"cgroup files unreadable: {exc}")
    if quota is None:
        return _unknown(why)
    cpus = len(_allowed())
    if quota == float("inf"):
        return Check("ok", None, "no cgroup CPU quota")
    msg = f"cgroup quota {quota:g} CPU(s) ({where}) for {cpus} allowed CPU(s)"
    if quota < cpus:
        return Check(
            "warn", quota, msg, f"more than {quota:g} busy workers get throttled: run at most "
            f"{max(1, int(quota))} worker(s) or raise the quota",
        )  # fmt: skip
    return Check("ok", quota, msg)


def check_governor() -> Check:
    """Frequency scaling: anything but 'performance' changes the clock under the benchmark."""
    found: dict[str, list[int]] = {}
    for cpu in _allowed():
        text, _ = _read(SYS_CPU / f"cpu{cpu}/cpufreq/scaling_governor")
        if text is not None:
            found.setdefault(text, []).append(cpu)
    if not found:
        return _unknown("no cpufreq/scaling_governor: a VM, or no frequency driver")
    msg = "governor " + ", ".join(f"{g} (CPUs {_fmt_cpus(c)})" for g, c in found.items())
    if set(found) == {"performance"}:
        return Check("ok", sorted(found), msg)
    return Check("warn", sorted(found), msg, "cpupower frequency-set -g performance (root)")


def check_turbo() -> Check:
    """Turbo/boost makes the clock depend on temperature and on how many cores are busy."""
    no_turbo, _ = _read(SYS_CPU / "intel_pstate/no_turbo")
    if no_turbo is not None:
        if no_turbo == "1":
            return Check("ok", False, "turbo off (intel_pstate/no_turbo = 1)")
        return Check(
            "warn", True, "turbo on (intel_pstate/no_turbo = 0)",
            "echo 1 | sudo tee /sys/devices/system/cpu/intel_pstate/no_turbo",
        )  # fmt: skip
    boost, _ = _read(SYS_CPU / "cpufreq/boost")
    if boost is not None:
        if boost == "0":
            return Check("ok", False, "boost off (cpufreq/boost = 0)")
        return Check(
            "warn", True, "boost on (cpufreq/boost = 1)",
            "echo 0 | sudo tee /sys/devices/system/cpu/cpufreq/boost",
        )  # fmt: skip
    return _unknown("no intel_pstate/no_turbo or cpufreq/boost: a VM, or not exposed")


def check_smt() -> Check:
    """SMT siblings share one core: two workers there do not get two cores' worth."""
    allowed = set(_allowed())
    pairs: set[tuple[int, ...]] = set()
    for cpu in sorted(allowed):
        text, why = _read(SYS_CPU / f"cpu{cpu}/topology/thread_siblings_list")
        if text is None:
            return _unknown(why)
        group = tuple(c for c in _cpu_list(text) if c in allowed)
        if len(group) > 1:
            pairs.add(group)
    active, _ = _read(SYS_CPU / "smt/active")
    if pairs:
        shown = "; ".join(_fmt_cpus(list(p)) for p in sorted(pairs))
        return Check(
            "warn", [list(p) for p in sorted(pairs)], f"allowed CPUs share cores (SMT): {shown}",
            "use one CPU per core (--cpus) when you compare scaling",
        )  # fmt: skip
    smt = {"0": ", SMT off", "1": ", SMT on elsewhere"}.get(active or "", "")
    return Check("ok", [], f"no SMT siblings among allowed CPUs {_fmt_cpus(list(allowed))}{smt}")


def check_hz() -> Check:
    hz = kernel_hz()
    if hz is None:
        return _unknown("no /proc/config.gz or /boot/config-<release>")
    return Check(
        "info", hz, f"CONFIG_HZ={hz}: the scheduler notices slice expiry every {1000 / hz:g} ms"
    )


def check_autogroup() -> Check:
    text, why = _read("/proc/sys/kernel/sched_autogroup_enabled")
    if text is None:
        return _unknown(f"{why}; kernel without CONFIG_SCHED_AUTOGROUP")
    if text == "1":
        return Check(
            "info", True, "autogroup on: CPU is shared per session first, nice only within one",
            "cvbench forks its workers from one parent, so --nice still works",
        )  # fmt: skip
    return Check("ok", False, "autogroup off: nice values compete machine-wide")


def check_isolated() -> Check:
    text, why = _read(SYS_CPU / "isolated")
    if text is None:
        return _unknown(why)
    isolated = _cpu_list(text)
    if not isolated:
        return Check(
            "info", [], "no isolated CPUs: the benchmark shares every CPU with the system",
            "isolcpus=/nohz_full= or a cpuset shield give a quiet CPU to pin with --cpus",
        )  # fmt: skip
    used = sorted(set(isolated) & set(_allowed()))
    hint = f"; pin with --cpus {_fmt_cpus(used)}" if used else "; none of them is allowed here"
    return Check("ok", isolated, f"isolated CPUs {_fmt_cpus(isolated)}{hint}")


def check_allowed() -> Check:
    allowed = _allowed()
    total = os.cpu_count() or len(allowed)
    msg = f"CPUs {_fmt_cpus(allowed)} ({len(allowed)} of {total})"
    if len(allowed) < total:
        return Check("info", allowed, msg + ": affinity (taskset/cpuset) limits this process")
    return Check("ok", allowed, msg)


# --- the whole picture -----------------------------------------------------------------------

#: check key -> label the doctor prints, in print order.
LABELS: dict[str, str] = {
    "steal": "steal",
    "load": "load",
    "busy_processes": "busy processes",
    "cpu_pressure": "CPU pressure",
    "cgroup_quota": "cgroup quota",
    "governor": "governor",
    "turbo": "turbo/boost",
    "smt": "SMT siblings",
    "hz": "HZ",
    "autogroup": "autogroup",
    "isolated_cpus": "isolated CPUs",
    "allowed_cpus": "allowed CPUs",
}
_INSTANT = {
    "load": check_load,
    "cpu_pressure": check_pressure,
    "cgroup_quota": check_quota,
    "governor": check_governor,
    "turbo": check_turbo,
    "smt": check_smt,
    "hz": check_hz,
    "autogroup": check_autogroup,
    "isolated_cpus": check_isolated,
    "allowed_cpus": check_allowed,
}


def _safe(name: str, probe: Callable[[], Check]) -> Check:
    """A probe that fails in a way nobody foresaw still gives a line, never a crash."""
    try:
        return probe()
    except Exception as exc:  # noqa: BLE001 - the doctor must always answer
        return _unknown(f"{name} probe failed: {type(exc).__name__}: {exc}")


def collect_noise(sample_s: float = 1.0) -> dict[str, Any]:
    """Every check as JSON-ready dicts: {"sample_s", "checks": {key: {status, value, message,
    advice}}}. Sleeps ``sample_s`` to measure steal and other processes' CPU."""
    window = NoiseWindow()
    time.sleep(max(0.0, sample_s))
    checks = {**window.checks(), **{k: _safe(k, f) for k, f in _INSTANT.items()}}
    return {"sample_s": sample_s, "checks": _as_json(checks)}


def _as_json(checks: dict[str, Check]) -> dict[str, dict[str, Any]]:
    return {k: asdict(checks[k]) for k in LABELS if k in checks}


def warnings(noise: dict[str, Any]) -> list[str]:
    """One line per warn check: what a run prints (and keeps in its JSON)."""
    out = []
    for key, check in (noise.get("checks") or {}).items():
        if check.get("status") == "warn":
            advice = f" ({check['advice']})" if check.get("advice") else ""
            out.append(f"{LABELS.get(key, key)}: {check['message']}{advice}")
    return out
