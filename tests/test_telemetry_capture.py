"""TelemetryCapture: the original's dict-based capture, over RoutingTelemetry."""

from __future__ import annotations

import json
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Any
from uuid import uuid4

import pytest

from learning_store import (
    InMemoryExecutionRepository,
    LearningConfig,
    LearningDatabase,
    MessageBus,
    TelemetryCapture,
)

HASHING = LearningConfig(embedding_model="hashing")


class InProcessBus:
    """A minimal async message bus: delivers each published event to its subscribers."""

    def __init__(self) -> None:
        self.handlers: dict[str, list[Any]] = {}
        self.published: list[tuple[str, dict[str, Any]]] = []

    async def subscribe(self, event_type: str, handler: Any) -> None:
        self.handlers.setdefault(event_type, []).append(handler)

    async def publish(self, event_type: str, payload: dict[str, Any]) -> None:
        self.published.append((event_type, payload))
        for handler in self.handlers.get(event_type, []):
            await handler(payload)


class Tier(Enum):
    MEDIUM = "medium"


@dataclass
class Decision:
    """A router's decision object, with the attribute names routers use."""

    tier: Tier
    pool: str
    confidence: float
    complexity: int
    estimated_cost: float


def decision_event(task_id: str, routing: Any) -> dict[str, Any]:
    return {
        "task_id": task_id,
        "routing": routing,
        "timestamp": "2026-11-29T10:00:00+00:00",
        "task_data": {
            "type": "refactor",
            "description": "speed up the orders query",
            "repo": "shop",
            "files": ["a.py", "b.py"],
            "estimated_tokens": 1200,
            "priority": "high",
        },
    }


def outcome_event(task_id: str) -> dict[str, Any]:
    return {
        "task_id": task_id,
        "success": False,
        "duration_seconds": 12.5,
        "quality_score": 40,
        "error_type": "rate_limit",
        "error_message": "429 from the provider",
        "actual_cost": 0.02,
        "pool_id": "pool-7",
    }


async def test_decision_and_outcome_dicts_become_one_stored_record(tmp_path: Path) -> None:
    bus = InProcessBus()
    assert isinstance(bus, MessageBus)
    repository = InMemoryExecutionRepository()
    db = LearningDatabase(repository=repository, config=HASHING)
    capture = TelemetryCapture(bus, batch_size=10, batch_timeout=0.05, learning_db=db)
    await capture.initialize()
    as_object, as_dict = str(uuid4()), str(uuid4())
    await capture.capture_routing_decision(
        decision_event(as_object, Decision(Tier.MEDIUM, "workers", 0.8, 70, 0.01))
    )
    routing = {"model_tier": "large", "pool_type": "gpu", "routing_confidence": 0.6}
    await capture.capture_routing_decision(decision_event(as_dict, routing))
    assert capture.get_routing_decisions_count() == 2
    await bus.publish("task_completed", outcome_event(as_object))  # through the bus
    joined = await capture.capture_execution_outcome(outcome_event(as_dict))  # directly
    assert joined is not None and joined.model_tier == "large"
    assert capture.get_routing_decisions_count() == 0
    await capture.shutdown()

    stored = repository.get(as_object)
    assert (stored.model_tier, stored.pool_type, stored.complexity_score) == (
        "medium",
        "workers",
        70,
    )
    assert (stored.file_count, stored.estimated_tokens, stored.cost_estimate) == (2, 1200, 0.01)
    assert (stored.error_type, stored.actual_cost, stored.success) == ("rate_limit", 0.02, False)
    assert stored.metadata == {"priority": "high", "pool_id": "pool-7"}
    assert stored.timestamp.isoformat() == "2026-11-29T10:00:00+00:00"
    assert repository.get(as_dict).routing_confidence == 0.6
    records = [payload for event, payload in bus.published if event == "execution_record"]
    assert sorted(r["task_id"] for r in records) == sorted([as_object, as_dict])
    json.dumps(records)
    assert capture.stats.stored == 2 and capture.stats.balanced


async def test_outcome_first_and_waiting_counts(tmp_path: Path) -> None:
    db = LearningDatabase(repository=InMemoryExecutionRepository(), config=HASHING)
    capture = TelemetryCapture(learning_db=db)  # no bus
    async with capture:
        task_id = str(uuid4())
        assert await capture.capture_execution_outcome(outcome_event(task_id)) is None
        assert capture.get_execution_outcomes_count() == 1
        routing = {"tier": "small", "pool": "cpu", "confidence": 0.9}
        assert await capture.capture_routing_decision(decision_event(task_id, routing))
        assert capture.get_execution_outcomes_count() == 0
        assert await capture.flush() == 1
        with pytest.raises(ValueError, match="task_id"):
            await capture.capture_execution_outcome({"success": True})
        with pytest.raises(ValueError, match="success"):  # never recorded as a failure
            await capture.capture_execution_outcome({"task_id": task_id, "duration_seconds": 1})
        with pytest.raises(ValueError, match="duration_seconds"):
            await capture.capture_execution_outcome({"task_id": task_id, "success": True})
