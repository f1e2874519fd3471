"""What the HTTP interfaces share: who may reach them, and running one under uvicorn.

`learning-store mcp` and `learning-store otlp` listen on 127.0.0.1 unless told otherwise;
on any other address they require a bearer token, checked on every request (401 without
it) and never logged.
"""

from __future__ import annotations

import asyncio
import hmac
import ipaddress
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from learning_store.errors import ConfigurationError

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]
App = Callable[[Scope, Receive, Send], Awaitable[None]]


def is_loopback(host: str) -> bool:
    """Whether `host` is reachable only from this machine."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def require_token_beyond_loopback(host: str, token: str | None, variable: str) -> None:
    """Refuse to serve beyond the loopback without a token.

    Raises:
        ConfigurationError: `host` is not a loopback address and no token is set.
    """
    if not is_loopback(host) and not token:
        raise ConfigurationError(
            f"--host {host} serves beyond this machine: give a bearer token with --token or "
            f"{variable} (clients send 'Authorization: Bearer <token>'), or bind 127.0.0.1"
        )


class BearerToken:
    """ASGI middleware: every HTTP request must carry `Authorization: Bearer <token>`."""

    def __init__(self, app: App, token: str) -> None:
        self._app = app
        self._expected = f"Bearer {token}".encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Answer 401 to a request without the token; pass the others on."""
        if scope["type"] == "http":
            given = dict(scope.get("headers") or []).get(b"authorization", b"")
            if not hmac.compare_digest(given, self._expected):
                await _unauthorized(send)
                return
        await self._app(scope, receive, send)


async def _unauthorized(send: Send) -> None:
    body = b'{"error": "unauthorized: send Authorization: Bearer <token>"}'
    await send(
        {
            "type": "http.response.start",
            "status": 401,
            "headers": [
                (b"content-type", b"application/json"),
                (b"www-authenticate", b"Bearer"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


async def serve_asgi(
    app: App, host: str, port: int, started: Callable[[], None] | None = None
) -> bool:
    """Serve `app` with uvicorn until it stops; `started` runs once it accepts requests.

    Returns whether it ever started (a port in use ends it at once).
    """
    import uvicorn  # the interfaces' extras bring it

    settings = uvicorn.Config(app, host=host, port=port, log_level="warning", lifespan="on")
    http = uvicorn.Server(settings)
    task = asyncio.ensure_future(http.serve())
    while not http.started and not task.done():
        await asyncio.sleep(0.05)
    if http.started and started is not None:
        started()
    try:
        await task
    finally:
        http.should_exit = True
        if not task.done():
            await asyncio.wait([task], timeout=5)
    return bool(http.started)
