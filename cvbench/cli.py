"""The `cvbench` command group. Each command lives in cvbench/commands/, one module each."""

from __future__ import annotations

import os

import click

from cvbench import __version__
from cvbench.commands.compare import compare_cmd
from cvbench.commands.listing import models_cmd, workloads_cmd
from cvbench.commands.plot import plot_cmd
from cvbench.commands.report import report_cmd
from cvbench.commands.run import run
from cvbench.commands.simulate import simulate_cmd
from cvbench.commands.validate import validate_cmd


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="cvbench")
def cli() -> None:
    """Run the same OpenCV workload under every Python concurrency model and measure it."""


for _command in (
    run,
    compare_cmd,
    simulate_cmd,
    validate_cmd,
    plot_cmd,
    report_cmd,
    models_cmd,
    workloads_cmd,
):
    cli.add_command(_command)


def main() -> None:
    os.environ.setdefault("OPENCV_LOG_LEVEL", "ERROR")
    cli()


if __name__ == "__main__":
    main()
