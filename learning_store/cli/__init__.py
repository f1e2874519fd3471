"""The `learning-store` command line: one sub-module per command group."""

from __future__ import annotations

import typer

from learning_store.cli import db

app = typer.Typer(
    name="learning-store",
    help="Record and learn from LLM orchestrator task executions.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
app.add_typer(db.app, name="db")


def main() -> None:
    """Console-script entry point."""
    app()
