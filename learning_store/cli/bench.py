"""`learning-store bench`: measure batch writes, the model, similarity, scale and telemetry."""

from __future__ import annotations

import asyncio
import json
import platform
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from learning_store.cli.common import console, user_errors


@user_errors
def bench(
    records: Annotated[int, typer.Option(min=10, help="Records per write measurement.")] = 2000,
    similar_rows: Annotated[
        int, typer.Option(min=100, help="Rows in the similarity store.")
    ] = 100_000,
    json_file: Annotated[
        Path | None, typer.Option("--json", help="Also write the results here.")
    ] = None,
    skip_model: Annotated[
        bool, typer.Option("--skip-model", help="Leave out the real-model measurements.")
    ] = False,
    scale_rows: Annotated[
        int, typer.Option(min=100, help="Rows already in the table for scale_flatness.")
    ] = 200_000,
    ingest_rows: Annotated[
        int, typer.Option(min=100, help="Rows of the Parquet file ingested (with embeddings).")
    ] = 200_000,
    jsonl_rows: Annotated[
        int, typer.Option(min=100, help="Rows of the JSON-lines file ingested.")
    ] = 50_000,
    telemetry_records: Annotated[
        int, typer.Option(min=100, help="Records sent through RoutingTelemetry.")
    ] = 20_000,
    batch_size: Annotated[
        int, typer.Option(min=1, max=1000, help="Rows per write transaction.")
    ] = 1000,
    scale: Annotated[
        int | None,
        typer.Option(
            min=1000,
            help="Instead: similarity search at this many rows (clustered and random "
            "vectors; minutes at a million).",
        ),
    ] = None,
    postgres_url: Annotated[
        str | None,
        typer.Option(help="With --scale: also measure this PostgreSQL database (emptied first)."),
    ] = None,
) -> None:
    """Measure every speed claim side by side in one run and print the ratios.

    Example: learning-store bench --json bench.json
    """
    from learning_store.bench import TARGETS, BenchOptions, meets_target, run_benchmark

    if scale is not None:
        _scale(scale, postgres_url, not skip_model, json_file)
        return
    options = BenchOptions(
        records=records,
        similar_rows=similar_rows,
        scale_rows=scale_rows,
        ingest_rows=ingest_rows,
        jsonl_rows=jsonl_rows,
        telemetry_records=telemetry_records,
        batch_size=batch_size,
        skip_model=skip_model,
    )
    result = asyncio.run(
        run_benchmark(options, lambda step: console.print(f"[dim]measuring {step}...[/]"))
    )
    table = Table(
        title=f"learning-store bench ({platform.node()}, records={records:,}, "
        f"similar rows={similar_rows:,}, batch size={batch_size})",
        title_justify="left",
    )
    for heading in ("key", "value", "target", "met"):
        table.add_column(heading, justify="left" if heading == "key" else "right")
    for key, value in result.ratios.items():
        operator, bound = TARGETS.get(key, ("", 0))
        met = meets_target(key, value)
        mark = "" if met is None else "[green]yes[/]" if met else "[red]no[/]"
        table.add_row(key, f"{value:,.3f}", f"{operator} {bound:g}" if operator else "", mark)
    console.print(table)
    console.print(_values_table("Rates behind the ratios", result.rates, "{:,.1f}"))
    if json_file is not None:
        json_file.write_text(json.dumps({**result.ratios, "rates": result.rates}, indent=2))
        console.print(f"results written to {json_file}", highlight=False)


def _scale(rows: int, postgres_url: str | None, use_model: bool, json_file: Path | None) -> None:
    """`bench --scale N`: one table per store and dataset, and the JSON of all of them."""
    from learning_store.bench.scale import run_scale_benchmark

    results = run_scale_benchmark(
        rows,
        postgres_url=postgres_url,
        use_model=use_model,
        progress=lambda step: console.print(f"[dim]{step}...[/]"),
    )
    for result in results:
        title = (
            f"{result.store}, {result.dataset} vectors, {result.rows:,} rows ({platform.node()})"
        )
        console.print(_values_table(title, result.numbers, "{:,.3f}"))
    if json_file is not None:
        records = [
            {"store": r.store, "dataset": r.dataset, "rows": r.rows, **r.numbers} for r in results
        ]
        json_file.write_text(json.dumps(records, indent=2))
        console.print(f"results written to {json_file}", highlight=False)


def _values_table(title: str, values: dict[str, float], number_format: str) -> Table:
    """A two-column table: each measurement and its value."""
    table = Table(title=title, title_justify="left")
    table.add_column("measurement")
    table.add_column("value", justify="right")
    for key, value in values.items():
        table.add_row(key, number_format.format(value))
    return table
