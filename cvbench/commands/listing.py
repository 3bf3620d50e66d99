"""`cvbench models` and `cvbench workloads`: what exists, and what each one is."""

from __future__ import annotations

import click

from cvbench.models import MODELS
from cvbench.report.console import make_console
from cvbench.workloads import BUILTIN_NAMES, load_spec

console = make_console()


@click.command("models")
def models_cmd() -> None:
    """List the concurrency models."""
    for name, cls in MODELS.items():
        console.print(f"[bold]{name:18}[/] {cls.summary}")


@click.command("workloads")
def workloads_cmd() -> None:
    """List the built-in workloads and their sizes."""
    for name in BUILTIN_NAMES:
        spec = load_spec(name)
        console.print(f"[bold]{name:13}[/] {spec.description}")
        for preset, size in spec.sizes.items():
            console.print(f"  {preset:8} {size}")
