"""`cvbench doctor`: what makes numbers noisy on this machine, one line each, and what to do.

It reads /proc and /sys only (cvbench.measure.noise), so it is quick and needs no cv2. Exit 0
whatever it finds: it advises; `run` and `compare` decide.
"""

from __future__ import annotations

import json

import click

from cvbench.commands.options import file_option, force_option
from cvbench.commands.output import BadInput, check_output, write_or_fail
from cvbench.commands.parsing import as_param, parse_duration
from cvbench.measure.noise import LABELS, Check, collect_noise, warnings
from cvbench.report.console import make_console

_STYLE = {"ok": "green", "warn": "bold yellow", "info": "cyan"}
MAX_SAMPLE_S = 60.0


@click.command("doctor", context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--sample",
    "sample",
    default="1s",
    show_default=True,
    metavar="DURATION",
    help="How long to spin a fixed loop while watching steal time and other processes "
    "(e.g. 500ms, 2s).",
)
@file_option("--json", "json_path", help="Also write the checks as JSON.")
@force_option()
def doctor_cmd(sample: str, json_path: str | None, force: bool) -> None:
    """Check what makes benchmark numbers noisy here: steal time, load and busy processes,
    whether the CPU runs the same work at the same speed, cgroup CPU quota, governor and
    turbo, SMT siblings, HZ, autogroup, isolated and allowed CPUs. One line each: ok, warn
    (with what to do) or info."""
    sample_s = as_param(parse_duration, sample, "--sample") / 1e9
    if not 0 < sample_s <= MAX_SAMPLE_S:
        raise BadInput(f"--sample {sample}: must be more than 0 and at most {MAX_SAMPLE_S:g} s")
    check_output("--json", json_path, (), force)
    noise = collect_noise(sample_s)
    console = make_console()
    for key, fields in noise["checks"].items():
        line = Check(**fields).line(LABELS[key])
        console.print(
            line, style=_STYLE.get(fields["status"]), soft_wrap=True, markup=False, highlight=False
        )
    found = warnings(noise)
    if json_path:
        write_or_fail(json_path, json.dumps({**noise, "warnings": found}, indent=2) + "\n")
    console.print(
        f"doctor: {len(found)} warning(s)" if found else "doctor: nothing here adds noise",
        style="bold yellow" if found else "green",
    )
