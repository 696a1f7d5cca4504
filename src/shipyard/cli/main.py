"""Entry point of the ``shipyard`` command."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from shipyard import __version__
from shipyard.cli import ci, cluster
from shipyard.cli.simulate import simulate

app = typer.Typer(no_args_is_help=True, add_completion=False, help="Shipyard command line.")
app.add_typer(cluster.app, name="cluster")
app.add_typer(ci.app, name="ci")
app.command(name="simulate")(simulate)


@app.command()
def version() -> None:
    """Print Shipyard's version."""
    typer.echo(f"shipyard {__version__}")


@app.command()
def demo(
    data_dir: Annotated[
        Path | None, typer.Option("--data-dir", help="Keep the demo cluster here.")
    ] = None,
) -> None:
    """Run the scripted demo and print what it did."""
    from shipyard.platform.demo import run_demo

    failures = run_demo(typer.echo, data_dir)
    raise typer.Exit(1 if failures else 0)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
