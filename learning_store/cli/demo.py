"""`learning-store demo`: generate a realistic data set, store it, report and search it."""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING, Annotated

import typer
from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeElapsedColumn

from learning_store.cli.advice import recommendation_table
from learning_store.cli.common import ModelOption, UrlOption, console, settings, user_errors
from learning_store.cli.insight import print_report
from learning_store.cli.render import similar_table

if TYPE_CHECKING:
    from learning_store.config import LearningConfig

DEMO_QUERY = "The orders query is slow, speed it up"


@user_errors
def demo(
    records: Annotated[int, typer.Option(min=1, help="How many executions to generate.")] = 5000,
    days: Annotated[int, typer.Option(min=1, help="Spread them over this many days.")] = 30,
    seed: Annotated[int, typer.Option(help="Same seed, same data set.")] = 7,
    url: UrlOption = None,
    model: ModelOption = None,
) -> None:
    """Store a realistic, seeded set of executions with real embeddings, then report and search.

    Running it again stores nothing new (the same seed gives the same task ids).

    Example: learning-store demo --records 5000 --url duckdb:///data/learning.db
    """
    config = settings(url, model)
    asyncio.run(_demo(config, records, days, seed))


async def _demo(config: LearningConfig, count: int, days: int, seed: int) -> None:
    from learning_store.api import LearningDatabase
    from learning_store.demo_data import generate
    from learning_store.repository.batching import chunks

    async with LearningDatabase(config=config) as db:
        console.print(
            f"Storing {count:,} generated executions in {config.database_url}", highlight=False
        )
        started = time.perf_counter()
        stored = duplicates = 0
        with Progress(
            TextColumn("[bold]executions"),
            BarColumn(),
            TaskProgressColumn(),
            TextColumn("{task.completed:,.0f}/{task.total:,.0f}"),
            TextColumn("{task.fields[rate]:,.0f} rows/s"),
            TimeElapsedColumn(),
            console=console,
        ) as progress:
            task = progress.add_task("store", total=count, rate=0.0)
            for _, batch in chunks(generate(count, days=days, seed=seed), config.batch_size * 5):
                result = await db.store_batch(batch)
                stored += result.stored
                duplicates += result.duplicates
                done = progress.tasks[0].completed + len(batch)
                progress.update(task, completed=done, rate=done / (time.perf_counter() - started))
        seconds = time.perf_counter() - started
        console.print(
            f"{stored:,} stored, {duplicates:,} already there, in {seconds:.1f} s\n",
            highlight=False,
        )
        repository = db.repository
        tiers = await asyncio.to_thread(repository.tier_performance, days_back=days)
        pools = await asyncio.to_thread(repository.pool_performance, days_back=days)
        print_report(tiers, pools, days)
        matches = await db.find_similar(DEMO_QUERY, limit=5, threshold=0.3, days_back=days)
        console.print(similar_table(DEMO_QUERY, matches))
        advice = await db.recommend_tier(DEMO_QUERY, min_success=0.8, days_back=days)
        console.print(recommendation_table(DEMO_QUERY, advice))
    console.print(
        f"\nYour data is in [bold]{config.database_url}[/]. Try next:\n"
        "  learning-store report --days 7 --format json\n"
        '  learning-store recommend "fix the flaky checkout test" --min-success 0.8\n'
        "  learning-store evaluate --days 30\n"
        '  learning-store similar "fix the flaky checkout test" --limit 3\n'
        "  learning-store export executions.parquet\n"
        "  learning-store stats",
        highlight=False,
    )
