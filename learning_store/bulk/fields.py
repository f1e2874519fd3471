"""What the vectorised validator knows about each input column: its kind, default and bounds.

The facts mirror `ExecutionRecord`'s declarations; `tests/test_bulk_validation.py` holds
the two together on generated hostile rows, so a rule changed in one place and not the
other fails there.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum, auto
from typing import Any

from learning_store.models import MAX_INT32, MAX_INT64, MAX_LABEL_LENGTH, MAX_TEXT_LENGTH


class Kind(Enum):
    """How a column is converted and checked."""

    UUID = auto()
    TIME = auto()
    TEXT = auto()
    ERROR_LABEL = auto()
    INT = auto()
    FLOAT = auto()
    BOOL = auto()
    EMBEDDING = auto()
    METADATA = auto()


NO_DEFAULT = object()
"""A required field: absent or null sends the row to the exact validator (which rejects)."""


@dataclass(frozen=True, slots=True)
class FieldRule:
    """One input column: what it holds and what a valid value obeys."""

    name: str
    kind: Kind
    default: Any = None
    """The value an absent field takes; `NO_DEFAULT` when the field is required."""
    low: float | None = None
    high: float | None = None
    max_length: int | None = None
    may_be_blank: bool = False
    """Text that may be empty or whitespace (only task_description)."""

    @property
    def required(self) -> bool:
        """Absent or null is an error."""
        return self.default is NO_DEFAULT


def _label(name: str, default: Any = NO_DEFAULT) -> FieldRule:
    return FieldRule(name, Kind.TEXT, default, max_length=MAX_LABEL_LENGTH)


def _text(name: str) -> FieldRule:
    return FieldRule(name, Kind.TEXT, None, max_length=MAX_TEXT_LENGTH)


def _amount(name: str, default: Any = None) -> FieldRule:
    return FieldRule(name, Kind.FLOAT, default, low=0)


FIELD_RULES: tuple[FieldRule, ...] = (
    FieldRule("task_id", Kind.UUID),  # absent: a new uuid4, as the record's default
    FieldRule("timestamp", Kind.TIME),  # absent: now
    _label("task_type"),
    FieldRule(
        "task_description", Kind.TEXT, NO_DEFAULT, max_length=MAX_TEXT_LENGTH, may_be_blank=True
    ),
    _label("repo"),
    FieldRule("file_count", Kind.INT, 0, low=0, high=MAX_INT32),
    FieldRule("estimated_tokens", Kind.INT, 0, low=0, high=MAX_INT64),
    _label("model_tier"),
    _label("pool_type"),
    _label("swarm_topology", None),
    FieldRule("routing_confidence", Kind.FLOAT, NO_DEFAULT, low=0, high=1),
    FieldRule("complexity_score", Kind.FLOAT, 50.0, low=0, high=100),
    FieldRule("success", Kind.BOOL, NO_DEFAULT),
    _amount("duration_seconds", NO_DEFAULT),
    FieldRule("quality_score", Kind.FLOAT, None, low=0, high=100),
    _amount("cost_estimate", 0.0),
    _amount("actual_cost"),
    FieldRule("error_type", Kind.ERROR_LABEL, None, max_length=MAX_LABEL_LENGTH),
    _text("error_message"),
    FieldRule("user_accepted", Kind.BOOL, None),
    FieldRule("user_rating", Kind.INT, None, low=1, high=5),
    _amount("peak_memory_mb"),
    _amount("cpu_time_seconds"),
    _text("solution_summary"),
    FieldRule("embedding", Kind.EMBEDDING, None),
    FieldRule("metadata", Kind.METADATA, None),  # absent or null: {}
)
"""Every input field in column order; `uploaded_at` is set by the store, not read."""

RULE_NAMES = frozenset(rule.name for rule in FIELD_RULES)
