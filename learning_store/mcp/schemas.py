"""The structured results of the MCP tools: the Python API's documented dict shapes, typed.

Each model is built from what `LearningDatabase` returns (`to_dict()` of the typed result),
so a tool's structured content equals the Python API's answer; the types give the tools
their output schemas.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict


class _Result(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SimilarExecutionItem(_Result):
    """One past execution like the task (`find_similar_executions`' dict)."""

    task_id: str
    timestamp: str
    task_type: str
    repo: str
    model_tier: str
    pool_type: str
    success: bool
    duration_seconds: float
    quality_score: float | None
    task_description: str
    solution_summary: str | None
    similarity: float


class SimilarExecutions(_Result):
    """Past executions most similar to the task, best first."""

    executions: list[SimilarExecutionItem]


class TierEstimateItem(_Result):
    """What the history says one tier would do on the task (every `TierEstimate` field)."""

    tier: str
    success_rate: float
    success_low: float
    success_high: float
    avg_cost: float | None
    avg_duration: float | None
    avg_quality: float | None
    evidence: int


class Recommendation(_Result):
    """The tier to run the task on, why, and an estimate for every candidate tier."""

    tier: str
    reason: str
    estimates: list[TierEstimateItem]


class TierPerformanceItem(_Result):
    """One row of `tier_performance_mv`: a tier on a task type in a repo on a UTC day."""

    repo: str
    model_tier: str
    task_type: str
    date: str
    total_executions: int
    successful_count: int
    avg_duration: float
    avg_cost: float
    avg_quality: float | None
    p95_duration: float
    success_rate: float
    acceptance_rate: float | None
    avg_rating: float | None


class TierPerformanceRows(_Result):
    """`get_tier_performance`'s rows."""

    rows: list[TierPerformanceItem]


class StoreStatistics(_Result):
    """How many executions the store holds, over what time, and which it cannot use."""

    total: int
    oldest: str | None
    newest: str | None
    per_repo: dict[str, int]
    invalid_rows: int
    """Rows other tools wrote that break a record rule: left out of every read."""
    without_embedding: int
    """Rows no similarity search can find (no usable embedding)."""


class ExecutionDetails(_Result):
    """One stored execution: every field but its embedding (384 numbers)."""

    task_id: str
    timestamp: str
    task_type: str
    task_description: str
    repo: str
    file_count: int
    estimated_tokens: int
    model_tier: str
    pool_type: str
    swarm_topology: str | None
    routing_confidence: float
    complexity_score: float
    success: bool
    duration_seconds: float
    quality_score: float | None
    cost_estimate: float
    actual_cost: float | None
    error_type: str | None
    error_message: str | None
    user_accepted: bool | None
    user_rating: int | None
    peak_memory_mb: float | None
    cpu_time_seconds: float | None
    solution_summary: str | None
    metadata: dict[str, object]
    uploaded_at: str | None
    has_embedding: bool


class RecordOutcome(_Result):
    """What became of a recorded execution."""

    status: Literal["stored", "duplicate", "rejected"]
    task_id: str | None
    reasons: list[str]
    """Why it was rejected (empty otherwise), each naming the field and the rule."""


class FeedbackOutcome(_Result):
    """Feedback recorded on a stored execution (what `record_feedback` returns: True)."""

    task_id: str
    updated: bool
