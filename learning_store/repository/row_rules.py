"""The record rules as one SQL condition, so reads survive rows written by other tools.

Scripts and dashboards write the `executions` table with plain SQL, so a stored row may
break a rule `ExecutionRecord` enforces (a negative duration, a score of 250, NaN). The
policy, the same on every backend: such a row is left out of every read (get, list,
count, iter_chunks, search, analytics, export, report) and counted by `stats()` as
`invalid_rows`; `learning-store db check` lists them. Nothing is changed or deleted.

Where reading loses nothing, rows are read leniently instead: NULL metadata reads as {},
a naive timestamp as UTC, an unknown error_type verbatim, and an embedding that is not
384 finite numbers as None (the row is kept but not searchable until it is re-embedded).
"""

from __future__ import annotations

from functools import cache
from typing import Any

import sqlalchemy as sa
from pydantic import ValidationError
from sqlalchemy.engine import Connection

from learning_store.models import (
    MAX_INT32,
    MAX_LABEL_LENGTH,
    MAX_TEXT_LENGTH,
    ExecutionRecord,
    rejection_reason,
)
from learning_store.schema import executions

_t = executions.c
_FINITE_LIMIT: sa.ColumnElement[float] = sa.literal(1e308, sa.Double())
"""Every finite stored float is below this; infinity and NaN (which sorts above it) are not."""

_REQUIRED_LABELS = ("task_type", "repo", "model_tier", "pool_type")
_OPTIONAL_LABELS = ("swarm_topology", "error_type")
_OPTIONAL_TEXTS = ("error_message", "solution_summary")
_NON_NEGATIVE = ("duration_seconds", "cost_estimate")
_OPTIONAL_NON_NEGATIVE = ("actual_cost", "peak_memory_mb", "cpu_time_seconds")


def _filled(column: Any, longest: int) -> sa.ColumnElement[bool]:
    length = sa.func.length(column)
    return sa.and_(sa.func.length(sa.func.trim(column)) > 0, length <= longest)


def _finite_at_least_zero(column: Any) -> sa.ColumnElement[bool]:
    """`x >= 0` and finite: NaN sorts above infinity on DuckDB and PostgreSQL alike."""
    return sa.and_(column >= 0, column < _FINITE_LIMIT)


def _json_object(dialect: str, metadata: Any) -> sa.ColumnElement[bool]:
    if dialect == "postgresql":
        return sa.or_(metadata.is_(None), sa.func.jsonb_typeof(metadata) == "object")
    return sa.or_(metadata.is_(None), sa.func.json_type(metadata) == "OBJECT")


@cache
def readable(dialect: str) -> sa.ColumnElement[bool]:
    """True for rows of `executions` every record rule accepts (see the module doc)."""
    return readable_columns(dialect, _t)


def readable_columns(dialect: str, _t: Any) -> sa.ColumnElement[bool]:
    """The same rules over any columns named like the table's (a subquery's, say)."""
    rules: list[sa.ColumnElement[bool]] = [
        _t.task_id.is_not(None),
        _t.timestamp.is_not(None),
        _t.success.is_not(None),
        _t.task_description.is_not(None),
        sa.func.length(_t.task_description) <= MAX_TEXT_LENGTH,
        _t.file_count.between(0, MAX_INT32),
        _t.estimated_tokens >= 0,
        _t.routing_confidence.between(0, 1),
        _t.complexity_score.between(0, 100),
        sa.or_(_t.quality_score.is_(None), _t.quality_score.between(0, 100)),
        sa.or_(_t.user_rating.is_(None), _t.user_rating.between(1, 5)),
        _json_object(dialect, _t.metadata),
    ]
    rules += [_filled(_t[name], MAX_LABEL_LENGTH) for name in _REQUIRED_LABELS]
    rules += [
        sa.or_(_t[name].is_(None), _filled(_t[name], MAX_LABEL_LENGTH)) for name in _OPTIONAL_LABELS
    ]
    rules += [
        sa.or_(_t[name].is_(None), _filled(_t[name], MAX_TEXT_LENGTH)) for name in _OPTIONAL_TEXTS
    ]
    rules += [_finite_at_least_zero(_t[name]) for name in _NON_NEGATIVE]
    rules += [
        sa.or_(_t[name].is_(None), _finite_at_least_zero(_t[name]))
        for name in _OPTIONAL_NON_NEGATIVE
    ]
    return sa.and_(*rules)


def unreadable_rows(connection: Connection, limit: int = 20) -> tuple[int, list[tuple[str, str]]]:
    """How many stored rows break a record rule, and (task_id, reason) for the first `limit`.

    The reason is what `add_many` would have said of the row, so it names field and rule.
    """
    broken = ~sa.func.coalesce(readable(connection.dialect.name), sa.false())
    total = connection.execute(sa.select(sa.func.count()).where(broken)).scalar_one()
    sample = connection.execute(
        sa.select(executions).where(broken).order_by(_t.timestamp.desc()).limit(limit)
    ).mappings()
    described = []
    for row in sample:
        values = dict(row)
        values.pop("embedding", None)  # read leniently (as None when unusable), never a reason
        try:
            ExecutionRecord.model_validate(values)
            reason = "breaks a rule only the database checks (for example a label of spaces)"
        except ValidationError as exc:
            reason = rejection_reason(exc)
        described.append((str(row["task_id"]), reason))
    return int(total), described
