"""Results the stores return: batch outcomes, similar executions and analytics rows."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import TYPE_CHECKING
from uuid import UUID

if TYPE_CHECKING:
    from learning_store.models import ExecutionRecord


@dataclass(frozen=True, slots=True)
class RejectedRecord:
    """A row of a batch that was not stored, with its position in the input and why."""

    index: int
    task_id: UUID | None
    reason: str


@dataclass(frozen=True, slots=True)
class BatchResult:
    """Outcome of a batch: every input row is stored, a duplicate, or rejected."""

    stored: int = 0
    duplicates: int = 0
    rejected: list[RejectedRecord] = field(default_factory=list)

    @property
    def total(self) -> int:
        """Number of input rows accounted for."""
        return self.stored + self.duplicates + len(self.rejected)

    def __add__(self, other: BatchResult) -> BatchResult:
        return BatchResult(
            self.stored + other.stored,
            self.duplicates + other.duplicates,
            [*self.rejected, *other.rejected],
        )


@dataclass(frozen=True, slots=True)
class SimilarExecution:
    """A past execution and its cosine similarity to the query (1.0 is identical)."""

    record: ExecutionRecord
    similarity: float



@dataclass(frozen=True, slots=True)
class TierPerformance:
    """How one model tier did on one task type in one repo on one UTC day.

    Costs are `actual_cost` where known, else `cost_estimate`; p95 is the continuous
    (interpolated) 95th percentile of duration; avg_quality is None when no row had a score.
    """

    repo: str
    model_tier: str
    task_type: str
    day: date
    total: int
    successful: int
    success_rate: float
    avg_duration: float
    p95_duration: float
    avg_cost: float
    avg_quality: float | None


@dataclass(frozen=True, slots=True)
class PoolPerformance:
    """How one worker pool did in one repo during one UTC hour (`hour` is its start)."""

    pool_type: str
    repo: str
    hour: datetime
    total: int
    successful: int
    success_rate: float
    avg_duration: float
    avg_cost: float


@dataclass(frozen=True, slots=True)
class SolutionPattern:
    """A solution summary that recurs in a repo, with how often it worked."""

    solution_summary: str
    repo: str
    task_types: list[str]
    usage_count: int
    success_count: int
    success_rate: float
    avg_quality: float | None
    first_seen: datetime
    last_seen: datetime


@dataclass(frozen=True, slots=True)
class StoreStats:
    """Size and span of a store; `size_bytes` is None where nothing is on disk."""

    total: int
    oldest: datetime | None
    newest: datetime | None
    per_repo: dict[str, int]
    without_embedding: int
    size_bytes: int | None
