"""Property-based: the vectorised validator decides every row as `ExecutionRecord` does.

For generated hostile rows (wrong types, boundary numbers, exotic whitespace, lone
surrogates, odd times and ids, broken vectors and metadata, missing and unknown keys),
`validate_mappings` and `validate_arrow` must reject exactly the rows the record rejects,
with the same reasons, and store exactly the values the record stores.
"""

from __future__ import annotations

import contextlib
import json
import math
from datetime import UTC, datetime, timedelta, timezone
from typing import Any
from uuid import UUID

import numpy as np
import pyarrow as pa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from learning_store.arrow_codec import ARROW_SCHEMA, arrow_rows, records_to_arrow
from learning_store.bulk.validate import judge, validate_arrow, validate_mappings
from learning_store.models import EMBEDDING_DIMENSION, ExecutionRecord
from learning_store.results import RejectedRecord

WHITESPACE = ["", " ", "\t\n", "\x0b", "\x1c", "\x1f", "\x85", "\xa0", "\u2028", "\u3000", "\u180e"]
TEXTS = st.one_of(
    st.text(max_size=6),
    st.sampled_from(WHITESPACE),
    st.builds(lambda a, b: a + "x" + b, st.sampled_from(WHITESPACE), st.sampled_from(WHITESPACE)),
    st.sampled_from(
        ["a\x00b", "\ud800", "x" * 256, "x" * 257, " TIMEOUT\x0b", "Crash", "un\u212anown"]
    ),
)
NUMBERS = st.one_of(
    st.integers(-3, 3),
    st.sampled_from([2**31 - 1, 2**31, 2**63 - 1, 2**63, -(2**63) - 1, 10**30, True, False]),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([0.0, -0.0, 0.5, 1.0, 1.0000001, 100.0, 100.5, 1e16, 5.0]),
    st.sampled_from(["5", "5.0", " 5", "1_0", "-1", "0.5", "1e3", "nan", "true", "", "05"]),
)
TIMES = st.one_of(
    st.datetimes(datetime(1, 1, 2), datetime(9999, 12, 30), timezones=st.none() | st.just(UTC)),
    st.datetimes(timezones=st.just(timezone(timedelta(hours=5, minutes=30)))),
    st.sampled_from(
        [
            "2026-01-01T00:00:00Z",
            "2026-01-01T00:00:00.5+02:00",
            "2026-01-01T00:00:00",
            "2026-01-01",
            "2026-02-30T00:00:00Z",
            "2026-01-01T23:59:60Z",
            "2026-01-01 10:00:00Z",
            "2026-01-01t10:00:00z",
            "1700000000",
            "0001-01-01T00:00:00+01:00",
            "2026-01-01T00:00:00.1234567Z",
        ]
    ),
    st.integers(0, 2**40),
)
IDS = st.one_of(
    st.uuids(),
    st.uuids().map(str),
    st.uuids().map(lambda u: str(u).upper()),
    st.uuids().map(lambda u: u.hex),
    st.uuids().map(lambda u: "{" + str(u) + "}"),
    st.sampled_from(["not-a-uuid", "", 5]),
)
VECTOR = st.integers(0, 2**32 - 1).map(
    lambda seed: np.random.default_rng(seed).normal(size=EMBEDDING_DIMENSION).tolist()
)
VECTORS = st.one_of(
    st.none(),
    VECTOR,
    VECTOR.map(tuple),
    VECTOR.map(lambda v: np.asarray(v, dtype=np.float32)),
    VECTOR.map(lambda v: [*v[:-1], math.nan]),
    VECTOR.map(lambda v: [*v[:-1], 1e39]),
    VECTOR.map(lambda v: [*v[:-1], "0.5"]),
    VECTOR.map(lambda v: [*v[:-1], None]),
    VECTOR.map(lambda v: v[:-1]),
    VECTOR.map(lambda v: [v]),
    st.sampled_from(["[1, 2]", {"a": 1}, 7]),
)


def nested(depth: int) -> Any:
    """A value nested `depth` lists deep."""
    value: Any = 1
    for _ in range(depth):
        value = [value]
    return value


METADATA = st.one_of(
    st.none(),
    st.dictionaries(st.text(max_size=4), st.none() | st.booleans() | NUMBERS | TEXTS, max_size=3),
    st.just({"deep": nested(33)}),
    st.just({1: "int key"}),
    st.just({"t": (1, 2)}),
    st.just({"s": {1, 2}}),
    st.just({"big": "x" * 70_000}),
    st.just({"f": 1e16, "g": 12345678901234567890}),
    st.sampled_from(["{}", [], 3]),
)
FIELD_VALUES: dict[str, st.SearchStrategy[Any]] = {
    "task_id": IDS,
    "timestamp": TIMES,
    "task_type": TEXTS,
    "task_description": TEXTS,
    "repo": TEXTS,
    "file_count": NUMBERS,
    "estimated_tokens": NUMBERS,
    "model_tier": TEXTS,
    "pool_type": TEXTS,
    "swarm_topology": st.none() | TEXTS,
    "routing_confidence": NUMBERS,
    "complexity_score": NUMBERS,
    "success": st.booleans() | NUMBERS,
    "duration_seconds": NUMBERS,
    "quality_score": st.none() | NUMBERS,
    "cost_estimate": NUMBERS,
    "actual_cost": st.none() | NUMBERS,
    "error_type": st.none() | TEXTS,
    "error_message": st.none() | TEXTS,
    "user_accepted": st.none() | st.booleans() | NUMBERS,
    "user_rating": st.none() | NUMBERS,
    "peak_memory_mb": st.none() | NUMBERS,
    "cpu_time_seconds": st.none() | NUMBERS,
    "solution_summary": st.none() | TEXTS,
    "embedding": VECTORS,
    "metadata": METADATA,
}
NOON = datetime(2026, 1, 1, 12, tzinfo=UTC)
GOOD = {
    "task_type": "bugfix",
    "task_description": "fix it",
    "repo": "shop",
    "model_tier": "small",
    "pool_type": "local",
    "routing_confidence": 0.5,
    "success": True,
    "duration_seconds": 1.5,
}


@st.composite
def hostile_rows(draw: st.DrawFn) -> dict[str, Any]:
    """A plausible row with a few fields replaced by hostile values, dropped, or added."""
    row: dict[str, Any] = {"task_id": str(draw(st.uuids())), "timestamp": NOON, **GOOD}
    for name in draw(st.lists(st.sampled_from(sorted(FIELD_VALUES)), max_size=4, unique=True)):
        row[name] = draw(FIELD_VALUES[name])
    droppable = sorted([*GOOD, "task_id", "timestamp"])
    for name in draw(st.lists(st.sampled_from(droppable), max_size=1)):
        del row[name]
    if draw(st.integers(0, 9)) == 0:
        row[draw(st.sampled_from(["extra", "uploaded_at"]))] = draw(st.none() | TEXTS)
    return row


def reference(rows: list[Any]) -> tuple[list[ExecutionRecord], list[int], list[RejectedRecord]]:
    """What validating row by row with the record gives: accepted (first of each id), rejected."""
    accepted: list[ExecutionRecord] = []
    positions: list[int] = []
    rejected: list[RejectedRecord] = []
    seen: set[UUID] = set()
    for index, raw in enumerate(rows):
        verdict = judge(raw, index)
        if isinstance(verdict, RejectedRecord):
            rejected.append(verdict)
        elif verdict.task_id not in seen:
            seen.add(verdict.task_id)
            accepted.append(verdict)
            positions.append(index)
    return accepted, positions, rejected


def assert_same_outcome(rows: list[Any], batch: Any, fresh_ids: dict[int, tuple[str, ...]]) -> None:
    accepted, positions, rejected = reference(rows)
    assert batch.rejected == rejected
    assert batch.positions.tolist() == positions
    expected = records_to_arrow(accepted).drop_columns(["uploaded_at"]).to_pylist()
    got = batch.table.drop_columns(["uploaded_at"]).to_pylist()
    for row, (mine, theirs) in enumerate(zip(got, expected, strict=True)):
        for name in fresh_ids.get(positions[row], ()):  # a new uuid4, or now
            mine.pop(name), theirs.pop(name)
        assert mine == theirs, (rows[positions[row]], mine, theirs)


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(hostile_rows(), min_size=1, max_size=25))
def test_mappings_are_decided_as_the_record_decides(rows: list[dict[str, Any]]) -> None:
    assert_same_outcome(rows, validate_mappings(rows), defaulted(rows))


def defaulted(rows: list[dict[str, Any]]) -> dict[int, tuple[str, ...]]:
    """Rows whose task_id or timestamp the defaults fill (a new uuid4, the current time)."""
    fills = {}
    for index, row in enumerate(rows):
        absent = tuple(name for name in ("task_id", "timestamp") if row.get(name) is None)
        if absent:
            fills[index] = absent
    return fills


def arrow_column(values: list[Any], as_text: bool) -> pa.Array:
    """A column as Arrow infers it, or as text when asked or when inference fails."""
    if not as_text:
        try:
            return pa.array(values)
        except (pa.ArrowException, TypeError, ValueError, OverflowError):
            pass
    texts = []
    for value in values:
        try:
            texts.append(
                None
                if value is None
                else json.dumps(value)
                if isinstance(value, dict | list)
                else str(value)
            )
        except (TypeError, ValueError):
            texts.append(repr(value))
    return pa.array([t.encode("utf-8", "replace").decode() if t else t for t in texts], pa.string())


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(hostile_rows(), min_size=1, max_size=25),
    st.sets(st.sampled_from(sorted(FIELD_VALUES)), max_size=6),
    st.booleans(),
)
def test_arrow_batches_are_decided_as_the_record_decides(
    rows: list[dict[str, Any]], as_text: set[str], canonical: bool
) -> None:
    """A file's batch: columns of whatever type Arrow makes of the values, or of text."""
    names = [name for name in ARROW_SCHEMA.names if any(name in row for row in rows)]
    columns = {}
    for name in names:
        column = arrow_column([row.get(name) for row in rows], name in as_text)
        wanted = ARROW_SCHEMA.field(name).type
        if canonical and column.type != wanted:
            with contextlib.suppress(pa.ArrowException, NotImplementedError):
                column = column.cast(wanted)
        columns[name] = column
    batch = pa.RecordBatch.from_pydict(columns)
    readable = [row for row in range(batch.num_rows) if python_can_read(batch, row)]
    result = validate_arrow(batch)
    unreadable = [item for item in result.rejected if item.index not in readable]
    assert [item.index for item in unreadable] == sorted(set(range(batch.num_rows)) - set(readable))
    assert all("cannot represent" in item.reason for item in unreadable)  # a time before year 1
    kept = batch.take(pa.array(readable, pa.int64()))
    as_read = list(arrow_rows(kept))
    assert_same_outcome(as_read, validate_arrow(kept), defaulted(as_read))


def python_can_read(batch: pa.RecordBatch, row: int) -> bool:
    """Whether the row becomes Python values (a time before year 1 in UTC does not)."""
    try:
        next(arrow_rows(batch.slice(row, 1)))
    except (ValueError, OverflowError):
        return False
    return True
