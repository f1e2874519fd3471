"""The joined entry points of `RoutingTelemetry`: decisions, outcomes and feedback by task_id.

A router reports a task in halves (what it chose, then how it went) and a user's verdict
may come later still; these methods turn each into records and feedback for the buffer.
"""

from __future__ import annotations

import logging
from collections import deque
from datetime import datetime
from typing import TYPE_CHECKING, Any
from uuid import UUID

from learning_store.feedback import feedback_of
from learning_store.models import EXTERNAL_TASK_ID, ErrorType, ExecutionRecord, task_key
from learning_store.telemetry.joiner import DecisionOutcomeJoiner
from learning_store.telemetry.waiting_feedback import WaitingFeedback

log = logging.getLogger("learning_store.telemetry")


class JoinedEntryPoints:
    """Mixin for `RoutingTelemetry`, which provides the state and `record` used here."""

    _buffer: deque[ExecutionRecord]
    _closing: bool
    _counts: dict[str, int]
    _initialized: bool
    _joiner: DecisionOutcomeJoiner
    _waiting_feedback: WaitingFeedback

    if TYPE_CHECKING:

        async def record(self, execution: Any) -> bool:
            """Queue one execution (`RoutingTelemetry.record`)."""

        async def _write_waiting_feedback(self, task_ids: list[UUID]) -> None: ...

    async def record_routing_decision(
        self,
        task_id: UUID | str,
        task_type: str,
        task_description: str,
        repo: str,
        model_tier: str,
        pool_type: str,
        routing_confidence: float,
        complexity_score: float = 50,
        cost_estimate: float = 0.0,
        *,
        file_count: int = 0,
        estimated_tokens: int = 0,
        swarm_topology: str | None = None,
        timestamp: datetime | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> ExecutionRecord | None:
        """The router's choice for a task; joined with its outcome by task_id.

        Returns the joined record when the outcome had already arrived (it is now queued).

        Raises:
            pydantic.ValidationError: a field breaks a record rule (named in the message).
        """
        fields = {
            "task_type": task_type,
            "task_description": task_description,
            "repo": repo,
            "model_tier": model_tier,
            "pool_type": pool_type,
            "routing_confidence": routing_confidence,
            "complexity_score": complexity_score,
            "cost_estimate": cost_estimate,
            "file_count": file_count,
            "estimated_tokens": estimated_tokens,
            "swarm_topology": swarm_topology,
            "metadata": metadata or {},
        }
        if timestamp is not None:
            fields["timestamp"] = timestamp
        self._expire_halves()
        joined = self._joiner.add_decision(_keyed(task_id, fields), fields)
        if joined is not None:
            await self.record(joined)
        return joined

    async def record_outcome(
        self,
        task_id: UUID | str,
        success: bool,
        duration_seconds: float,
        actual_cost: float | None = None,
        quality_score: float | None = None,
        error_type: ErrorType | str | None = None,
        error_message: str | None = None,
        *,
        user_accepted: bool | None = None,
        user_rating: int | None = None,
        peak_memory_mb: float | None = None,
        cpu_time_seconds: float | None = None,
        solution_summary: str | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> ExecutionRecord | None:
        """How a task went; joined with its routing decision by task_id (either may come first).

        Returns the joined record when the decision had already arrived (it is now queued).

        Raises:
            pydantic.ValidationError: the joined record breaks a rule (named in the message).
        """
        fields = {
            "success": success,
            "duration_seconds": duration_seconds,
            "actual_cost": actual_cost,
            "quality_score": quality_score,
            "error_type": error_type,
            "error_message": error_message,
            "user_accepted": user_accepted,
            "user_rating": user_rating,
            "peak_memory_mb": peak_memory_mb,
            "cpu_time_seconds": cpu_time_seconds,
            "solution_summary": solution_summary,
            "metadata": metadata or {},
        }
        self._expire_halves()
        joined = self._joiner.add_outcome(_keyed(task_id, fields), fields)
        if joined is not None:
            await self.record(joined)
        return joined

    async def record_feedback(
        self, task_id: UUID | str, *, accepted: bool | None = None, rating: int | None = None
    ) -> None:
        """A user's verdict on a task, whether or not its record has been written yet.

        Applied to the record if it is still buffered, else written to the store; if the
        store does not have the record yet (it is being written, is not joined yet, or the
        database is down), the feedback waits and is written right after the record is.

        Raises:
            ValueError: the rating is not 1-5, or neither value is given.
        """
        feedback = feedback_of(task_id, accepted, rating)
        for position, buffered in enumerate(self._buffer):
            if buffered.task_id == feedback.task_id:
                self._buffer[position] = buffered.model_copy(update=feedback.changes())
                self._counts["feedback_applied"] += 1
                return
        self._waiting_feedback.hold(feedback)
        if self._initialized and not self._closing:
            await self._write_waiting_feedback([feedback.task_id])

    def _expire_halves(self) -> None:
        expired = self._joiner.expire()
        if expired.decisions:
            self._counts["orphaned_decisions"] += len(expired.decisions)
            log.warning("routing decisions with no outcome expired: %s", expired.decisions)
        if expired.outcomes:
            self._counts["orphaned_outcomes"] += len(expired.outcomes)
            log.warning("outcomes with no routing decision expired: %s", expired.outcomes)


def _keyed(task_id: UUID | str, fields: dict[str, Any]) -> UUID:
    """The UUID a half is joined under; a string id that is not one is kept in metadata."""
    key, external = task_key(task_id)
    if external is not None:
        fields["metadata"] = {EXTERNAL_TASK_ID: external, **fields["metadata"]}
    return key
