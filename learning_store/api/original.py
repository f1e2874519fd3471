"""The original system's documented result shapes: plain, JSON-ready dicts.

Code written for the learning database learning_store replaces reads results as dicts
(`item["similarity"]`, `tier["total_executions"]`) and dumps them with `json.dumps`. The
design: the documented names return plain dicts with the documented keys (ids and times
as ISO strings), built from the typed results by their `to_dict()`; the typed methods
(`find_similar`, `tier_performance`, `pool_performance`, `solution_patterns`, `prune`)
return typed results. Both read the same rows, so they always agree.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from learning_store.archive import PruneResult

SOLUTION_PATTERN_DAYS = 90
"""The original documented solution patterns over the last 90 days."""


class Documented(Protocol):
    """A typed result with the documented dict form."""

    def to_dict(self) -> dict[str, Any]:
        """The documented keys, JSON-ready values."""
        ...


def as_dicts(results: Iterable[Documented]) -> list[dict[str, Any]]:
    """Typed results as the documented dicts, in order."""
    return [result.to_dict() for result in results]


def cleanup_cutoff(days_to_keep: int) -> datetime:
    """The moment before which `cleanup_old_executions(days_to_keep)` deletes rows.

    Raises:
        ValueError: `days_to_keep` is negative.
    """
    if days_to_keep < 0:
        raise ValueError(f"days_to_keep must be 0 or more, got {days_to_keep}")
    return datetime.now(UTC) - timedelta(days=days_to_keep)


def cleanup_summary(result: PruneResult, days_to_keep: int, archived: bool) -> dict[str, int]:
    """`cleanup_old_executions`' documented dict.

    `deleted_count`, `days_cleaned` (the age in days past which rows were removed) and,
    when archiving, `archived_count`.
    """
    summary = {"deleted_count": result.deleted, "days_cleaned": days_to_keep}
    if archived:
        summary["archived_count"] = result.archived
    return summary
