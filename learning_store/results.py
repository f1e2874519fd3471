"""Results the stores return: batch outcomes, similar executions and analytics rows.

Each result is typed; `to_dict()` gives the shape the original system documented (its key
names, JSON-ready values: ids and times as strings), which is what the compatibility
methods of `LearningDatabase` (`find_similar_executions`, `get_*`) return.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any
from uuid import UUID

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

    def to_dict(self) -> dict[str, Any]:
        """The original system's search result: the row's key fields and `similarity`."""
        record = self.record
        return {
            "task_id": str(record.task_id),
            "timestamp": record.timestamp.isoformat(),
            "task_type": record.task_type,
            "repo": record.repo,
            "model_tier": record.model_tier,
            "pool_type": record.pool_type,
            "success": record.success,
            "duration_seconds": record.duration_seconds,
            "quality_score": record.quality_score,
            "task_description": record.task_description,
            "solution_summary": record.solution_summary,
            "similarity": self.similarity,
        }


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
    acceptance_rate: float | None = None
    """Share of the rows with user feedback that the user accepted (None: no feedback)."""
    avg_rating: float | None = None
    """Mean user rating, 1-5, over the rated rows (None: no ratings)."""

    def to_dict(self) -> dict[str, Any]:
        """The original's `tier_performance_mv` row (plus success and feedback rates)."""
        return {
            "repo": self.repo,
            "model_tier": self.model_tier,
            "task_type": self.task_type,
            "date": self.day.isoformat(),
            "total_executions": self.total,
            "successful_count": self.successful,
            "avg_duration": self.avg_duration,
            "avg_cost": self.avg_cost,
            "avg_quality": self.avg_quality,
            "p95_duration": self.p95_duration,
            "success_rate": self.success_rate,
            "acceptance_rate": self.acceptance_rate,
            "avg_rating": self.avg_rating,
        }


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
    acceptance_rate: float | None = None
    """Share of the rows with user feedback that the user accepted (None: no feedback)."""
    avg_rating: float | None = None
    """Mean user rating, 1-5, over the rated rows (None: no ratings)."""

    def to_dict(self) -> dict[str, Any]:
        """The original's `pool_performance_mv` row (plus feedback rates)."""
        return {
            "pool_type": self.pool_type,
            "repo": self.repo,
            "hour": self.hour.isoformat(),
            "total_tasks": self.total,
            "successful_tasks": self.successful,
            "avg_duration": self.avg_duration,
            "avg_cost": self.avg_cost,
            "success_rate": self.success_rate,
            "acceptance_rate": self.acceptance_rate,
            "avg_rating": self.avg_rating,
        }


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

    def to_dict(self) -> dict[str, Any]:
        """The original's `solution_patterns_mv` row."""
        return {
            "solution_summary": self.solution_summary,
            "repo": self.repo,
            "task_types": list(self.task_types),
            "usage_count": self.usage_count,
            "success_count": self.success_count,
            "avg_quality": self.avg_quality,
            "first_seen": self.first_seen.isoformat(),
            "last_seen": self.last_seen.isoformat(),
            "success_rate": self.success_rate,
        }


@dataclass(frozen=True, slots=True)
class StoreStats:
    """Size and span of a store; `size_bytes` is None where nothing is on disk."""

    total: int
    oldest: datetime | None
    newest: datetime | None
    per_repo: dict[str, int]
    without_embedding: int
    size_bytes: int | None
    invalid_rows: int = 0
    """Rows written by other tools that break a record rule: left out of every read."""


@dataclass(frozen=True, slots=True)
class FeedbackResult:
    """Outcome of a batch of feedback: rows updated, task_ids not stored, rows refused."""

    updated: int = 0
    unknown: list[UUID] = field(default_factory=list)
    rejected: list[RejectedRecord] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class OutcomeCount:
    """One model tier on one task type: executions, successes, and sums for the means.

    The priors of routing advice: sums rather than means, so tallies add up exactly.
    """

    model_tier: str
    task_type: str
    executions: int
    successes: int
    cost_sum: float
    duration_sum: float
    quality_sum: float
    rated: int


@dataclass(frozen=True, slots=True)
class TierEstimate:
    """What the history says one model tier would do on a task.

    `success_rate` is the expected probability of success; `success_low`/`success_high`
    bound it (about 95%), widening when little similar evidence exists. Costs, durations and
    quality are weighted means of the similar executions (the tier's own means when none is
    similar); `avg_cost` is None when the tier has no history at all: unknown, not free.
    `evidence` is how many past executions informed the estimate.
    """

    tier: str
    success_rate: float
    success_low: float
    success_high: float
    avg_cost: float | None
    avg_duration: float
    avg_quality: float | None
    evidence: int

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return {name: getattr(self, name) for name in self.__slots__}


@dataclass(frozen=True, slots=True)
class TierRecommendation:
    """The tier to run a task on, the estimate for every candidate tier, and why."""

    tier: str
    estimates: list[TierEstimate]
    reason: str

    def estimate_for(self, tier: str) -> TierEstimate:
        """The estimate of one tier (KeyError when it was not a candidate)."""
        for item in self.estimates:
            if item.tier == tier:
                return item
        raise KeyError(tier)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return {
            "tier": self.tier,
            "reason": self.reason,
            "estimates": [item.to_dict() for item in self.estimates],
        }


@dataclass(frozen=True, slots=True)
class Neighbour:
    """A past execution similar to a task, as routing advice reads it (its outcome)."""

    tier: str
    similarity: float
    age_days: float
    success: bool
    cost: float
    duration: float
    quality: float | None
    complexity: float | None = None
    task_type: str | None = None
    task_id: UUID | None = None
