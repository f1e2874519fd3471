"""`learning-store otlp`: receive OpenTelemetry GenAI spans over OTLP/HTTP as executions."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
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
from learning_store.otlp import DEFAULT_TASK_OPERATIONS

TASK_OPERATIONS = ",".join(DEFAULT_TASK_OPERATIONS)


@user_errors
def otlp(
    url: UrlOption = None,
    host: Annotated[str, typer.Option(help="The address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="The port (OTLP/HTTP).")] = 4318,
    task_operations: Annotated[
        str,
        typer.Option(help="gen_ai.operation.name values whose spans are tasks (comma-separated)."),
    ] = TASK_OPERATIONS,
    join_seconds: Annotated[
        float,
        typer.Option(min=0, help="How long a child span waits for its parent task span."),
    ] = 30.0,
    tier_map: Annotated[
        Path | None,
        typer.Option(help="TOML [models] table: model name or glob -> tier (and prices)."),
    ] = None,
    token: Annotated[
        str | None,
        typer.Option(
            help="The bearer token every request must carry (default: "
            "LEARNING_STORE_OTLP_TOKEN); required beyond 127.0.0.1.",
            show_default=False,
        ),
    ] = None,
    metrics_port: MetricsPortOption = None,
    model: ModelOption = None,
) -> None:
    """Receive OTLP/HTTP traces (POST /v1/traces) and store GenAI task spans as executions.

    Needs the 'otlp' extra. Point an OpenTelemetry exporter or collector at
    http://HOST:PORT; see the README's "From OpenTelemetry" for the mapping.
    Example: learning-store otlp --tier-map tiers.toml --metrics-port 9464
    """
    try:
        from learning_store.otlp.serve import TOKEN_VARIABLE, build_receiver, serve
    except ImportError as missing:
        raise ValueError(
            f"the OTLP receiver needs the 'otlp' extra ({missing.name} is not installed): "
            "pip install 'learning-store[otlp]'"
        ) from None
    operations = [name.strip() for name in task_operations.split(",") if name.strip()]
    if not operations:
        raise ValueError("--task-operations: name at least one gen_ai.operation.name")
    receiver = build_receiver(settings(url, model), operations, join_seconds, tier_map)

    def ready() -> None:
        errors.print(
            f"learning-store OTLP receiver on http://{host}:{port}/v1/traces", highlight=False
        )

    asyncio.run(
        serve(
            receiver,
            host=host,
            port=port,
            token=token or os.environ.get(TOKEN_VARIABLE) or None,
            metrics_port=metrics_port,
            ready=ready,
        )
    )
