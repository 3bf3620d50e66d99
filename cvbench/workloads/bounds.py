"""How much a workload's data takes, computed from its sizes before any of it is made.

Each count in a workload TOML is bounded on its own (spec.SIZE_BOUNDS), but their product is
what fills memory: ``frames = 100000, size = 8192`` asks for ~20 TB. So the total is bounded
too, in the spirit of the --input ceilings (work/inputs.py): what a generated workload keeps
in memory at most GENERATED_CEILING; the tile files threshold-io writes, with the results its
items write beside them, at most TILE_FILES_CEILING on disk (``--grid 1000x1000`` on a
20000x20000 image once wrote 7.7 GB of tiny files) and never more than the temp folder's
free space; and the items of a run (tiles, frames) at most MAX_ITEMS.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterable
from typing import Any

GiB = 1 << 30
# Items one run keeps records of: each costs ~250 bytes per repetition in the results (item
# timestamps) and a tile item its own array or file, so 200,000 (a video of 1 h 50 min at 30
# fps, 500 images cut 20x20) stay within the memory ceiling for a few repetitions of a few
# models; more is refused with one line.
MAX_ITEMS = 200_000
GENERATED_CEILING = 2 * GiB  # decoded bytes a generated workload keeps in memory
TILE_FILES_CEILING = 4 * GiB  # bytes of the tile files threshold-io writes before a run
BLOCK = 4096  # a file takes at least one file-system block
PNG_OVERHEAD = 1024  # header, chunks and filter bytes of one PNG, generously

# The sizes each kind of source reads (a table without them cannot be generated)
NEEDS = {
    "tiles": ("width", "height", "seed"),
    "tile-files": ("width", "height", "seed"),
    "frames": ("frames", "size", "seed"),
    "stream": ("frames", "size", "seed"),
}


def shown_bytes(n: float) -> str:
    return f"{n / GiB:,.1f} GiB" if n >= GiB / 10 else f"{n / (1 << 20):,.1f} MiB"


def generated_bytes(source: str, table: dict[str, Any]) -> int:
    """Decoded bytes a generated workload holds: the images and their tiles (a copy each), or
    the frames."""
    if source in ("tiles", "tile-files"):
        images = int(table.get("images", 1))
        return 2 * images * int(table["width"]) * int(table["height"]) * 3
    return int(table["frames"]) * int(table["size"]) ** 2 * 3


def generated_tiles(table: dict[str, Any]) -> tuple[int, tuple[int, int]]:
    """(number of tiles, tile height x width) of a generated tile workload."""
    grid = int(table.get("grid", 20))
    count = int(table.get("images", 1)) * grid * grid
    return count, (int(table["height"]) // grid, int(table["width"]) // grid)


def file_bytes(raw: int) -> int:
    """What one PNG of ``raw`` decoded bytes may take on disk (incompressible pixels: PNG
    stores them raw plus its overhead), rounded up to whole blocks."""
    return -(-(raw + PNG_OVERHEAD) // BLOCK) * BLOCK


def tile_files_bytes(tiles: Iterable[tuple[int, tuple[int, int]]]) -> int:
    """Disk bytes of tile files, from (count, (height, width)) groups of BGR tiles: each tile
    is written before the run, and each item writes its result beside it (counted the same)."""
    return 2 * sum(count * file_bytes(h * w * 3) for count, (h, w) in tiles)


def too_many_items(count: int, what: str) -> str | None:
    """Why ``count`` items cannot run (a line), or None."""
    if count <= MAX_ITEMS:
        return None
    return (
        f"{what} make {count:,} items, more than the {MAX_ITEMS:,} a run keeps records of; "
        "use a coarser grid or fewer inputs"
    )


def tile_files_problem(needed: int, what: str, temp_dir: str) -> str | None:
    """Why the tile files cannot be written (a line), or None if they fit."""
    if needed > TILE_FILES_CEILING:
        return (
            f"{what} take ~{shown_bytes(needed)} as PNG files, above the "
            f"{shown_bytes(TILE_FILES_CEILING)} ceiling for the tile files threshold-io "
            "writes before a run; use a coarser --grid, fewer or smaller inputs"
        )
    try:
        free = shutil.disk_usage(temp_dir).free
    except OSError:
        return None
    if needed > free:
        return (
            f"{what} take ~{shown_bytes(needed)} as PNG files, and the temp folder {temp_dir} "
            f"has {shown_bytes(free)} free (set TMPDIR elsewhere)"
        )
    return None
