"""The MCP tools over one `LearningDatabase`: what an agent can ask and record.

Each tool's arguments are named as in the Python API, its result is a typed model
(`schemas`) built from the Python API's answer, and its description says when an agent
should call it. Bad input (an unknown or malformed task_id, a rating of 9, a record that
breaks a rule) comes back as a tool error carrying the message the CLI prints; the server
keeps serving.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable
from typing import Annotated, Any, TypeVar
from uuid import UUID

from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from pydantic import Field, ValidationError

from learning_store.api import LearningDatabase
from learning_store.errors import LearningStoreError
from learning_store.mcp.schemas import (
    ExecutionDetails,
    FeedbackOutcome,
    Recommendation,
    RecordOutcome,
    SimilarExecutionItem,
    SimilarExecutions,
    StoreStatistics,
    TierEstimateItem,
    TierPerformanceItem,
    TierPerformanceRows,
)
from learning_store.models import ExecutionRecord, task_uuid

INSTRUCTIONS = (
    "learning_store records every task an LLM orchestrator ran: which model tier and worker "
    "pool ran it and how it went. Before routing a task, call recommend_tier (which tier to "
    "use) or find_similar (what happened to tasks like it). After a task ran, call "
    "record_execution; when the user judges the result, call record_feedback."
)
WRITE_TOOLS = ("record_execution", "record_feedback")
"""Left out of a server started with `--read-only`: not listed, not callable."""
RECORD_FIELDS = [
    name for name in ExecutionRecord.model_fields if name not in ("embedding", "uploaded_at")
]
"""What `record_execution` takes: a record's fields (the store computes the embedding)."""

T = TypeVar("T")


def build_server(db: LearningDatabase, *, read_only: bool = False) -> MCPServer:
    """An MCP server whose tools call `db` (initialized by the caller, closed by it too)."""
    server = MCPServer(name="learning-store", instructions=INSTRUCTIONS)

    @server.tool()
    async def find_similar(
        task_description: Annotated[str, Field(description="The task, as the router sees it.")],
        repo: Annotated[str | None, Field(description="Only this repository's tasks.")] = None,
        limit: Annotated[int, Field(ge=1, le=100, description="How many at most.")] = 10,
        days_back: Annotated[int, Field(ge=1, description="Only tasks this recent.")] = 90,
        threshold: Annotated[
            float, Field(ge=-1, le=1, description="Least cosine similarity (0.7: close).")
        ] = 0.7,
    ) -> SimilarExecutions:
        """Find past executions of tasks like this one, most similar first.

        Call it before routing or starting a task, to see which tier and pool ran similar
        tasks, whether they succeeded, and the solutions that worked.
        """
        found = await _answered(
            db.find_similar_executions(task_description, repo, limit, days_back, threshold)
        )
        return SimilarExecutions(executions=[SimilarExecutionItem(**item) for item in found])

    @server.tool()
    async def recommend_tier(
        task_description: Annotated[str, Field(description="The task, as the router sees it.")],
        repo: Annotated[str | None, Field(description="Only this repository's history.")] = None,
        task_type: Annotated[
            str | None, Field(description="The task's type (default: that of its nearest).")
        ] = None,
        complexity_score: Annotated[
            float | None, Field(ge=0, le=100, description="The router's complexity estimate.")
        ] = None,
        min_success: Annotated[
            float | None,
            Field(ge=0, le=1, description="Want the cheapest tier expected to reach this."),
        ] = None,
    ) -> Recommendation:
        """Recommend the model tier to run a task on.

        Each tier gets its expected success, cost and duration from similar past
        executions. Call it when choosing a tier; with min_success, the answer is the
        cheapest tier expected to succeed at least that often.
        """
        advice = await _answered(
            db.recommend_tier(
                task_description,
                repo=repo,
                task_type=task_type,
                complexity_score=complexity_score,
                min_success=min_success,
            )
        )
        return Recommendation(
            tier=advice.tier,
            reason=advice.reason,
            estimates=[TierEstimateItem(**item.to_dict()) for item in advice.estimates],
        )

    @server.tool()
    async def tier_performance(
        repo: Annotated[str | None, Field(description="Only this repository.")] = None,
        days_back: Annotated[int, Field(ge=1, description="Window in days.")] = 7,
    ) -> TierPerformanceRows:
        """How each model tier did lately, per repo, tier, task type and UTC day.

        Executions, success rate, durations, cost and user feedback. Call it to compare
        tiers overall, not for one task (use recommend_tier for that).
        """
        rows = await _answered(db.get_tier_performance(repo, days_back))
        return TierPerformanceRows(rows=[TierPerformanceItem(**row) for row in rows])

    @server.tool()
    async def stats() -> StoreStatistics:
        """How many executions the store holds, from when to when, and per repository.

        Also how many it cannot use: rows that break a rule, rows without an embedding.
        """
        summary = await _answered(db.get_stats())
        return StoreStatistics(
            total=summary.total,
            oldest=None if summary.oldest is None else summary.oldest.isoformat(),
            newest=None if summary.newest is None else summary.newest.isoformat(),
            per_repo=dict(summary.per_repo),
            invalid_rows=summary.invalid_rows,
            without_embedding=summary.without_embedding,
        )

    @server.tool()
    async def get_execution(
        task_id: Annotated[str, Field(description="The execution's task_id.")],
    ) -> ExecutionDetails:
        """One stored execution, every field but its embedding; an error when unknown.

        Call it to read the details of an execution find_similar returned.
        """
        key = _task_id(task_id)
        found = await _answered(db.get(key))
        if found is None:
            raise ToolError(f"task_id: no execution {task_id!r} is stored")
        details = found.to_dict()
        details["has_embedding"] = details.pop("embedding") is not None
        return ExecutionDetails(**details)

    if not read_only:
        server.add_tool(_record_execution(db), name="record_execution")

        @server.tool()
        async def record_feedback(
            task_id: Annotated[str, Field(description="The execution's task_id.")],
            accepted: Annotated[
                bool | None, Field(description="Did the user accept the result?")
            ] = None,
            rating: Annotated[
                int | None, Field(description="The user's rating, 1 (worst) to 5 (best).")
            ] = None,
        ) -> FeedbackOutcome:
            """Record the user's judgement of an execution's result.

            Accepted or not, and/or a rating from 1 to 5. Only what is given changes, so
            repeating it is harmless.
            """
            key = _task_id(task_id)
            updated = await _answered(db.record_feedback(key, accepted=accepted, rating=rating))
            if not updated:
                raise ToolError(f"task_id: no execution {task_id!r} is stored")
            return FeedbackOutcome(task_id=str(key), updated=True)

    return server


def _record_execution(db: LearningDatabase) -> Callable[..., Awaitable[RecordOutcome]]:
    """The `record_execution` tool: one argument per record field, typed like the record."""

    async def record_execution(**fields: Any) -> RecordOutcome:
        given = {name: value for name, value in fields.items() if value is not None}
        result = await _answered(db.store_batch([given]))
        if result.rejected:
            rejected = result.rejected[0]
            task_id = None if rejected.task_id is None else str(rejected.task_id)
            return RecordOutcome(status="rejected", task_id=task_id, reasons=[rejected.reason])
        task_id = str(given.get("task_id")) if given.get("task_id") is not None else None
        if result.stored:
            return RecordOutcome(status="stored", task_id=task_id, reasons=[])
        return RecordOutcome(status="duplicate", task_id=task_id, reasons=[])

    parameters = []
    annotations: dict[str, Any] = {"return": RecordOutcome}
    for name in RECORD_FIELDS:
        field = ExecutionRecord.model_fields[name]
        kind: Any = str if name == "task_id" else field.annotation  # any string id is kept
        if not field.is_required():
            kind = kind | None
        note = Field(description=field.description or _describe(name))
        described: Any = Annotated[kind, note]
        annotations[name] = described
        default = inspect.Parameter.empty if field.is_required() else None
        parameters.append(
            inspect.Parameter(
                name, inspect.Parameter.KEYWORD_ONLY, default=default, annotation=described
            )
        )
    record_execution.__signature__ = inspect.Signature(parameters, return_annotation=RecordOutcome)  # type: ignore[attr-defined]
    record_execution.__annotations__ = annotations
    record_execution.__doc__ = (
        "Record one finished task execution: what the router chose (model_tier, pool_type, "
        "routing_confidence) and how it went (success, duration_seconds, costs, errors). "
        "Call it once a task ran. Recording the same task_id again stores nothing new; a "
        "record that breaks a rule comes back 'rejected' with the reason."
    )
    return record_execution


_FIELD_NOTES = {
    "task_id": "A UUID or any string id (a new UUID when left out); stored once.",
    "timestamp": "When the task ran (ISO 8601; default: now).",
    "task_type": "The kind of task, e.g. refactor or bugfix.",
    "task_description": "What the task asked for (what find_similar compares).",
    "repo": "The repository the task worked on.",
    "model_tier": "The model tier that ran it, e.g. small, medium or large.",
    "pool_type": "The worker pool that ran it.",
    "routing_confidence": "The router's confidence in its choice, 0 to 1.",
    "success": "Whether the task succeeded.",
    "duration_seconds": "How long it ran.",
    "metadata": "Anything else, as a JSON object.",
}


def _describe(name: str) -> str:
    return _FIELD_NOTES.get(name, name.replace("_", " "))


def _task_id(value: str) -> UUID:
    """A task_id argument as the store keys it (any string: see `models.task_key`)."""
    try:
        return task_uuid(value)
    except ValueError as error:
        raise ToolError(str(error)) from None


async def _answered(call: Awaitable[T]) -> T:
    """Await the Python API; its user errors become tool errors with the CLI's message."""
    try:
        return await call
    except ToolError:
        raise
    except (LearningStoreError, ValidationError, ValueError) as error:
        raise ToolError(str(error).replace("\n", " ")) from None
