"""Join routing decisions and outcomes that arrive separately into one ExecutionRecord."""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from learning_store.models import ExecutionRecord

DECISION_PLACEHOLDER = {"success": False, "duration_seconds": 0.0}
"""Outcome fields used to validate a decision before its outcome exists."""


@dataclass
class Expired:
    """Halves that waited past their time-to-live, removed from the joiner."""

    decisions: list[UUID]
    outcomes: list[UUID]


class DecisionOutcomeJoiner:
    """Holds whichever half arrives first until the other half comes or its TTL runs out.

    Memory is bounded: each side keeps at most `max_waiting` entries (the oldest is expired
    first) and nothing stays longer than `ttl_seconds`.
    """

    def __init__(
        self, ttl_seconds: float, max_waiting: int, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.ttl_seconds = ttl_seconds
        self.max_waiting = max_waiting
        self._clock = clock
        self._decisions: OrderedDict[UUID, tuple[float, dict[str, Any]]] = OrderedDict()
        self._outcomes: OrderedDict[UUID, tuple[float, dict[str, Any]]] = OrderedDict()

    def add_decision(self, task_id: UUID, fields: dict[str, Any]) -> ExecutionRecord | None:
        """Validate and keep a decision; returns the joined record if its outcome came first."""
        ExecutionRecord.model_validate({**DECISION_PLACEHOLDER, **fields, "task_id": task_id})
        outcome = self._outcomes.pop(task_id, None)
        if outcome is not None:
            return _join(task_id, fields, outcome[1])
        self._decisions[task_id] = (self._clock(), fields)
        return None

    def add_outcome(self, task_id: UUID, fields: dict[str, Any]) -> ExecutionRecord | None:
        """Keep an outcome; returns the joined record if its decision is already here."""
        decision = self._decisions.get(task_id)
        if decision is not None:
            record = _join(task_id, decision[1], fields)  # raises before anything is removed
            del self._decisions[task_id]
            return record
        self._outcomes[task_id] = (self._clock(), fields)
        return None

    def expire(self) -> Expired:
        """Remove and return halves older than the TTL or beyond the size bound."""
        deadline = self._clock() - self.ttl_seconds
        return Expired(
            _expire(self._decisions, deadline, self.max_waiting),
            _expire(self._outcomes, deadline, self.max_waiting),
        )

    @property
    def waiting_decisions(self) -> int:
        """Decisions waiting for an outcome."""
        return len(self._decisions)

    @property
    def waiting_outcomes(self) -> int:
        """Outcomes waiting for a decision."""
        return len(self._outcomes)


def _join(task_id: UUID, decision: dict[str, Any], outcome: dict[str, Any]) -> ExecutionRecord:
    """One record from both halves; metadata from both is merged (the outcome's wins)."""
    metadata = {**decision.get("metadata", {}), **outcome.get("metadata", {})}
    return ExecutionRecord.model_validate(
        {**decision, **outcome, "task_id": task_id, "metadata": metadata}
    )


def _expire(
    waiting: OrderedDict[UUID, tuple[float, dict[str, Any]]], deadline: float, max_waiting: int
) -> list[UUID]:
    expired = []
    while waiting:
        task_id, (arrived, _) = next(iter(waiting.items()))
        if arrived > deadline and len(waiting) <= max_waiting:
            break
        waiting.popitem(last=False)
        expired.append(task_id)
    return expired
