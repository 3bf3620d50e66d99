"""Parse workload definitions: the built-in TOML files or a user's copy of one."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

BUILTIN_NAMES = ("threshold", "threshold-io", "faces", "frames")
OPS = ("threshold", "threshold-io", "faces")
SOURCES = ("tiles", "tile-files", "frames", "stream")
PRESETS = ("default", "quick", "ch8")


class WorkloadError(ValueError):
    """A workload name or definition that cannot be used; the message names the problem."""


@dataclass(frozen=True)
class WorkloadSpec:
    name: str
    op: str  # the OpenCV function each item runs (see cvbench/work/ops.py)
    source: str
    description: str
    params: dict[str, Any] = field(default_factory=dict)
    sizes: dict[str, dict[str, Any]] = field(default_factory=dict)

    def size(self, preset: str) -> dict[str, Any]:
        if preset not in self.sizes:
            raise WorkloadError(f"workload {self.name!r} has no [sizes.{preset}] table")
        return dict(self.sizes[preset])


def _parse(text: str, origin: str) -> WorkloadSpec:
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise WorkloadError(f"{origin}: not valid TOML ({exc})") from None
    # Round one called the op "kernel" and its parameters "kernel_params": still accepted.
    op_key = "kernel" if "kernel" in raw else "op"  # name errors as the user spelled them
    for old, new in (("kernel", "op"), ("kernel_params", "params")):
        if old in raw and new in raw:
            raise WorkloadError(f"{origin}: give {new!r} or its old name {old!r}, not both")
        if old in raw:
            raw[new] = raw.pop(old)
    missing = [k for k in ("name", "op", "source", "sizes") if k not in raw]
    if missing:
        raise WorkloadError(f"{origin}: missing key(s) {', '.join(missing)}")
    if raw["op"] not in OPS:
        raise WorkloadError(f"{origin}: {op_key} must be one of {', '.join(OPS)}")
    if raw["source"] not in SOURCES:
        raise WorkloadError(f"{origin}: source must be one of {', '.join(SOURCES)}")
    if "default" not in raw["sizes"]:
        raise WorkloadError(f"{origin}: needs a [sizes.default] table")
    return WorkloadSpec(
        name=str(raw["name"]),
        op=raw["op"],
        source=raw["source"],
        description=str(raw.get("description", "")),
        params=dict(raw.get("params", {})),
        sizes={k: dict(v) for k, v in raw["sizes"].items()},
    )


def load_spec(name_or_path: str) -> WorkloadSpec:
    """A built-in name, or the path of a .toml definition the user wrote."""
    if name_or_path in BUILTIN_NAMES:
        res = resources.files("cvbench.workloads.builtin").joinpath(f"{name_or_path}.toml")
        return _parse(res.read_text(), f"built-in workload {name_or_path}")
    path = Path(name_or_path)
    if path.suffix == ".toml":
        if not path.is_file():
            raise WorkloadError(f"workload file {path} does not exist")
        return _parse(path.read_text(), str(path))
    raise WorkloadError(
        f"unknown workload {name_or_path!r}: choose from {', '.join(BUILTIN_NAMES)}, all, "
        "or give a .toml file"
    )


def resolve_workloads(text: str) -> list[WorkloadSpec]:
    """`threshold,faces`, `all`, or paths; validated before any work starts."""
    names = [n.strip() for n in text.split(",") if n.strip()]
    if not names:
        raise WorkloadError("no workload given")
    if "all" in names:
        names = list(BUILTIN_NAMES)
    return [load_spec(n) for n in dict.fromkeys(names)]
