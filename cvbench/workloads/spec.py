"""Parse workload definitions: the built-in TOML files or a user's copy of one."""

from __future__ import annotations

import dataclasses
import re
import tomllib
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from cvbench.config.values import parse_names
from cvbench.workloads import bounds

BUILTIN_NAMES = ("threshold", "threshold-io", "faces", "frames")
OPS = ("threshold", "threshold-io", "faces")
SOURCES = ("tiles", "tile-files", "frames", "stream")
PRESETS = ("default", "quick", "ch8")
NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+-]{0,63}")


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
    folder: str | None = None  # a user TOML's folder: its op's module is imported from there

    @property
    def slug(self) -> str:
        """The name made safe for file names (a user's name may hold '/' or spaces)."""
        return re.sub(r"[^A-Za-z0-9._-]+", "_", self.name).strip("._") or "workload"

    @property
    def user_op(self) -> bool:
        return ":" in self.op

    def size(self, preset: str) -> dict[str, Any]:
        if preset not in self.sizes:
            raise WorkloadError(f"workload {self.name!r} has no [sizes.{preset}] table")
        return dict(self.sizes[preset])


# What a size table may ask for: checked before anything is generated or allocated.
SIZE_BOUNDS: dict[str, tuple[float, float]] = {
    "width": (16, 40_000),
    "height": (16, 40_000),
    "images": (1, 4),
    "grid": (1, 1000),
    "frames": (1, 100_000),
    "size": (32, 8192),
    "seed": (0, 2**32 - 1),
    "fps": (0.1, 10_000),
}
MAX_PIXELS = 400_000_000  # per generated image: 1.2 GB of BGR


def _check_size(origin: str, preset: str, table: dict[str, Any], source: str) -> None:
    """Each size within its bounds, the ones the source reads present, and their product
    (the bytes the data will take) within the ceilings: all before anything is generated."""
    for key, value in table.items():
        bound = SIZE_BOUNDS.get(key)
        if bound is None:
            continue
        ok = isinstance(value, int | float) and not isinstance(value, bool)
        if not ok or not (bound[0] <= value <= bound[1]):
            raise WorkloadError(
                f"{origin}: sizes.{preset}.{key} = {value!r}: must be a number from "
                f"{bound[0]:g} to {bound[1]:g}"
            )
    if table.get("width", 0) * table.get("height", 0) > MAX_PIXELS:
        raise WorkloadError(f"{origin}: sizes.{preset}: width x height above {MAX_PIXELS:,} pixels")
    missing = [k for k in bounds.NEEDS[source] if k not in table]
    if missing:
        raise WorkloadError(
            f"{origin}: sizes.{preset} needs {', '.join(missing)} (source {source!r} reads them)"
        )
    needed = bounds.generated_bytes(source, table)
    if needed > bounds.GENERATED_CEILING:
        what = "images and their tiles" if source in ("tiles", "tile-files") else "frames"
        raise WorkloadError(
            f"{origin}: sizes.{preset}: its {what} take {bounds.shown_bytes(needed)} decoded, "
            f"above the {bounds.shown_bytes(bounds.GENERATED_CEILING)} memory ceiling for "
            "generated data; use smaller sizes"
        )
    if source in ("tiles", "tile-files"):
        tiles = bounds.generated_tiles(table)[0]
        many = bounds.too_many_items(tiles, f"images x grid x grid = {tiles:,} tiles")
        if many:
            raise WorkloadError(f"{origin}: sizes.{preset}: {many}")
    if source == "tile-files":
        on_disk = bounds.tile_files_bytes([bounds.generated_tiles(table)])
        if on_disk > bounds.TILE_FILES_CEILING:
            raise WorkloadError(
                f"{origin}: sizes.{preset}: its tiles take ~{bounds.shown_bytes(on_disk)} as "
                f"PNG files, above the {bounds.shown_bytes(bounds.TILE_FILES_CEILING)} ceiling "
                "for the tile files threshold-io writes; use a coarser grid or smaller sizes"
            )


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
    if not isinstance(raw["op"], str) or (raw["op"] not in OPS and ":" not in raw["op"]):
        raise WorkloadError(
            f"{origin}: {op_key} must be one of {', '.join(OPS)} or package.module:function"
        )
    if not isinstance(raw["name"], str) or not NAME.fullmatch(raw["name"]):
        raise WorkloadError(
            f"{origin}: name must be 1-64 letters, digits, '.', '_', '+' or '-' "
            "(it becomes a CSV cell and part of file names)"
        )
    if not isinstance(raw["sizes"], dict) or not all(
        isinstance(v, dict) for v in raw["sizes"].values()
    ):
        raise WorkloadError(f"{origin}: [sizes.*] must be tables")
    if not isinstance(raw["source"], str) or raw["source"] not in SOURCES:
        raise WorkloadError(f"{origin}: source must be one of {', '.join(SOURCES)}")
    for preset, table in raw["sizes"].items():
        _check_size(origin, preset, table, raw["source"])
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


def user_spec(op: str) -> WorkloadSpec:
    """`cvbench run --op package.module:function`: each image (or built-in frame) one item."""
    faces = load_spec("faces")
    name = re.sub(r"[^A-Za-z0-9._+-]+", "_", op.rpartition(":")[2])[:64] or "user"
    return WorkloadSpec(
        name=name,
        op=op,
        source="frames",
        description=f"your function {op} on each image",
        sizes=faces.sizes,
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
        try:
            text = path.read_bytes().decode("utf-8")
        except UnicodeDecodeError as exc:
            raise WorkloadError(f"{path}: not UTF-8 text (byte {exc.start})") from None
        except OSError as exc:
            raise WorkloadError(f"{path}: cannot read ({exc.strerror or exc})") from None
        return dataclasses.replace(_parse(text, str(path)), folder=str(path.resolve().parent))
    raise WorkloadError(
        f"unknown workload {name_or_path!r}: choose from {', '.join(BUILTIN_NAMES)}, all, "
        "or give a .toml file"
    )


def resolve_workloads(text: str) -> list[WorkloadSpec]:
    """`threshold,faces`, `all`, or paths; validated before any work starts."""
    return [load_spec(n) for n in parse_names(text, BUILTIN_NAMES, "workload", WorkloadError)]
