"""Where a run's files go, decided before any work: absolute paths (an op that changes the
working directory cannot move them), folders that exist and are writable, no two outputs on
one file, and never a file that is not ours — an input of the same run (the op's module, a
workload TOML, an image) always refused, another existing non-cvbench file unless ``force``.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import os
from dataclasses import dataclass
from pathlib import Path

from cvbench.config.options import RunOptions
from cvbench.config.run_config import ConfigError
from cvbench.results.schema import ALL_COLUMNS, SCHEMA_VERSION
from cvbench.results.write import csv_text

SNIFF_BYTES = 4096
# what the first bytes of a file we wrote contain (CSV header, JSON document, gab list,
# Markdown summary, trace): anything else existing is the user's and is not replaced
OUR_MARKS = (",".join(ALL_COLUMNS[:3]), '"schema_version"', "## cvbench", '"unit"', "cvbench")


@dataclass(frozen=True)
class OutputPaths:
    csv: Path | None
    json: Path | None
    markdown: Path | None = None
    gab: Path | None = None
    trace: Path | None = None
    plots: Path | None = None
    html: Path | None = None


def check_writable(option: str, path: str | Path | None) -> None:
    """Results must have somewhere to go before the first measurement is made."""
    if path is None:
        return
    parent = Path(path).parent
    try:
        parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(
            f"{option}: cannot create the folder {parent} ({exc.strerror or exc})"
        ) from None
    if not os.access(parent, os.W_OK):
        raise ConfigError(f"{option}: the folder {parent} is not writable")


def is_ours(path: Path) -> bool:
    """An empty file, or one whose first bytes carry a mark of a cvbench output."""
    try:
        with path.open("rb") as fh:
            head = fh.read(SNIFF_BYTES).decode("utf-8", "replace")
    except OSError:
        return False
    return not head.strip() or any(mark in head for mark in OUR_MARKS)


def check_not_theirs(option: str, path: Path, sources: list[Path], force: bool) -> None:
    """Refuse to replace an input of this run, or (without force) a file we did not write."""
    real = Path(os.path.realpath(path))
    link = f" (through the symlink {path})" if path.is_symlink() else ""
    for source in sources:
        src = Path(os.path.realpath(source))
        if real == src:
            raise ConfigError(
                f"{option} {path}: is an input of this command{link}; choose another file"
            )
    if real.exists() and real.is_file() and not force and not is_ours(real):
        raise ConfigError(
            f"{option} {path}: exists and is not a cvbench result{link}; "
            "choose another file or pass --force to replace it"
        )


def reserve_result_names(out: Path, stamp: str) -> tuple[Path, Path]:
    """OUT/<stamp>.csv and .json, created exclusively so that two runs started in the same
    second into the same folder never share a name (the second gets <stamp>-2, ...)."""
    for n in range(1, 1000):
        stem = stamp if n == 1 else f"{stamp}-{n}"
        csv_path, json_path = out / f"{stem}.csv", out / f"{stem}.json"
        try:
            with open(csv_path, "x") as fh:
                fh.write(csv_text([]))  # a valid (empty) results file from the start
        except FileExistsError:
            continue
        except OSError as exc:
            raise ConfigError(
                f"--out {out}: cannot create {csv_path.name} ({exc.strerror or exc})"
            ) from None
        try:
            with open(json_path, "x") as fh:
                started = {"schema_version": SCHEMA_VERSION, "rows": [], "started": True}
                fh.write(json.dumps(started))
        except FileExistsError:
            csv_path.unlink(missing_ok=True)
            continue
        return csv_path, json_path
    raise ConfigError(f"--out {out}: no free result name for {stamp}")


def _absolute(value: str | None) -> Path | None:
    return Path(os.path.abspath(value)) if value else None


def plan_outputs(opts: RunOptions, sources: list[Path]) -> OutputPaths:
    """Every output path of a run, checked, absolute. The JSON goes
    beside a given CSV (and the CSV beside a given JSON); with neither, both are reserved in
    the --out folder under a timestamp."""
    csv_path = _absolute(opts.csv)
    json_path = _absolute(opts.json)
    if csv_path and not json_path and not csv_path.is_char_device():
        json_path = csv_path.with_suffix(".json")
    if json_path and not csv_path and not json_path.is_char_device():
        csv_path = json_path.with_suffix(".csv")
    plots = _absolute(opts.plots)
    planned = OutputPaths(
        csv=csv_path,
        json=json_path,
        markdown=_absolute(opts.markdown),
        gab=_absolute(opts.gab),
        trace=_absolute(opts.trace),
        plots=plots,
        html=_absolute(opts.html),
    )
    out = Path(os.path.abspath(opts.out))
    named = {
        "--csv": planned.csv,
        "--json": planned.json,
        "--markdown": planned.markdown,
        "--gab": planned.gab,
        "--trace": planned.trace,
        "--html": planned.html,
    }
    for option, path in [*named.items(), ("--plots", plots / "x.png" if plots else None)]:
        check_writable(option, path)
    if planned.csv is None:
        check_writable("--out", out / "x.csv")
    seen: dict[str, str] = {}
    for option, path in named.items():
        if path is None or path.is_char_device():
            continue
        check_not_theirs(option, path, sources, opts.force)
        real = os.path.realpath(path)
        if real in seen:
            raise ConfigError(
                f"{option} and {seen[real]} name the same file {real}: "
                "one would overwrite the other"
            )
        seen[real] = option
    if planned.csv is None:
        stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
        csv_default, json_default = reserve_result_names(out, stamp)
        planned = dataclasses.replace(planned, csv=csv_default, json=json_default)
    return planned
