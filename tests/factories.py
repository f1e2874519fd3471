"""Test data: valid execution rows with controllable fields."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import numpy as np

from learning_store import EMBEDDING_DIMENSION, ExecutionRecord

NOW = datetime.now(UTC).replace(microsecond=0)


def task_uuid(number: int) -> UUID:
    """A deterministic task_id, so tests can name rows by number."""
    return UUID(int=number + 1)


def row(number: int = 0, **overrides: Any) -> dict[str, Any]:
    """A valid plain-mapping row; `number` picks its task_id and varies its content."""
    values: dict[str, Any] = {
        "task_id": str(task_uuid(number)),
        "timestamp": NOW - timedelta(minutes=number),
        "task_type": "refactor",
        "task_description": f"Optimize query {number}",
        "repo": "mahavishnu",
        "file_count": 1,
        "estimated_tokens": 1000,
        "model_tier": "medium",
        "pool_type": "mahavishnu",
        "routing_confidence": 0.85,
        "complexity_score": 65,
        "success": True,
        "duration_seconds": 45.2,
        "cost_estimate": 0.003,
        "actual_cost": 0.0032,
    }
    values.update(overrides)
    return values


def record(number: int = 0, **overrides: Any) -> ExecutionRecord:
    """A valid `ExecutionRecord` (see `row`)."""
    return ExecutionRecord.model_validate(row(number, **overrides))


def unit_vector(seed: int) -> list[float]:
    """A deterministic random unit vector of the stored dimension."""
    vector = np.random.default_rng(seed).normal(size=EMBEDDING_DIMENSION)
    return (vector / np.linalg.norm(vector)).astype(np.float32).tolist()


def stored_view(item: ExecutionRecord) -> dict[str, Any]:
    """What must read back unchanged: every field except the store-set uploaded_at."""
    return item.stored_fields()
