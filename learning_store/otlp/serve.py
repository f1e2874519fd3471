"""Run the OTLP/HTTP trace receiver until SIGINT or SIGTERM, then close the store.

Rows are written through a `RoutingTelemetry` that flushes on each request (a sender is
answered only once its rows are safe), so its spool and counters are the receiver's too.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

from learning_store.api import LearningDatabase
from learning_store.config import LearningConfig
from learning_store.http_guard import (
    App,
    BearerToken,
    require_token_beyond_loopback,
    serve_asgi,
)
from learning_store.otlp.http import TracesApp
from learning_store.otlp.joiner import SpanJoiner
from learning_store.otlp.mapping import TierMap
from learning_store.otlp.receiver import TraceReceiver
from learning_store.telemetry import RoutingTelemetry

TOKEN_VARIABLE = "LEARNING_STORE_OTLP_TOKEN"
DEFAULT_PORT = 4318
"""OTLP/HTTP's registered port."""


def build_receiver(
    config: LearningConfig,
    task_operations: Sequence[str],
    join_seconds: float,
    tier_map: Path | None = None,
) -> TraceReceiver:
    """The receiver of one store: its database, telemetry buffer and span joiner."""
    tiers = TierMap.load(tier_map) if tier_map is not None else TierMap()
    telemetry = RoutingTelemetry(LearningDatabase(config=config), auto_flush=False)
    return TraceReceiver(telemetry, SpanJoiner(task_operations, tiers, join_seconds))


async def serve(
    receiver: TraceReceiver,
    *,
    host: str = "127.0.0.1",
    port: int = DEFAULT_PORT,
    token: str | None = None,
    metrics_port: int | None = None,
    ready: Callable[[], None] | None = None,
) -> None:
    """Serve `POST /v1/traces` (and `/metrics` on `metrics_port`) until stopped."""
    require_token_beyond_loopback(host, token, TOKEN_VARIABLE)
    app: App = TracesApp(receiver, expiry_interval=min(1.0, receiver.joiner.join_seconds / 4))
    if token:
        app = BearerToken(app, token)

    def started() -> None:
        if metrics_port is not None:
            from learning_store.metrics import serve_metrics

            serve_metrics(metrics_port, host, telemetry=receiver.telemetry)
        if ready is not None:
            ready()

    if not await serve_asgi(app, host, port, started):
        raise RuntimeError(f"the OTLP receiver did not start on {host}:{port} (see the log)")
