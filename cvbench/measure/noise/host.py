"""Instantaneous noise probes of this host, read from /proc and /sys: load, CPU pressure,
cgroup quota, governor, turbo, SMT, HZ, autogroup, isolated and allowed CPUs."""

from __future__ import annotations

import os
from pathlib import Path

from cvbench.measure.kernel_config import kernel_hz
from cvbench.measure.noise.check import Check, allowed_cpus, cpu_list, fmt_cpus, read, unknown

LOAD_WARN_PER_CPU = 0.5  # 1-minute load average per allowed CPU
PRESSURE_WARN_PCT = 5.0  # PSI cpu "some" avg10: share of time a task waited for a CPU
SYS_CPU = Path("/sys/devices/system/cpu")


def check_load() -> Check:
    """1-minute load average against the CPUs this process may use."""
    try:
        load1, load5, _ = os.getloadavg()
    except OSError as exc:
        return unknown(f"getloadavg: {exc}")
    cpus = len(allowed_cpus())
    msg = f"load average {load1:.2f} (1 min), {load5:.2f} (5 min) on {cpus} allowed CPU(s)"
    value = {"load1": round(load1, 2), "load5": round(load5, 2), "cpus": cpus}
    if load1 > LOAD_WARN_PER_CPU * cpus:
        return Check("warn", value, msg, "the machine is busy: results will be slower and noisier")
    return Check("ok", value, msg)


def check_pressure() -> Check:
    """PSI: how often a runnable task waited for a CPU (the noise a benchmark feels)."""
    text, why = read("/proc/pressure/cpu")
    if text is None:
        return unknown(f"{why}; kernel without PSI")
    fields = dict(kv.split("=") for kv in text.splitlines()[0].split()[1:])
    avg10 = float(fields["avg10"])
    msg = f"tasks waited for a CPU {avg10:.1f} % of the last 10 s (PSI some avg10)"
    if avg10 >= PRESSURE_WARN_PCT:
        return Check("warn", avg10, msg, "CPUs are contended: fewer workers or a quieter moment")
    return Check("ok", avg10, msg)


def _cgroup_paths() -> dict[str, str]:
    """controller -> path from /proc/self/cgroup ('' for the v2 unified hierarchy)."""
    text, _ = read("/proc/self/cgroup")
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
            text, _ = read(d / "cpu.max")
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
                q, _ = read(d / "cpu.cfs_quota_us")
                p, _ = read(d / "cpu.cfs_period_us")
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
        return unknown(f"cgroup files unreadable: {exc}")
    if quota is None:
        return unknown(why)
    cpus = len(allowed_cpus())
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
    for cpu in allowed_cpus():
        text, _ = read(SYS_CPU / f"cpu{cpu}/cpufreq/scaling_governor")
        if text is not None:
            found.setdefault(text, []).append(cpu)
    if not found:
        return unknown("no cpufreq/scaling_governor: a VM, or no frequency driver")
    msg = "governor " + ", ".join(f"{g} (CPUs {fmt_cpus(c)})" for g, c in found.items())
    if set(found) == {"performance"}:
        return Check("ok", sorted(found), msg)
    return Check("warn", sorted(found), msg, "cpupower frequency-set -g performance (root)")


#: the two ways Linux exposes turbo/boost: (file under SYS_CPU, what it is called, the value
#: that means off, the value that means on); the first that exists decides
TURBO_KNOBS = (
    ("intel_pstate/no_turbo", "turbo", "1", "0"),
    ("cpufreq/boost", "boost", "0", "1"),
)


def check_turbo() -> Check:
    """Turbo/boost makes the clock depend on temperature and on how many cores are busy."""
    for knob, what, off, on in TURBO_KNOBS:
        value, _ = read(SYS_CPU / knob)
        if value is None:
            continue
        if value == off:
            return Check("ok", False, f"{what} off ({knob} = {off})")
        return Check(
            "warn", True, f"{what} on ({knob} = {on})", f"echo {off} | sudo tee {SYS_CPU / knob}"
        )
    return unknown("no intel_pstate/no_turbo or cpufreq/boost: a VM, or not exposed")


def check_smt() -> Check:
    """SMT siblings share one core: two workers there do not get two cores' worth."""
    allowed = set(allowed_cpus())
    pairs: set[tuple[int, ...]] = set()
    for cpu in sorted(allowed):
        text, why = read(SYS_CPU / f"cpu{cpu}/topology/thread_siblings_list")
        if text is None:
            return unknown(why)
        group = tuple(c for c in cpu_list(text) if c in allowed)
        if len(group) > 1:
            pairs.add(group)
    active, _ = read(SYS_CPU / "smt/active")
    if pairs:
        shown = "; ".join(fmt_cpus(list(p)) for p in sorted(pairs))
        return Check(
            "warn", [list(p) for p in sorted(pairs)], f"allowed CPUs share cores (SMT): {shown}",
            "use one CPU per core (--cpus) when you compare scaling",
        )  # fmt: skip
    smt = {"0": ", SMT off", "1": ", SMT on elsewhere"}.get(active or "", "")
    return Check("ok", [], f"no SMT siblings among allowed CPUs {fmt_cpus(list(allowed))}{smt}")


def check_hz() -> Check:
    hz = kernel_hz()
    if hz is None:
        return unknown("no /proc/config.gz or /boot/config-<release>")
    return Check(
        "info", hz, f"CONFIG_HZ={hz}: the scheduler notices slice expiry every {1000 / hz:g} ms"
    )


def check_autogroup() -> Check:
    text, why = read("/proc/sys/kernel/sched_autogroup_enabled")
    if text is None:
        return unknown(f"{why}; kernel without CONFIG_SCHED_AUTOGROUP")
    if text == "1":
        return Check(
            "info", True, "autogroup on: CPU is shared per session first, nice only within one",
            "cvbench forks its workers from one parent, so --nice still works",
        )  # fmt: skip
    return Check("ok", False, "autogroup off: nice values compete machine-wide")


def check_isolated() -> Check:
    text, why = read(SYS_CPU / "isolated")
    if text is None:
        return unknown(why)
    isolated = cpu_list(text)
    if not isolated:
        return Check(
            "info", [], "no isolated CPUs: the benchmark shares every CPU with the system",
            "isolcpus=/nohz_full= or a cpuset shield give a quiet CPU to pin with --cpus",
        )  # fmt: skip
    used = sorted(set(isolated) & set(allowed_cpus()))
    hint = f"; pin with --cpus {fmt_cpus(used)}" if used else "; none of them is allowed here"
    return Check("ok", isolated, f"isolated CPUs {fmt_cpus(isolated)}{hint}")


def check_allowed() -> Check:
    allowed = allowed_cpus()
    total = os.cpu_count() or len(allowed)
    msg = f"CPUs {fmt_cpus(allowed)} ({len(allowed)} of {total})"
    if len(allowed) < total:
        return Check("info", allowed, msg + ": affinity (taskset/cpuset) limits this process")
    return Check("ok", allowed, msg)


#: check key -> probe, for the checks that need no window
INSTANT = {
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
