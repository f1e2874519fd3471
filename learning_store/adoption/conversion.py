"""The SQL that turns a foreign table's rows into ours: one INSERT ... SELECT, no Python per row.

Naive timestamps are read as UTC, numbers cast to our types, NULL metadata becomes {},
extra columns go into metadata (an explicit metadata key wins), missing columns take their
defaults, and an embedding is kept only when it has our length and comes from our model.
Values that break a record rule are kept as stored (the foreign-rows policy).
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from learning_store.adoption.survey import REQUIRED, ForeignTable
from learning_store.models import EMBEDDING_DIMENSION
from learning_store.repository.row_rules import readable_columns
from learning_store.schema import COLUMN_NAMES, executions

NOT_NULL_WITHOUT_DEFAULT = (*REQUIRED, "routing_confidence", "success", "duration_seconds")
"""A row with NULL in one of these cannot be stored in our table: it is quarantined."""

_DEFAULTS: dict[str, Any] = {
    "task_description": "",
    "file_count": 0,
    "estimated_tokens": 0,
    "complexity_score": 50.0,
    "cost_estimate": 0.0,
}


def source(foreign: ForeignTable, name: str, schema: str | None) -> sa.TableClause:
    """The foreign table as a selectable with its own columns."""
    return sa.table(name, *(sa.column(column) for column in foreign.columns), schema=schema)


def lacks_required(src: sa.TableClause) -> sa.ColumnElement[bool]:
    """Rows our table cannot hold (a NULL where it allows none and has no default)."""
    return sa.or_(*(src.c[name].is_(None) for name in NOT_NULL_WITHOUT_DEFAULT))


def has_usable_vector(
    src: sa.TableClause, foreign: ForeignTable, dialect: str, keep_vectors: bool
) -> sa.ColumnElement[bool]:
    """Rows whose embedding is kept: our model's, and of our length."""
    if not keep_vectors or "embedding" not in foreign.columns:
        return sa.false()
    length = (sa.func.cardinality if dialect == "postgresql" else sa.func.len)(src.c.embedding)
    return sa.and_(src.c.embedding.is_not(None), length == EMBEDDING_DIMENSION)


def converted(
    src: sa.TableClause, foreign: ForeignTable, dialect: str, keep_vectors: bool
) -> sa.Select:
    """Our 27 columns, in order, computed from the foreign row."""
    return sa.select(
        *(_value(name, src, foreign, dialect, keep_vectors).label(name) for name in COLUMN_NAMES)
    )


def _value(
    name: str, src: sa.TableClause, foreign: ForeignTable, dialect: str, keep_vectors: bool
) -> sa.ColumnElement[Any]:
    target = executions.c[name].type
    present = name in foreign.columns
    if name in ("timestamp", "uploaded_at"):
        moment: sa.ColumnElement[Any] = src.c[name] if present else sa.null()
        if present and foreign.is_naive(name):
            moment = sa.func.timezone("UTC", moment)
        value = sa.cast(moment, target)
        return sa.func.coalesce(value, sa.func.now()) if name == "uploaded_at" else value
    if name == "metadata":
        return _metadata(src, foreign, dialect)
    if name == "embedding":
        usable = has_usable_vector(src, foreign, dialect, keep_vectors)
        return sa.case((usable, sa.cast(src.c.embedding, target)), else_=sa.cast(sa.null(), target))
    if not present:
        default = _DEFAULTS.get(name)
        return sa.cast(sa.null() if default is None else sa.literal(default), target)
    value = sa.cast(src.c[name], target)
    return sa.func.coalesce(value, sa.literal(_DEFAULTS[name])) if name in _DEFAULTS else value


def _metadata(src: sa.TableClause, foreign: ForeignTable, dialect: str) -> sa.ColumnElement[Any]:
    json_type = executions.c.metadata.type
    empty = sa.cast(sa.literal("{}"), json_type)
    stored = (
        sa.func.coalesce(sa.cast(src.c.metadata, json_type), empty)
        if "metadata" in foreign.columns
        else empty
    )
    if not foreign.extra:
        return stored
    pairs = [part for name in foreign.extra for part in (sa.literal(name), src.c[name])]
    if dialect == "postgresql":
        return sa.func.jsonb_build_object(*pairs).op("||")(stored)
    return sa.func.json_merge_patch(sa.func.json_object(*pairs), stored)


def survey_counts(
    connection: Connection, src: sa.TableClause, foreign: ForeignTable, keep_vectors: bool
) -> dict[str, int]:
    """Rows in all, rows per conversion, rows quarantined, and kept rows breaking a rule."""
    dialect = connection.dialect.name
    rows = sa.select(
        *converted(src, foreign, dialect, keep_vectors).selected_columns,
        lacks_required(src).label("_quarantine"),
        has_usable_vector(src, foreign, dialect, keep_vectors).label("_kept_vector"),
    ).subquery()
    breaks = ~sa.func.coalesce(readable_columns(dialect, rows.c), sa.false())
    metadata_null = src.c.metadata.is_(None) if "metadata" in foreign.columns else sa.true()
    null_metadata = sa.select(sa.func.count()).select_from(src).where(metadata_null)
    total, quarantined, recompute, rule_breaking = connection.execute(
        sa.select(
            sa.func.count(),
            sa.func.count().filter(rows.c._quarantine),
            sa.func.count().filter(sa.and_(~rows.c._kept_vector, ~rows.c._quarantine)),
            sa.func.count().filter(sa.and_(~rows.c._quarantine, breaks)),
        )
    ).one()
    naive = total if foreign.is_naive("timestamp") else 0
    return {
        "rows": int(total),
        "quarantined": int(quarantined),
        "rule_breaking": int(rule_breaking),
        "timestamp without time zone, read as UTC": int(naive),
        "NULL metadata, now {}": int(connection.execute(null_metadata).scalar_one()),
        "embedding missing, of another length or model: recomputed": int(recompute),
        "extra columns moved into metadata": int(total) if foreign.extra else 0,
    }
