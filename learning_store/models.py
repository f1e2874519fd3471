"""Records and results: `ExecutionRecord` with every rule a stored row obeys, and batch results."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Any
from uuid import UUID, uuid4, uuid5

import numpy as np
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    PlainSerializer,
    PlainValidator,
    ValidationError,
    WithJsonSchema,
    model_validator,
)

from learning_store.vectors import Vector

LEARNING_STORE_NAMESPACE = UUID("5c8c2a7e-3c1b-5d7a-9f0e-6b4d1a2c8e90")
"""The namespace of task ids made from other ids: a task id that is not a UUID (an
orchestrator's "task-abc-123", a queue's message id, a trace's span) is stored as
`uuid5(LEARNING_STORE_NAMESPACE, id)`, so any tool computes the same UUID from the same id."""
EXTERNAL_TASK_ID = "external_task_id"
"""The metadata key that keeps the id a UUID was made from."""


def task_key(value: object) -> tuple[UUID, str | None]:
    """The UUID a task id is stored under, and the id itself when it was not a UUID.

    A UUID in any usual spelling (hyphens or not, upper case, braces, `urn:uuid:`) stays
    itself; any other non-empty string becomes `uuid5(LEARNING_STORE_NAMESPACE, string)`.

    Raises:
        ValueError: the id is empty, or neither a UUID nor a string.
    """
    if isinstance(value, UUID):
        return value, None
    if not isinstance(value, str):
        raise ValueError(f"task_id: give a UUID or a string id, got {type(value).__name__}")
    if not value.strip():
        raise ValueError("task_id: must not be empty")
    if "\x00" in value:
        raise ValueError("task_id: must not contain NUL characters")
    try:
        return UUID(value.strip()), None
    except ValueError:
        return uuid5(LEARNING_STORE_NAMESPACE, value), value


def task_uuid(value: object) -> UUID:
    """The UUID a task id is stored under (see `task_key`)."""
    return task_key(value)[0]


EMBEDDING_DIMENSION = 384
"""Length of every stored embedding (all-MiniLM-L6-v2); the schema declares FLOAT[384]."""

# Named limits, so a rejected row says which one it broke.
MAX_LABEL_LENGTH = 256
"""Longest task_type, repo, model_tier, pool_type or swarm_topology, in characters."""
MAX_TEXT_LENGTH = 100_000
"""Longest task_description, error_message or solution_summary, in characters."""
MAX_METADATA_BYTES = 65_536
"""Largest metadata object, measured as its JSON text in UTF-8."""
MAX_METADATA_DEPTH = 32
"""Deepest nesting of objects and arrays inside metadata."""
MAX_INT32 = 2**31 - 1
MAX_INT64 = 2**63 - 1


class ErrorType(StrEnum):
    """The known reasons an execution failed; other short labels are kept verbatim."""

    TIMEOUT = "timeout"
    QUALITY_GATE = "quality_gate"
    CRASH = "crash"
    VALIDATION = "validation"
    UNKNOWN = "unknown"


def _checked_text(value: str) -> str:
    """Reject blank text and NUL characters (PostgreSQL cannot store NUL in text)."""
    if not value.strip():
        raise ValueError("must not be empty or only whitespace")
    if "\x00" in value:
        raise ValueError("must not contain NUL characters (\\x00)")
    _require_utf8(value)
    return value


def _require_utf8(text: str) -> None:
    """Reject lone surrogates: they cannot be stored as UTF-8 by any database."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("must be valid Unicode (it contains a lone surrogate character)") from None


def _checked_optional_text(value: str | None) -> str | None:
    """Like `_checked_text`, but None stays None."""
    return None if value is None else _checked_text(value)


def _checked_description(value: str) -> str:
    """Any text without NUL characters, empty included: the original stored empty prompts."""
    if "\x00" in value:
        raise ValueError("must not contain NUL characters (\\x00)")
    _require_utf8(value)
    return value


_KNOWN_ERROR_TYPES = {member.value: member for member in ErrorType}


def _error_label(value: Any) -> ErrorType | str | None:
    """A known error type (any case) as its `ErrorType`; any other short label verbatim."""
    if value is None or isinstance(value, ErrorType):
        return value
    if not isinstance(value, str):
        raise ValueError("must be a string such as 'timeout' or 'rate_limit', or None")
    known = _KNOWN_ERROR_TYPES.get(value.strip().lower())
    if known is not None:
        return known
    if len(value) > MAX_LABEL_LENGTH:
        raise ValueError(f"must be at most MAX_LABEL_LENGTH={MAX_LABEL_LENGTH} characters")
    return _checked_text(value)


def as_utc(value: datetime) -> datetime:
    """Take naive datetimes as UTC and convert aware ones to UTC."""
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def _float32_vector(value: Any) -> Vector | None:
    """An embedding at float32 precision (what the stores keep), checked for shape and NaN."""
    if value is None or (isinstance(value, Vector) and len(value) == EMBEDDING_DIMENSION):
        return value
    if isinstance(value, str | bytes | Mapping):
        raise ValueError(f"must be a sequence of {EMBEDDING_DIMENSION} numbers")
    try:
        with np.errstate(over="ignore"):  # too large for float32: inf, rejected below
            vector = np.asarray(value, dtype=np.float32)
    except (TypeError, ValueError):
        raise ValueError(f"must be a sequence of {EMBEDDING_DIMENSION} numbers") from None
    if vector.ndim != 1 or vector.shape[0] != EMBEDDING_DIMENSION:
        raise ValueError(
            f"must have exactly {EMBEDDING_DIMENSION} numbers, got shape {list(vector.shape)}"
        )
    if not np.isfinite(vector).all():
        raise ValueError("must contain only finite numbers (no NaN or infinity)")
    return Vector(vector)


def _check_metadata_tree(value: Any) -> None:
    """Depth and string rules for every key and value, walked without recursion."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, str):
            if "\x00" in item:
                raise ValueError("must not contain NUL characters (\\u0000)")
            _require_utf8(item)
        elif isinstance(item, Mapping | list | tuple):
            if depth > MAX_METADATA_DEPTH:
                raise ValueError(f"is nested deeper than MAX_METADATA_DEPTH={MAX_METADATA_DEPTH}")
            if isinstance(item, Mapping):
                stack.extend((key, depth) for key in item)
                stack.extend((child, depth + 1) for child in item.values())
            else:
                stack.extend((child, depth + 1) for child in item)


EXPONENT_FLOAT_LIMIT = 1e16
"""Floats at least this large are whole numbers written in exponent form, which PostgreSQL's
JSONB turns into integers; metadata keeps them as the equal int on every backend."""


def _json_float(text: str) -> float | int:
    value = float(text)
    return int(value) if abs(value) >= EXPONENT_FLOAT_LIMIT and math.isfinite(value) else value


def _checked_metadata(value: dict[str, Any]) -> dict[str, Any]:
    """Metadata must be a JSON object that round-trips exactly and stays within the limits."""
    _check_metadata_tree(value)
    try:
        text = json.dumps(value, allow_nan=False, ensure_ascii=False)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"must be JSON-serialisable with finite numbers ({exc})") from None
    if len(text.encode()) > MAX_METADATA_BYTES:
        raise ValueError(f"is larger than MAX_METADATA_BYTES={MAX_METADATA_BYTES} as JSON")
    restored: dict[str, Any] = json.loads(text, parse_float=_json_float)
    if restored != value:
        raise ValueError("must use string keys and JSON values only (it did not round-trip)")
    return restored


Label = Annotated[
    str, Field(min_length=1, max_length=MAX_LABEL_LENGTH), AfterValidator(_checked_text)
]
Description = Annotated[
    str, Field(max_length=MAX_TEXT_LENGTH), AfterValidator(_checked_description)
]
OptionalLabel = Annotated[
    str | None,
    Field(default=None, max_length=MAX_LABEL_LENGTH),
    AfterValidator(_checked_optional_text),
]
OptionalText = Annotated[
    str | None,
    Field(default=None, max_length=MAX_TEXT_LENGTH),
    AfterValidator(_checked_optional_text),
]
NonNegative = Annotated[float, Field(ge=0, allow_inf_nan=False)]
OptionalNonNegative = Annotated[float | None, Field(default=None, ge=0, allow_inf_nan=False)]
UtcDatetime = Annotated[datetime, AfterValidator(as_utc)]


def _with_task_uuid(data: Mapping[str, Any]) -> Mapping[str, Any]:
    """`data` with a string task_id that is not a UUID made one, the id kept in metadata."""
    given = data.get("task_id")
    if not isinstance(given, str):
        return data
    try:
        key, external = task_key(given)
    except ValueError:
        return data  # the field's own validation says why
    if external is None:
        return data
    metadata = data.get("metadata")
    kept = dict(metadata) if isinstance(metadata, Mapping) else {}
    kept.setdefault(EXTERNAL_TASK_ID, external)
    if metadata is not None and not isinstance(metadata, Mapping):
        return {**data, "task_id": key}  # the metadata's own validation says why
    return {**data, "task_id": key, "metadata": kept}


class ExecutionRecord(BaseModel):
    """One task execution: what the router chose, how it went, and what was learned.

    Validation enforces every rule a stored row obeys, so any record that exists is storable.
    `uploaded_at` is set by the store when the row is written; it is ignored on input.
    A keyword that is not a field is kept in `metadata` under its own name (an explicit
    metadata key of the same name wins), so a record from a newer router is never lost.
    Round trip: `model_dump()` / `model_validate()`, `model_dump_json()` /
    `model_validate_json()`, and the original system's `to_dict()` / `from_dict()`.
    """

    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)

    task_id: UUID = Field(default_factory=uuid4)
    timestamp: UtcDatetime = Field(default_factory=lambda: datetime.now(UTC))
    task_type: Label
    task_description: Description
    repo: Label
    file_count: int = Field(default=0, ge=0, le=MAX_INT32)
    estimated_tokens: int = Field(default=0, ge=0, le=MAX_INT64)
    model_tier: Label
    pool_type: Label
    swarm_topology: OptionalLabel = None
    routing_confidence: float = Field(ge=0, le=1, allow_inf_nan=False)
    complexity_score: float = Field(default=50, ge=0, le=100, allow_inf_nan=False)
    success: bool
    duration_seconds: NonNegative
    quality_score: float | None = Field(default=None, ge=0, le=100, allow_inf_nan=False)
    cost_estimate: NonNegative = 0.0
    actual_cost: OptionalNonNegative = None
    error_type: Annotated[
        ErrorType | str | None,
        PlainValidator(_error_label),
        PlainSerializer(lambda label: None if label is None else str(label)),
        WithJsonSchema({"type": ["string", "null"]}),
    ] = None
    error_message: OptionalText = None
    user_accepted: bool | None = None
    user_rating: int | None = Field(default=None, ge=1, le=5)
    peak_memory_mb: OptionalNonNegative = None
    cpu_time_seconds: OptionalNonNegative = None
    solution_summary: OptionalText = None
    embedding: Annotated[
        Vector | None,
        PlainValidator(_float32_vector),
        PlainSerializer(lambda vector: None if vector is None else vector.tolist()),
        WithJsonSchema({"type": "array", "items": {"type": "number"}}),
    ] = None
    metadata: Annotated[dict[str, Any], AfterValidator(_checked_metadata)] = Field(
        default_factory=dict
    )
    uploaded_at: UtcDatetime | None = None

    @model_validator(mode="before")
    @classmethod
    def _unknown_fields_into_metadata(cls, data: Any) -> Any:
        """Keep keywords that are not fields in `metadata`; NULL metadata reads as {}.

        A task_id that is not a UUID becomes one (`task_key`) and is kept in
        `metadata["external_task_id"]`.
        """
        if not isinstance(data, Mapping):
            return data
        data = _with_task_uuid(data)
        if _FIELD_NAMES.issuperset(data) and data.get("metadata", {}) is not None:
            return data
        unknown = [key for key in data if key not in _FIELD_NAMES]
        values = {key: value for key, value in data.items() if key in _FIELD_NAMES}
        metadata = data.get("metadata")
        if metadata is None:
            metadata = {}
        if unknown and isinstance(metadata, Mapping):
            metadata = {**{str(key): data[key] for key in unknown}, **metadata}
        values["metadata"] = metadata
        return values

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ExecutionRecord:
        """A record from a mapping of its fields (the original system's name for validation)."""
        return cls.model_validate(data)

    def to_dict(self) -> dict[str, Any]:
        """Every field as JSON-ready values: ids and times as strings, embedding as a list."""
        return self.model_dump(mode="json")

    def calculate_embedding_content(self) -> str:
        """The original system's embedding text: type, description, repo, tier, pool, topology.

        learning_store embeds `embedding_text()` instead: what the task asked, its type and
        repo, which is what a router knows before the task runs (see `embedding_text_of`).
        """
        parts = [self.task_type, self.task_description, self.repo, self.model_tier, self.pool_type]
        if self.swarm_topology:
            parts.append(self.swarm_topology)
        return " | ".join(parts)

    def calculate_prediction_error(self) -> dict[str, float]:
        """How far the actual cost was from the router's estimate (0 when either is unknown).

        `cost_error_abs` is actual - estimate; `cost_error_pct` is |actual - estimate| /
        estimate x 100, and 0 when the estimate is 0.
        """
        if self.actual_cost is None:
            return {"cost_error_pct": 0.0, "cost_error_abs": 0.0}
        difference = self.actual_cost - self.cost_estimate
        percent = abs(difference) / self.cost_estimate * 100 if self.cost_estimate else 0.0
        return {"cost_error_pct": percent, "cost_error_abs": difference}

    def embedding_text(self) -> str:
        """The text whose embedding represents this execution in semantic search."""
        return embedding_text_of(self.task_description, self.task_type, self.repo)

    def stored_fields(self) -> dict[str, Any]:
        """The fields that define the row, without `uploaded_at` (which the store sets)."""
        return self.model_dump(exclude={"uploaded_at"})


_FIELD_NAMES = frozenset(ExecutionRecord.model_fields)


def embedding_text_of(task_description: str | None, task_type: str, repo: str) -> str:
    """The embedded text of an execution, from its columns (also for rows read raw).

    Only what a router knows before the task runs: no solution summary, which exists
    mostly when a task succeeded and would draw a new task's neighbours toward past
    successes (a bias the advice measured: failures of the same description 12-34% closer).
    """
    return f"{task_description or ''}\nTask type: {task_type}. Repository: {repo}."


def rejection_reason(error: ValidationError) -> str:
    """One readable line per broken rule: 'field: what is wrong (got value)'."""
    parts = []
    for item in error.errors(include_url=False):
        where = ".".join(str(part) for part in item["loc"]) or "record"
        message = item["msg"].removeprefix("Value error, ")
        if item["type"] == "missing":
            parts.append(f"{where}: required field is missing")
            continue
        if item["type"] == "extra_forbidden":
            parts.append(f"{where}: unknown field (check the spelling against ExecutionRecord)")
            continue
        shown = _preview(item.get("input"))
        parts.append(f"{where}: {message} (got {shown})")
    return "; ".join(parts)


def _preview(value: Any, limit: int = 60) -> str:
    """A short repr of an offending value, so a 1 MB string does not flood the report."""
    if isinstance(value, float) and not math.isfinite(value):
        return repr(value)
    if isinstance(value, Sequence) and not isinstance(value, str | bytes) and len(value) > 8:
        return f"<{type(value).__name__} of length {len(value)}>"
    text = repr(value)
    return text if len(text) <= limit else f"{text[: limit - 3]}... ({len(text)} chars)"


def task_id_of(raw: Any) -> UUID | None:
    """Best-effort task_id of a raw input row, for reporting a rejected row."""
    value = raw.task_id if isinstance(raw, ExecutionRecord) else None
    if isinstance(raw, Mapping):
        value = raw.get("task_id")
    try:
        return None if value is None else task_uuid(value)
    except ValueError:
        return None
