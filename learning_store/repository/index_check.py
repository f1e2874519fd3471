"""`db check` for DuckDB's saved vector index: does it hold what the table holds?

Writes through learning_store keep the index in step (and bump the table's change
generation when a row count cannot tell), but another tool writing the table with plain
SQL can change a row's vector or outcome, or delete one row and insert another, in ways
no stamp reveals. So the check reads the saved index (every checksum), then compares a
random sample of its live rows with the table, and a random sample of the table's rows
with the index: same task_id, same vector, same filter and outcome columns.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import numpy as np
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from learning_store.repository.duckdb_vectors import (
    indexable_rows_of,
    rows_uploaded_after,
    table_stamp,
)
from learning_store.repository.row_rules import readable
from learning_store.schema import executions
from learning_store.vector_index import files
from learning_store.vector_index.index import VectorIndex
from learning_store.vector_index.rows import RowBatch, id_keys

SAMPLE_ROWS = 2_000
"""Rows compared each way (index -> table, table -> index)."""


@dataclass
class IndexCheck:
    """What `db check` found out about the saved vector index."""

    verdict: str
    """One line: the index's state, and what happens to it at the next open."""
    problems: list[str] = field(default_factory=list)
    """Why the index cannot be trusted (empty: it can)."""


def check_saved_index(connection: Connection, folder: Path) -> IndexCheck:
    """Compare the index saved in `folder` with the table `connection` reads."""
    try:
        state = files.saved_state(folder)
    except files.DamagedFileError as error:
        return IndexCheck(f"saved vector index damaged ({error}): rebuilt at the next search")
    if state is None:
        return IndexCheck("no saved vector index: built at the first search or write")
    stamp = table_stamp(connection)
    if state.table != stamp and not _caught_up_later(connection, state.table, stamp):
        return IndexCheck(
            "saved vector index is of an older table (rows deleted or re-embedded since): "
            "rebuilt from the table at the next search"
        )
    try:
        index = files.load(folder, state, min_ann_rows=1)
    except Exception as error:  # any damage: it would be rebuilt, not trusted
        return IndexCheck(f"saved vector index damaged ({error}): rebuilt at the next search")
    newer = stamp.rows - state.table.rows
    verdict = f"saved vector index holds {index.live_rows:,} rows, every file intact"
    if newer:
        verdict += f"; {newer:,} newer rows are added at the next open"
    problems = _index_rows_missing_or_different(connection, index)
    problems += _table_rows_missing_from(connection, index, state.table.newest_upload)
    return IndexCheck(verdict, problems)


def _caught_up_later(
    connection: Connection, saved: files.TableStamp, stamp: files.TableStamp
) -> bool:
    newest = saved.newest_upload
    if saved.generation != stamp.generation or newest is None or stamp.rows <= saved.rows:
        return False
    return saved.rows + rows_uploaded_after(connection, newest) == stamp.rows


def _index_rows_missing_or_different(connection: Connection, index: VectorIndex) -> list[str]:
    live = np.flatnonzero(~index.rows.columns["dead"][: len(index)])
    if not len(live):
        return []
    chosen = np.sort(np.random.default_rng().choice(live, min(SAMPLE_ROWS, len(live)), False))
    ids = index.rows.task_ids(chosen)
    table = indexable_rows_of(connection, [ids[row] for row in range(len(ids))])
    position = {key: row for row, key in enumerate(id_keys(table.ids).tolist())}
    missing = different = 0
    example = ""
    for row, at in enumerate(chosen.tolist()):
        found = position.get(id_keys(index.rows.columns["ids"][at : at + 1])[0])
        if found is None:
            missing += 1
            example = example or f"{ids[row]} is not in the table"
        elif reason := _difference(index, at, table, found):
            different += 1
            example = example or f"{ids[row]}: {reason}"
    problems = []
    if missing:
        problems.append(f"{missing} of {len(chosen)} sampled indexed rows are not in the table")
    if different:
        problems.append(f"{different} of {len(chosen)} sampled indexed rows differ from the table")
    return [*problems, f"for example {example}"] if problems else []


def _table_rows_missing_from(
    connection: Connection, index: VectorIndex, newest: datetime | None
) -> list[str]:
    statement = sa.select(executions.c.task_id).where(
        executions.c.embedding.is_not(None), readable("duckdb")
    )
    if newest is not None:  # rows uploaded since the save are added at the next open
        statement = statement.where(executions.c.uploaded_at <= newest)
    statement = statement.order_by(sa.func.random()).limit(SAMPLE_ROWS)
    sampled = [row.task_id for row in connection.execute(statement)]
    if not sampled:
        return []
    table = indexable_rows_of(connection, sampled)
    if not len(table):
        return []
    found = index.rows.live_positions_of(table.ids)
    absent = len(table) - len(found)
    if absent:
        return [f"{absent} of {len(table)} sampled table rows are missing from the index"]
    return []


def _difference(index: VectorIndex, at: int, table: RowBatch, row: int) -> str:
    """Why the index's row at `at` differs from the table's row `row` ('' when it does not)."""
    stored = index.vectors.take(np.array([at]))[0]
    if not np.array_equal(stored, table.vectors[row]):
        return "its vector differs"
    columns = index.rows.columns
    labels = index.rows.codes
    if columns["timestamps"][at] != table.timestamps_us[row]:
        return "its timestamp differs"
    for name, labelled in (
        ("repos", table.repos),
        ("tiers", table.tiers),
        ("task_types", table.task_types),
    ):
        if labels[name].label[columns[name][at]] != labelled[row]:
            return f"its {name[:-1].replace('_', ' ')} differs"
    for name, values in (
        ("success", table.success),
        ("cost", table.cost),
        ("duration", table.duration),
        ("quality", table.quality),
        ("complexity", table.complexity),
    ):
        ours, theirs = float(columns[name][at]), float(values[row])
        if not (ours == theirs or (math.isnan(ours) and math.isnan(theirs))):
            return f"its {name} differs"
    return ""
