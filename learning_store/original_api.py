"""The original system's documented read and cleanup calls, as plain JSON-ready dicts.

Code written for the learning database learning_store replaces reads results as dicts
(`item["similarity"]`, `tier["total_executions"]`) and dumps them with `json.dumps`. The
design: the documented names return plain dicts with the documented keys (ids and times
as ISO strings), built from the typed results by their `to_dict()`; the typed methods
(`find_similar`, `tier_performance`, `pool_performance`, `solution_patterns`, `prune`)
return typed results. Both read the same rows, so they always agree.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from learning_store.service import LearningDatabase

SOLUTION_PATTERN_DAYS = 90
"""The original documented solution patterns over the last 90 days."""


class OriginalApi:
    """Mixin for `LearningDatabase`: the documented calls on top of its typed methods."""

    __slots__ = ()

    async def find_similar_executions(
        self: LearningDatabase,
        task_description: str,
        repo: str | None = None,
        limit: int = 10,
        days_back: int = 90,
        threshold: float = 0.7,
    ) -> list[dict[str, Any]]:
        """Past executions like this task, best first, as dicts ending in `similarity`."""
        matches = await self.find_similar(task_description, repo, limit, days_back, threshold)
        return [match.to_dict() for match in matches]

    async def get_tier_performance(
        self: LearningDatabase, repo: str | None = None, days_back: int = 30
    ) -> list[dict[str, Any]]:
        """Rows of `tier_performance_mv`: per repo, tier, task type and UTC day."""
        return [row.to_dict() for row in await self.tier_performance(repo, days_back)]

    async def get_pool_performance(
        self: LearningDatabase, repo: str | None = None, days_back: int = 7
    ) -> list[dict[str, Any]]:
        """Rows of `pool_performance_mv`: per pool, repo and UTC hour."""
        return [row.to_dict() for row in await self.pool_performance(repo, days_back)]

    async def get_solution_patterns(
        self: LearningDatabase, repo: str | None = None, min_usage: int = 5, limit: int = 10
    ) -> list[dict[str, Any]]:
        """Rows of `solution_patterns_mv`: summaries used `min_usage`+ times in 90 days."""
        patterns = await self.solution_patterns(repo, min_usage, limit, SOLUTION_PATTERN_DAYS)
        return [row.to_dict() for row in patterns]

    async def cleanup_old_executions(
        self: LearningDatabase, days_to_keep: int = 90, archive_path: str | Path | None = None
    ) -> dict[str, int]:
        """Delete executions older than `days_to_keep` days, archiving them first if asked.

        With `archive_path`, rows go to verified ZSTD Parquet files (one per UTC day) and
        only rows that read back are deleted. Returns `deleted_count`, `days_cleaned` (the
        age in days past which rows were removed) and, when archiving, `archived_count`.
        """
        if days_to_keep < 0:
            raise ValueError(f"days_to_keep must be 0 or more, got {days_to_keep}")
        cutoff = datetime.now(UTC) - timedelta(days=days_to_keep)
        archive_dir = None if archive_path is None else Path(archive_path)
        result = await self.prune(cutoff, archive_dir)
        summary = {"deleted_count": result.deleted, "days_cleaned": days_to_keep}
        if archive_dir is not None:
            summary["archived_count"] = result.archived
        return summary
