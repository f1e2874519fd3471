"""What a foreign `executions` table holds, and the report of what adopting it changes."""

from __future__ import annotations

from dataclasses import dataclass, field

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from learning_store.schema import COLUMN_NAMES, TABLE_NAME

REQUIRED = ("task_id", "timestamp", "task_type", "repo", "model_tier", "pool_type")
"""Columns a foreign table must have: nothing sensible can stand in for them."""
QUARANTINE_TABLE = "executions_quarantine"
"""Where rows go that lack a value our table cannot do without (NULL success, say)."""
BACKUP_TABLE = "executions_before_adopt"
"""On PostgreSQL, the foreign table kept under this name (DuckDB keeps a copy of the file)."""


@dataclass(frozen=True)
class ForeignTable:
    """The columns of the table to adopt (name -> type as its database names it)."""

    columns: dict[str, str]

    @property
    def extra(self) -> list[str]:
        """Columns we do not have: their values are kept in each row's metadata."""
        return [name for name in self.columns if name not in COLUMN_NAMES]

    @property
    def missing(self) -> list[str]:
        """Our columns it does not have: filled with their defaults (or NULL)."""
        return [name for name in COLUMN_NAMES if name not in self.columns]

    def is_naive(self, name: str) -> bool:
        """Whether a timestamp column has no time zone (its values are read as UTC)."""
        kind = self.columns.get(name, "").upper()
        return kind.startswith("TIMESTAMP") and "WITH TIME ZONE" not in kind and "TZ" not in kind


@dataclass
class AdoptionReport:
    """What adopting a table did (or, in a dry run, would do)."""

    url: str
    rows: int = 0
    status: str = "planned"
    conversions: dict[str, int] = field(default_factory=dict)
    """How many rows needed each conversion (a row may need several)."""
    extra_columns: list[str] = field(default_factory=list)
    missing_columns: list[str] = field(default_factory=list)
    quarantined: int = 0
    kept_rule_breaking: int = 0
    """Rows kept exactly as stored that break a record rule: left out of reads, listed by
    `db check` (the foreign-rows policy)."""
    backup: str | None = None
    adopted_rows: int = 0

    def lines(self) -> list[str]:
        """The report as text, one fact a line."""
        out = [f"{self.url}: {self.status}; {self.rows:,} rows in the foreign table"]
        out += [f"  {count:,} rows: {what}" for what, count in self.conversions.items() if count]
        if self.extra_columns:
            out.append(f"  extra columns kept in metadata: {', '.join(self.extra_columns)}")
        if self.missing_columns:
            out.append(f"  missing columns filled with defaults: {', '.join(self.missing_columns)}")
        if self.kept_rule_breaking:
            out.append(
                f"  {self.kept_rule_breaking:,} rows break a record rule: kept as stored, left "
                "out of reads, listed by `learning-store db check`"
            )
        if self.quarantined:
            out.append(
                f"  {self.quarantined:,} rows lack a required value: moved to table "
                f"{QUARANTINE_TABLE!r}, not deleted"
            )
        if self.backup:
            out.append(f"  the original is kept as {self.backup}")
        if self.status == "adopted":
            out.append(
                f"  {self.adopted_rows:,} rows in executions + {self.quarantined:,} "
                f"quarantined = {self.rows:,}: every row kept"
            )
        return out


def foreign_columns(connection: Connection, *, catalog: str | None = None) -> ForeignTable:
    """The columns of `executions` (in an attached DuckDB catalog, or the current schema)."""
    columns = sa.table(
        "columns",
        sa.column("table_catalog"),
        sa.column("table_schema"),
        sa.column("table_name"),
        sa.column("column_name"),
        sa.column("data_type"),
        sa.column("ordinal_position"),
        schema="information_schema",
    )
    where = [columns.c.table_name == TABLE_NAME]
    if catalog is not None:
        where.append(columns.c.table_catalog == catalog)
    else:
        where.append(columns.c.table_schema == sa.func.current_schema())
    rows = connection.execute(
        sa.select(columns.c.column_name, columns.c.data_type)
        .where(*where)
        .order_by(columns.c.ordinal_position)
    )
    return ForeignTable({str(name): str(kind) for name, kind in rows})
