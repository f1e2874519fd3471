"""`learning-store report | similar | stats`: what the stored executions say."""

from __future__ import annotations

import asyncio
import dataclasses
import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from learning_store.cli.common import ModelOption, UrlOption, console, settings, user_errors
from learning_store.cli.render import pool_table, similar_table, stats_table, tier_table

if TYPE_CHECKING:
    from learning_store.config import LearningConfig
    from learning_store.results import SimilarExecution


@user_errors
def report(
    repo: Annotated[str | None, typer.Option(help="Only this repo.")] = None,
    days: Annotated[int, typer.Option(min=1, help="Window in days.")] = 30,
    output: Annotated[str, typer.Option("--format", help="table or json.")] = "table",
    chart: Annotated[
        Path | None,
        typer.Option(
            help="Also draw success rate and p95 per tier per day to this PNG "
            "(needs the 'charts' extra)."
        ),
    ] = None,
    url: UrlOption = None,
) -> None:
    """Success, duration, cost and quality per model tier and per worker pool.

    Example: learning-store report --days 7 --repo checkout-service
    """
    from learning_store.bootstrap import build_repository

    if output not in ("table", "json"):
        raise ValueError(f"--format {output!r}: use table or json")
    with build_repository(None, settings(url)) as repository:
        tiers = repository.tier_performance(repo=repo, days_back=days)
        pools = repository.pool_performance(repo=repo, days_back=days)
    if output == "json":
        rows = {
            "tiers": [dataclasses.asdict(r) for r in tiers],
            "pools": [dataclasses.asdict(r) for r in pools],
        }
        typer.echo(json.dumps(rows, default=str, indent=2))
    else:
        print_report(tiers, pools, days)
    if chart is not None:
        from learning_store.cli.chart import draw_tier_chart

        draw_tier_chart(tiers, chart)
        console.print(f"chart written to {chart}", highlight=False)


def print_report(tiers: list[Any], pools: list[Any], days: int) -> None:
    """The tier and pool tables, or a hint when the window is empty."""
    if not tiers:
        console.print(f"No executions in the last {days} days.")
        return
    console.print(tier_table(tiers, days))
    console.print(pool_table(pools, days))


@user_errors
def similar(
    text: Annotated[str, typer.Argument(help="A task description.")],
    repo: Annotated[str | None, typer.Option(help="Only this repo.")] = None,
    limit: Annotated[int, typer.Option(min=1, help="How many results.")] = 5,
    threshold: Annotated[float, typer.Option(help="Minimum cosine similarity.")] = 0.3,
    days: Annotated[int, typer.Option(min=1, help="Only executions from the last DAYS days.")] = 90,
    exact: Annotated[
        bool, typer.Option("--exact", help="Compare every vector instead of asking the index.")
    ] = False,
    url: UrlOption = None,
    model: ModelOption = None,
) -> None:
    """The past executions most similar to TEXT, with their outcome and solution.

    Example: learning-store similar "speed up the slow orders query" --limit 3
    """
    config = settings(url, model)
    matches = asyncio.run(
        find_similar(
            config, text, repo=repo, limit=limit, threshold=threshold, days=days, exact=exact
        )
    )
    if not matches:
        console.print(f"No execution above similarity {threshold} found; try a lower --threshold.")
        return
    console.print(similar_table(text, matches))


async def find_similar(config: LearningConfig, text: str, **options: Any) -> list[SimilarExecution]:
    """Semantic search through the service (embeds the query with the configured model)."""
    from learning_store.api import LearningDatabase

    async with LearningDatabase(config=config) as db:
        return await db.find_similar(
            text,
            repo=options["repo"],
            limit=options["limit"],
            days_back=options["days"],
            threshold=options["threshold"],
            exact=options.get("exact", False),
        )


@user_errors
def stats(url: UrlOption = None) -> None:
    """How many executions the store holds, over what time, and its size on disk.

    Example: learning-store stats
    """
    from learning_store.bootstrap import build_repository

    config = settings(url)
    with build_repository(None, config) as repository:
        summary = repository.stats()
        where = getattr(repository, "url", config.database_url)
    console.print(stats_table(summary, where))
