"""`learning-store mcp`: serve the store to agents as Model Context Protocol tools."""

from __future__ import annotations

import asyncio
import os
from typing import Annotated

import typer

from learning_store.cli.common import (
    MetricsPortOption,
    ModelOption,
    UrlOption,
    errors,
    settings,
    user_errors,
)


@user_errors
def mcp(
    url: UrlOption = None,
    transport: Annotated[
        str, typer.Option(help="stdio (one agent launches it) or http (streamable HTTP).")
    ] = "stdio",
    host: Annotated[str, typer.Option(help="HTTP: the address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="HTTP: the port.")] = 8765,
    read_only: Annotated[
        bool,
        typer.Option("--read-only", help="Leave out record_execution and record_feedback."),
    ] = False,
    token: Annotated[
        str | None,
        typer.Option(
            help="HTTP: the bearer token every request must carry (default: "
            "LEARNING_STORE_MCP_TOKEN); required beyond 127.0.0.1.",
            show_default=False,
        ),
    ] = None,
    model: ModelOption = None,
    metrics_port: MetricsPortOption = None,
) -> None:
    """Serve the store to agents as MCP tools (needs the 'mcp' extra).

    Tools: find_similar, recommend_tier, tier_performance, stats, get_execution,
    record_execution and record_feedback. Over stdio an agent starts this command itself;
    over HTTP the endpoint is /mcp.
    Example: learning-store mcp --url duckdb:///data/learning.db --read-only
    """
    if transport not in ("stdio", "http"):
        raise ValueError(f"--transport {transport!r}: use stdio or http")
    try:
        from learning_store.mcp.serve import TOKEN_VARIABLE, serve
    except ImportError as missing:
        raise ValueError(
            f"the MCP server needs the 'mcp' extra ({missing.name} is not installed): "
            "pip install 'learning-store[mcp]'"
        ) from None
    secret = token or os.environ.get(TOKEN_VARIABLE) or None

    def ready() -> None:
        if transport == "http":
            errors.print(f"learning-store MCP server on http://{host}:{port}/mcp", highlight=False)

    asyncio.run(
        serve(
            settings(url, model),
            transport="stdio" if transport == "stdio" else "http",
            host=host,
            port=port,
            read_only=read_only,
            token=secret,
            ready=ready,
            metrics_port=metrics_port,
        )
    )
