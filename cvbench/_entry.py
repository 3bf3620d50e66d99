"""The console script's target: deliberately tiny.

forkserver and spawn workers re-import the parent's __main__ (the `cvbench` script). Were that
`cvbench.cli`, every worker would import click, rich, trio, curio and the rest (~0.3 s) before
its first item, and start-up would measure cvbench instead of the pool.
"""


def main() -> None:
    from cvbench.cli import main as cli_main

    cli_main()
