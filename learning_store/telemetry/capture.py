"""`TelemetryCapture`: the original system's dict-based capture, over `RoutingTelemetry`.

A router (or its message bus) hands over two dicts per task, in either order: the routing
decision and the execution outcome. The capture turns them into `RoutingTelemetry`'s
decision and outcome calls, so buffering, retries, the disk spool and the stats are the
same; each joined record is published on the bus as an `execution_record` event.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime
from enum import Enum
from typing import Any, Protocol, Self, runtime_checkable

from learning_store.api import LearningDatabase
from learning_store.models import ExecutionRecord
from learning_store.telemetry.routing import RoutingTelemetry
from learning_store.telemetry.stats import TelemetryStats

log = logging.getLogger("learning_store.telemetry")

TASK_COMPLETED = "task_completed"
"""The bus event whose payload is an execution outcome (subscribed by `initialize`)."""
EXECUTION_RECORD = "execution_record"
"""The bus event published with each complete record (`ExecutionRecord.to_dict()`)."""

Handler = Callable[[dict[str, Any]], Awaitable[None] | None]


@runtime_checkable
class MessageBus(Protocol):
    """What the capture needs of a message bus; either method may be sync or async."""

    def subscribe(self, event_type: str, handler: Handler) -> Any:
        """Call `handler(payload)` for every event of this type."""
        ...

    def publish(self, event_type: str, payload: dict[str, Any]) -> Any:
        """Send an event to the subscribers of its type."""
        ...


# Names a router's decision object may use for each field, ours first.
_ROUTING_NAMES = {
    "model_tier": ("model_tier", "tier"),
    "pool_type": ("pool_type", "pool"),
    "routing_confidence": ("routing_confidence", "confidence"),
    "complexity_score": ("complexity_score", "complexity"),
    "cost_estimate": ("cost_estimate", "estimated_cost", "cost"),
    "swarm_topology": ("swarm_topology", "topology"),
}
_TASK_DATA_FIELDS = {"type", "task_type", "description", "repo", "files", "estimated_tokens"}
_OUTCOME_FIELDS = (
    "success",
    "duration_seconds",
    "quality_score",
    "error_type",
    "error_message",
    "actual_cost",
)


class TelemetryCapture:
    """Capture routing decisions and outcomes as dicts; store each joined record.

    With no `learning_db`, `initialize()` opens the default `LearningDatabase` (from
    `LearningConfig`) and `shutdown()` closes it.
    """

    def __init__(
        self,
        message_bus: MessageBus | None = None,
        batch_size: int = 100,
        batch_timeout: float = 5.0,
        *,
        learning_db: LearningDatabase | None = None,
    ) -> None:
        self.message_bus = message_bus
        self._owns_db = learning_db is None
        self.learning_db = learning_db or LearningDatabase()
        self.telemetry = RoutingTelemetry(
            self.learning_db, batch_size=batch_size, flush_interval=batch_timeout
        )

    async def initialize(self) -> None:
        """Open the store, start batching, and subscribe to task-completed events."""
        await self.telemetry.initialize()
        if self.message_bus is not None:
            await _settled(self.message_bus.subscribe(TASK_COMPLETED, self._on_task_completed))

    async def capture_routing_decision(self, data: Mapping[str, Any]) -> ExecutionRecord | None:
        """A routing decision: `{"task_id", "routing", "timestamp", "task_data": {...}}`.

        `routing` may be an object with attributes or a dict (tier, pool, confidence,
        complexity, cost estimate). Returns the record if the outcome was already here.

        Raises:
            ValueError: a required value is missing or breaks a record rule.
        """
        routing = data.get("routing")
        task = dict(data.get("task_data") or {})
        fields = {name: _routing_value(routing, names) for name, names in _ROUTING_NAMES.items()}
        files = task.get("files", 0)
        extra = {key: value for key, value in task.items() if key not in _TASK_DATA_FIELDS}
        joined = await self.telemetry.record_routing_decision(
            _task_id(data),
            task.get("type") or task.get("task_type"),  # type: ignore[arg-type] # checked there
            task.get("description") or "",
            task.get("repo"),  # type: ignore[arg-type] # the record's rules check it
            fields["model_tier"],
            fields["pool_type"],
            fields["routing_confidence"],
            _or(fields["complexity_score"], 50),
            _or(fields["cost_estimate"], 0.0),
            file_count=len(files) if isinstance(files, list | tuple) else int(files or 0),
            estimated_tokens=int(task.get("estimated_tokens") or 0),
            swarm_topology=fields["swarm_topology"],
            timestamp=_moment(data.get("timestamp")),
            metadata=extra,
        )
        await self._publish(joined)
        return joined

    async def capture_execution_outcome(self, data: Mapping[str, Any]) -> ExecutionRecord | None:
        """An outcome: `{"task_id", "success", "duration_seconds", "quality_score", ...}`.

        `pool_id` and any other key are kept in the record's metadata. Returns the record
        if the routing decision was already here.
        """
        task_id = _task_id(data)
        missing = [name for name in ("success", "duration_seconds") if data.get(name) is None]
        if missing:
            raise ValueError(
                f"{', '.join(missing)}: required in an execution outcome (task {task_id})"
            )
        values: dict[str, Any] = {name: data.get(name) for name in _OUTCOME_FIELDS}
        extra = {
            key: value
            for key, value in data.items()
            if key not in _OUTCOME_FIELDS and key not in {"task_id", "timestamp"}
        }
        joined = await self.telemetry.record_outcome(
            task_id,
            bool(values["success"]),
            float(values["duration_seconds"]),
            actual_cost=values["actual_cost"],
            quality_score=values["quality_score"],
            error_type=_label(values["error_type"]),
            error_message=values["error_message"],
            metadata=extra,
        )
        await self._publish(joined)
        return joined

    def get_routing_decisions_count(self) -> int:
        """Routing decisions waiting for their outcome."""
        return self.telemetry.stats.awaiting_outcome

    def get_execution_outcomes_count(self) -> int:
        """Outcomes waiting for their routing decision."""
        return self.telemetry.stats.awaiting_decision

    @property
    def stats(self) -> TelemetryStats:
        """The underlying `RoutingTelemetry` counters."""
        return self.telemetry.stats

    async def flush(self) -> int:
        """Write every complete record now; return how many were stored."""
        return await self.telemetry.flush()

    async def shutdown(self) -> None:
        """Write (or spool) everything pending; close the store if this capture opened it."""
        await self.telemetry.shutdown()
        if self._owns_db:
            await self.learning_db.close()

    async def __aenter__(self) -> Self:
        await self.initialize()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.shutdown()

    async def _on_task_completed(self, payload: dict[str, Any]) -> None:
        try:
            await self.capture_execution_outcome(payload)
        except Exception:  # one bad event must not break the bus's delivery loop
            log.exception("task_completed event could not be captured: %r", payload)

    async def _publish(self, record: ExecutionRecord | None) -> None:
        if record is None or self.message_bus is None:
            return
        try:
            await _settled(self.message_bus.publish(EXECUTION_RECORD, record.to_dict()))
        except Exception:  # the record is queued for the store either way
            log.exception("could not publish execution_record for task %s", record.task_id)


async def _settled(result: Any) -> Any:
    """Await `result` if the bus returned an awaitable (async buses), else return it."""
    return await result if inspect.isawaitable(result) else result


def _task_id(data: Mapping[str, Any]) -> Any:
    if data.get("task_id") is None:
        raise ValueError("task_id: required in every captured event (the key that joins them)")
    return data["task_id"]


def _routing_value(routing: Any, names: tuple[str, ...]) -> Any:
    """The first of `names` that a decision object (or dict) has, as a plain value."""
    for name in names:
        value = routing.get(name) if isinstance(routing, Mapping) else getattr(routing, name, None)
        if value is not None:
            return _label(value)
    return None


def _label(value: Any) -> Any:
    """An enum member as its value (routers often use enums for tiers and pools)."""
    return value.value if isinstance(value, Enum) else value


def _or(value: Any, default: Any) -> Any:
    return default if value is None else value


def _moment(value: Any) -> datetime | None:
    """A timestamp given as a datetime, an ISO string or seconds since the epoch."""
    if value is None or isinstance(value, datetime):
        return value
    if isinstance(value, int | float):
        return datetime.fromtimestamp(value, UTC)
    return datetime.fromisoformat(str(value))
