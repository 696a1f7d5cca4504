"""Entry point of the ``shipyard`` command."""

from __future__ import annotations

import typer

from shipyard import __version__

app = typer.Typer(no_args_is_help=True, add_completion=False, help="Shipyard command line.")


@app.command()
def version() -> None:
    """Print Shipyard's version."""
    typer.echo(f"shipyard {__version__}")


def main() -> None:
    app()


if __name__ == "__main__":
    main()
