"""The `cvbench` command group. Each command lives in cvbench/commands/, one module each.

Commands load lazily (click's LazyGroup pattern): `cvbench compare` reads two files and must
not pay for importing cv2, psutil and every concurrency framework that `cvbench run` needs.
"""

from __future__ import annotations

import importlib
import os

import click

from cvbench import __version__

# command name -> "module:attribute", in the order `cvbench --help` lists them
COMMANDS = {
    "run": "cvbench.commands.run:run",
    "compare": "cvbench.commands.compare:compare_cmd",
    "history": "cvbench.commands.history:history_cmd",
    "simulate": "cvbench.commands.simulate:simulate_cmd",
    "validate": "cvbench.commands.validate:validate_cmd",
    "plot": "cvbench.commands.plot:plot_cmd",
    "report": "cvbench.commands.report:report_cmd",
    "ab": "cvbench.commands.ab:ab_cmd",
    "doctor": "cvbench.commands.doctor:doctor_cmd",
    "models": "cvbench.commands.listing:models_cmd",
    "workloads": "cvbench.commands.listing:workloads_cmd",
}


class LazyGroup(click.Group):
    """A group that imports a command's module only when that command is asked for."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return [*COMMANDS, *(n for n in super().list_commands(ctx) if n not in COMMANDS)]

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        target = COMMANDS.get(cmd_name)
        if target is None:
            return super().get_command(ctx, cmd_name)
        module, attr = target.split(":")
        command = getattr(importlib.import_module(module), attr)
        assert isinstance(command, click.Command)
        return command


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="cvbench")
def cli() -> None:
    """Run the same OpenCV workload under every Python concurrency model and measure it."""


def main() -> None:
    os.environ.setdefault("OPENCV_LOG_LEVEL", "ERROR")
    try:
        cli()
    except KeyboardInterrupt:  # before or after a command's own handlers: no traceback
        raise SystemExit(130) from None


if __name__ == "__main__":
    main()
