"""The `learning-store` command line: one sub-module per command group."""

from __future__ import annotations

import typer

from learning_store.cli import (
    advice,
    bench,
    data,
    db,
    demo,
    feedback,
    index,
    insight,
    mcp,
    otlp,
    replay,
    upkeep,
)

app = typer.Typer(
    name="learning-store",
    help="Record and learn from LLM orchestrator task executions.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
app.add_typer(db.app, name="db")
app.add_typer(index.app, name="index")
app.command()(demo.demo)
app.command()(insight.report)
app.command()(insight.similar)
app.command()(insight.stats)
app.command()(data.ingest)
app.command()(data.export)
app.command()(data.prune)
app.command()(feedback.feedback)
app.command()(upkeep.reembed)
app.command()(advice.recommend)
app.command()(advice.evaluate)
app.command()(bench.bench)
app.command()(mcp.mcp)
app.command()(otlp.otlp)
app.command()(replay.replay)


def main() -> None:
    """Console-script entry point."""
    app()
