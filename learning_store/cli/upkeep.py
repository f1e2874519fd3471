"""`learning-store reembed`: recompute stored embeddings, resumably, with progress."""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING, Annotated

import typer

from learning_store.cli.common import (
    ModelOption,
    UrlOption,
    console,
    rows_progress,
    settings,
    user_errors,
)

if TYPE_CHECKING:
    from learning_store.config import LearningConfig
    from learning_store.reembedding import ReembedResult


@user_errors
def reembed(
    where_missing: Annotated[
        bool, typer.Option("--where-missing", help="Only rows that have no usable embedding.")
    ] = False,
    model: ModelOption = None,
    url: UrlOption = None,
) -> None:
    """Recompute embeddings in batches: rows without one, or every row after a model change.

    A run that is killed resumes where it stopped when started again (rows done stay done).
    Example: learning-store reembed --model all-MiniLM-L6-v2
    """
    result = asyncio.run(_reembed(settings(url, model), where_missing))
    resumed = " (resumed an interrupted run)" if result.resumed else ""
    console.print(
        f"re-embedded {result.rows:,} rows with {result.model} in {result.seconds:.1f} s "
        f"({result.rows_per_second:,.0f} rows/s){resumed}",
        highlight=False,
    )


async def _reembed(config: LearningConfig, where_missing: bool) -> ReembedResult:
    from learning_store.api import LearningDatabase

    async with LearningDatabase(config=config) as db:
        with rows_progress() as progress:
            task = progress.add_task("re-embedding", total=None, rows=0, rate=0.0)
            started = time.perf_counter()

            def report(done: int, total: int) -> None:
                rate = done / max(time.perf_counter() - started, 1e-9)
                progress.update(task, completed=done, total=total, rows=done, rate=rate)

            return await db.reembed(where_missing=where_missing, on_progress=report)
