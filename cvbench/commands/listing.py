"""`cvbench models` and `cvbench workloads`: what exists, and what each one is."""

from __future__ import annotations

import click
from rich.table import Table
from rich.text import Text

from cvbench.models import MODELS
from cvbench.report.console import make_console
from cvbench.workloads import BUILTIN_NAMES, load_spec

console = make_console()


def models_table() -> Table:
    """One row per model, from the facts each Model class carries (nothing per model here)."""
    table = Table(title="Concurrency models", title_justify="left")
    for header in ("model", "what runs the items", "cores", "dependency", "available here"):
        table.add_column(header)
    for name, cls in MODELS.items():
        reason = cls.unavailable()
        table.add_row(
            Text(name, style="bold"),
            Text(cls.runs_on or cls.summary),
            Text(cls.cores()),
            Text(cls.dependency()),
            Text("yes", style="green") if reason is None else Text(f"no: {reason}", "yellow"),
        )
    return table


@click.command("models")
def models_cmd() -> None:
    """List the concurrency models: what runs the items, cores, dependency, availability."""
    console.print(models_table())


@click.command("workloads")
def workloads_cmd() -> None:
    """List the built-in workloads and their sizes."""
    for name in BUILTIN_NAMES:
        spec = load_spec(name)
        console.print(f"[bold]{name:13}[/] {spec.description}")
        for preset, size in spec.sizes.items():
            console.print(f"  {preset:8} {size}")
