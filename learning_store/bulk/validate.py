"""Validate whole batches: the record rules on columns, `ExecutionRecord` only where needed.

`validate_mappings` (rows as dicts, records or anything else) and `validate_arrow` (a file's
record batch) give the same decisions, reasons and stored values as validating each row
with `ExecutionRecord` — `tests/test_bulk_validation.py` checks that on generated hostile
rows — but build no Python object for the rows that pass. A row the columns cannot judge
(an unusual type, a broken rule, a key that is not a field) is validated by the record,
which then accepts it or gives the reason.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any
from uuid import UUID

import numpy as np
import pyarrow as pa
from pydantic import ValidationError

from learning_store.arrow_codec import ARROW_SCHEMA, arrow_rows, records_to_arrow
from learning_store.bulk.arrow_columns import from_arrow
from learning_store.bulk.columns import MISSING, Converted, vector_array, vector_matrix
from learning_store.bulk.fields import FIELD_RULES, RULE_NAMES, Kind
from learning_store.bulk.python_columns import from_python
from learning_store.bulk.rules import broken, error_labels
from learning_store.models import ExecutionRecord, embedding_text_of, rejection_reason, task_id_of
from learning_store.results import RejectedRecord

_INPUT_NAMES = RULE_NAMES | {"uploaded_at"}
"""Keys a mapping may have for the fast path (uploaded_at only as None: the store sets it)."""
_UPLOADED_AT = ARROW_SCHEMA.get_field_index("uploaded_at")
_MICROS_UTC = ARROW_SCHEMA.field("uploaded_at").type


@dataclass(frozen=True, slots=True)
class ValidBatch:
    """The valid rows of a batch with unique task_ids, in the export schema.

    Made only by this module's functions, so a store may write it without checking again.
    `uploaded_at` is null until the store stamps it; `positions` are the input indexes of
    the rows, `rejected` the rows that broke a rule, and `repeats` the rows whose task_id
    an earlier row of the batch already had.
    """

    table: pa.Table
    positions: np.ndarray
    rejected: list[RejectedRecord]
    repeats: int

    def missing_embeddings(self) -> list[int]:
        """Rows without an embedding."""
        present = self.table.column("embedding").is_valid().to_numpy(zero_copy_only=False)
        return np.flatnonzero(~present).tolist()

    def embedding_texts(self, rows: list[int]) -> list[str]:
        """The text to embed for each of these rows (see `ExecutionRecord.embedding_text`)."""
        picked = self.table.take(pa.array(rows, pa.int64()))
        columns = [
            picked.column(name).to_pylist() for name in ("task_description", "task_type", "repo")
        ]
        return [embedding_text_of(*values) for values in zip(*columns, strict=True)]

    def task_ids(self, rows: list[int]) -> list[UUID]:
        """The task_ids of these rows."""
        return self.table.column("task_id").take(pa.array(rows, pa.int64())).to_pylist()

    def with_embeddings(self, rows: list[int], vectors: Sequence[Any] | np.ndarray) -> ValidBatch:
        """The batch with these rows' embeddings set (as float32)."""
        if not rows:
            return self
        column = self.table.column("embedding").combine_chunks()
        matrix = vector_matrix(column)
        present = column.is_valid().to_numpy(zero_copy_only=False).copy()
        matrix[rows] = np.asarray(vectors, dtype=np.float32)
        present[rows] = True
        field = ARROW_SCHEMA.field("embedding")
        table = self.table.set_column(
            ARROW_SCHEMA.get_field_index("embedding"), field, vector_array(matrix, present)
        )
        return replace(self, table=table)

    def stamped(self, uploaded_at: datetime) -> pa.Table:
        """The table with every row's upload time set."""
        stamp = pa.repeat(pa.scalar(uploaded_at, _MICROS_UTC), self.table.num_rows)
        return self.table.set_column(_UPLOADED_AT, ARROW_SCHEMA.field("uploaded_at"), stamp)


ArrowInput = pa.RecordBatch | pa.Table | ValidBatch
"""Rows given as Arrow: a file's batches (null means not given) or already validated."""


def validate_mappings(rows: Sequence[Any], first_index: int = 0) -> ValidBatch:
    """Validate rows given as mappings (records and other objects are welcome too)."""
    fast: list[int] = []
    others: list[int] = []
    for row, raw in enumerate(rows):
        plain = type(raw) is dict and _INPUT_NAMES.issuperset(raw)
        (fast if plain and raw.get("uploaded_at") is None else others).append(row)
    chosen = rows if len(fast) == len(rows) else [rows[row] for row in fast]
    columns = {
        rule.name: from_python(rule, values)
        for rule, values in zip(FIELD_RULES, _columns_of(chosen), strict=True)
    }
    return _settled(
        columns,
        np.asarray(fast, dtype=np.int64),
        others,
        lambda indexes: [rows[index] for index in indexes],
        first_index,
    )


def _columns_of(rows: Sequence[dict[str, Any]]) -> list[Sequence[Any]]:
    """Each field's values across the rows (MISSING where a row lacks the key).

    One list per field, not a tuple per row: the same speed, and a window of 1,000 rows
    leaves the garbage collector 26 new objects to count instead of 1,000.
    """
    try:  # the usual case, every key present
        return [[raw[rule.name] for raw in rows] for rule in FIELD_RULES]
    except KeyError:
        return [[raw.get(rule.name, MISSING) for raw in rows] for rule in FIELD_RULES]


def validate_arrow(batch: pa.RecordBatch | pa.Table, first_index: int = 0) -> ValidBatch:
    """Validate a record batch of any subset of the columns; null means "not given"."""
    if isinstance(batch, pa.Table):
        batch = batch.combine_chunks().to_batches()[0] if batch.num_rows else _empty(batch)
    count = batch.num_rows
    columns: dict[str, Converted] = {}
    for rule in FIELD_RULES:
        if rule.name in batch.schema.names:
            columns[rule.name] = from_arrow(rule, batch.column(rule.name))
        else:
            columns[rule.name] = from_python(rule, [MISSING] * count)
    extra = np.zeros(count, dtype=bool)
    for name in batch.schema.names:
        if name not in RULE_NAMES and name != "uploaded_at":
            extra |= np.asarray(batch.column(name).is_valid())  # goes into metadata
    columns["task_id"].unsure[:] |= extra
    return _settled(
        columns,
        np.arange(count, dtype=np.int64),
        [],
        lambda indexes: _readable_rows(batch, indexes),
        first_index,
    )


def _readable_rows(batch: pa.RecordBatch, indexes: list[int]) -> list[Any]:
    """These rows as mappings for the record; a row Python cannot read becomes its reason."""
    try:
        return list(arrow_rows(batch.take(pa.array(indexes, pa.int64()))))
    except (ValueError, OverflowError, ArithmeticError):  # e.g. a time before year 1
        return [_readable_row(batch, index) for index in indexes]


def _readable_row(batch: pa.RecordBatch, index: int) -> Any:
    try:
        return next(arrow_rows(batch.slice(index, 1)))
    except (ValueError, OverflowError, ArithmeticError):
        for name in batch.schema.names:
            try:
                batch.column(name)[index].as_py()
            except (ValueError, OverflowError, ArithmeticError) as exc:
                return Unreadable(f"{name}: a value Python cannot represent ({exc})")
        raise


@dataclass(frozen=True, slots=True)
class Unreadable:
    """A file row that cannot become Python values (a time before year 1), and why."""

    reason: str


def _empty(table: pa.Table) -> pa.RecordBatch:
    return pa.RecordBatch.from_pylist([], schema=table.schema)


def _settled(
    columns: dict[str, Converted],
    fast_rows: np.ndarray,
    other_rows: list[int],
    raw_rows: Callable[[list[int]], list[Any]],
    first_index: int,
) -> ValidBatch:
    """Check the converted columns, validate the rest row by row, and merge in input order."""
    arrays: dict[str, pa.Array] = {}
    flagged = np.zeros(len(fast_rows), dtype=bool)
    for rule in FIELD_RULES:
        converted = columns[rule.name]
        array = converted.array
        flagged |= converted.unsure
        if rule.kind is Kind.ERROR_LABEL:
            array, bad, unsure = error_labels(rule, array)
            flagged |= bad | unsure
        else:
            flagged |= broken(rule, array)
        arrays[rule.name] = array
    arrays["uploaded_at"] = pa.nulls(len(fast_rows), _MICROS_UTC)
    table = pa.Table.from_arrays([arrays[name] for name in ARROW_SCHEMA.names], schema=ARROW_SCHEMA)
    passed = ~flagged
    table = table.filter(pa.array(passed))
    positions = fast_rows[passed]

    to_judge = sorted([*other_rows, *fast_rows[flagged].tolist()])
    records: list[ExecutionRecord] = []
    record_rows: list[int] = []
    rejected: list[RejectedRecord] = []
    for row, raw in zip(to_judge, raw_rows(to_judge), strict=True):
        verdict = judge(raw, first_index + row)
        if isinstance(verdict, RejectedRecord):
            rejected.append(verdict)
        else:
            records.append(verdict)
            record_rows.append(row)
    if records:
        table = pa.concat_tables([table, records_to_arrow(records).cast(ARROW_SCHEMA)])
        positions = np.concatenate([positions, np.asarray(record_rows, dtype=np.int64)])
        order = np.argsort(positions, kind="stable")
        table, positions = table.take(pa.array(order)), positions[order]
    keep = _first_of_each_id(table)
    repeats = int((~keep).sum())
    if repeats:
        table, positions = table.filter(pa.array(keep)), positions[keep]
    return ValidBatch(table, positions + first_index, rejected, repeats)


def _first_of_each_id(table: pa.Table) -> np.ndarray:
    """True for each row whose task_id no earlier row has."""
    seen: set[bytes] = set()
    keep = np.ones(table.num_rows, dtype=bool)
    ids = table.column("task_id").combine_chunks().storage.to_pylist()
    for row, key in enumerate(ids):
        if key in seen:
            keep[row] = False
        else:
            seen.add(key)
    return keep


def judge(raw: Any, index: int) -> ExecutionRecord | RejectedRecord:
    """One row by `ExecutionRecord`'s rules: the record, or why not (`index` in the input)."""
    if isinstance(raw, ExecutionRecord):
        return raw
    if isinstance(raw, Unreadable):
        return RejectedRecord(index, None, raw.reason)
    try:
        return ExecutionRecord.model_validate(raw)
    except ValidationError as exc:
        return RejectedRecord(index, task_id_of(raw), rejection_reason(exc))
    except Exception as exc:  # a hostile object may raise anything while being read
        reason = f"record: expected an ExecutionRecord or a mapping of its fields ({exc!r})"
        return RejectedRecord(index, None, reason[:500])
