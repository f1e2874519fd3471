"""Run the MCP server: over stdio for one agent, or over HTTP (streamable) for several.

The store opens once per server and closes when the server stops: stdin closed, SIGINT
or SIGTERM. Over HTTP the server listens on 127.0.0.1 unless told otherwise, and binding
any other address requires a bearer token, checked on every request (401 without it) and
never logged.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import Callable
from typing import Any, Literal

from learning_store.api import LearningDatabase
from learning_store.config import LearningConfig
from learning_store.http_guard import (
    App,
    BearerToken,
    require_token_beyond_loopback,
    serve_asgi,
)
from learning_store.mcp.tools import build_server

Transport = Literal["stdio", "http"]
TOKEN_VARIABLE = "LEARNING_STORE_MCP_TOKEN"
MCP_PATH = "/mcp"


def check_exposure(transport: Transport, host: str, token: str | None) -> None:
    """Refuse to serve HTTP beyond the loopback without a token.

    Raises:
        ConfigurationError: `host` is not a loopback address and no token is set.
    """
    if transport == "http":
        require_token_beyond_loopback(host, token, TOKEN_VARIABLE)


async def serve(
    config: LearningConfig,
    *,
    transport: Transport = "stdio",
    host: str = "127.0.0.1",
    port: int = 8765,
    read_only: bool = False,
    token: str | None = None,
    ready: Callable[[], None] | None = None,
    metrics_port: int | None = None,
) -> None:
    """Open the store, serve until stopped, close the store.

    `ready` is called once the server accepts requests (HTTP) or reads stdin;
    `metrics_port` serves Prometheus `/metrics` on `host` (see `learning_store.metrics`).
    """
    check_exposure(transport, host, token)
    stopping = asyncio.current_task()
    loop = asyncio.get_running_loop()
    for signal_number in (signal.SIGINT, signal.SIGTERM):
        # Outside the main thread this cannot be done: the caller stops the server then.
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(signal_number, _stop, stopping)
    async with LearningDatabase(config=config) as db:
        if metrics_port is not None:
            from learning_store.metrics import serve_metrics

            serve_metrics(metrics_port, host, database=db)
        server = build_server(db, read_only=read_only)
        try:
            if transport == "stdio":
                if ready is not None:
                    ready()
                await server.run_stdio_async()
            else:
                await _serve_http(server, host, port, token, ready)
        except asyncio.CancelledError:
            pass  # a signal: leave the block, which closes the store


def _stop(task: asyncio.Task[Any] | None) -> None:
    if task is not None:
        task.cancel()


async def _serve_http(
    server: Any, host: str, port: int, token: str | None, ready: Callable[[], None] | None
) -> None:
    app: App = server.streamable_http_app(streamable_http_path=MCP_PATH, host=host)
    if token:
        app = BearerToken(app, token)
    await serve_asgi(app, host, port, ready)
