"""Environment metadata: what a result depends on besides the code (pyperf records the same)."""

from __future__ import annotations

import datetime as dt
import os
import platform
import sys
from importlib import metadata
from pathlib import Path
from typing import Any

import psutil

from cvbench import __version__
from cvbench.measure.kernel_config import kernel_hz


def _read(path: str) -> str | None:
    try:
        return Path(path).read_text().strip()
    except OSError:
        return None


def _version(dist: str) -> str | None:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def cpu_model() -> str:
    info = _read("/proc/cpuinfo") or ""
    for line in info.splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def collect(command: list[str] | None = None) -> dict[str, Any]:
    import cv2

    return {
        "python": platform.python_version(),
        "python_impl": platform.python_implementation(),
        "opencv": cv2.__version__,
        "numpy": _version("numpy"),
        "psutil": _version("psutil"),
        "trio": _version("trio"),
        "curio": _version("curio"),
        "greenlet": _version("greenlet"),
        "kernel": platform.release(),
        "cpu_model": cpu_model(),
        "host_cores": os.cpu_count(),
        "allowed_cpus": sorted(os.sched_getaffinity(0)),
        "governor": _read("/sys/devices/system/cpu/cpu0/cpufreq/scaling_governor"),
        "hz": kernel_hz(),
        "loadavg": list(os.getloadavg()),
        "autogroup": _read("/proc/self/autogroup"),
        "memory_gb": round(psutil.virtual_memory().total / 2**30, 1),
        "cvbench_version": __version__,
        "command": command if command is not None else sys.argv,
        "timestamp": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    }


def meta_columns(env: dict[str, Any], schema_version: int) -> dict[str, Any]:
    """The metadata repeated as trailing CSV columns."""
    return {
        "python": env["python"],
        "opencv": env["opencv"],
        "kernel": env["kernel"],
        "cpu_model": env["cpu_model"],
        "host_cores": env["host_cores"],
        "cvbench_version": env["cvbench_version"],
        "timestamp": env["timestamp"],
        "schema_version": schema_version,
    }
