"""The bulk paths end to end: add_arrow on every store, dict batches, and JSON-lines reading.

`test_bulk_validation.py` holds the validator to `ExecutionRecord` row by row; these tests
check what the stores and the file reader make of it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pytest
from factories import row, stored_view, task_uuid, unit_vector

from learning_store import ExecutionRepository
from learning_store.arrow_codec import records_to_arrow
from learning_store.files.readers import _jsonl_row
from learning_store.models import ExecutionRecord


def mixed_rows() -> list[dict[str, Any]]:
    """Good rows, bad rows and a repeated task_id, in one order."""
    rows = [
        row(n, embedding=unit_vector(n) if n % 2 else None, metadata={"n": n}) for n in range(30)
    ]
    rows[4]["routing_confidence"] = 1.5
    rows[9]["task_type"] = "  "
    rows[12] = dict(rows[3])  # a repeat of an earlier row
    rows[20]["error_type"] = " TIMEOUT "
    rows[21]["file_count"] = 7
    return rows


def test_add_arrow_matches_add_many_on_every_store(
    store: ExecutionRepository, new_store_url: Any
) -> None:
    from learning_store import create_repository

    rows = mixed_rows()
    names = sorted({name for r in rows for name in r})  # a file has every column in each row
    table = pa.Table.from_pylist(
        [
            {name: r.get(name) for name in names} | {"metadata": json.dumps(r["metadata"])}
            for r in rows
        ]
    )
    by_arrow = store.add_arrow(table.to_batches(max_chunksize=7))
    reference = create_repository(new_store_url())
    try:
        by_rows = reference.add_many(rows)
        assert by_arrow.stored == by_rows.stored == 27
        assert by_arrow.duplicates == by_rows.duplicates == 1
        assert [(r.index, r.reason) for r in by_arrow.rejected] == [
            (r.index, r.reason) for r in by_rows.rejected
        ]
        assert [r.index for r in by_arrow.rejected] == [4, 9]
        for number in (0, 1, 20, 21, 29):
            mine, theirs = store.get(task_uuid(number)), reference.get(task_uuid(number))
            assert mine is not None and theirs is not None
            assert stored_view(mine) == stored_view(theirs)
        assert store.get(task_uuid(20)).error_type == "timeout"  # type: ignore[union-attr]
        assert store.get(task_uuid(21)).file_count == 7  # type: ignore[union-attr]
    finally:
        reference.close()


def test_add_arrow_is_idempotent_and_keeps_valid_batches_indexes(
    store: ExecutionRepository,
) -> None:
    records = [ExecutionRecord.model_validate(row(n)) for n in range(12)]
    table = records_to_arrow(records)
    assert store.add_arrow([table]).stored == 12
    again = store.add_arrow([table.slice(0, 5), table.slice(5)])
    assert (again.stored, again.duplicates, again.rejected) == (0, 12, [])


def test_dict_batches_store_the_values_records_store(store: ExecutionRepository) -> None:
    rows = mixed_rows()
    rows[21]["file_count"] = "7"  # text, as a CSV file gives it
    result = store.add_many(rows)
    assert (result.stored, result.duplicates) == (27, 1)
    assert [item.index for item in result.rejected] == [4, 9]
    assert store.get(task_uuid(21)).file_count == 7  # type: ignore[union-attr]
    for number in (1, 2, 20):
        stored = store.get(task_uuid(number))
        expected = ExecutionRecord.model_validate(rows[number])
        assert stored is not None and stored_view(stored) == stored_view(expected)


HOSTILE_LINES = [
    b'{"a": 1, "a": 2}',
    b'{"metadata": {"big": 123456789012345678901234567890}}',
    b'{"estimated_tokens": 18446744073709551616}',
    b'{"extra": [1, 99999999999999999999]}',
    b'{"duration_seconds": 1e400}',
    b'{"duration_seconds": NaN}',
    b'{"task_type": "\\ud800"}',
    b'{"task_type": "caf\xe9"}',
    b'\xef\xbb\xbf{"a": 1}',
    b'{"x": -0.0, "y": 0.1, "z": 5e-324}',
    b"[1, 2]",
    b'{"embedding": [0.5, "0.5"]}',
    b"{broken",
]


@pytest.mark.parametrize("line", HOSTILE_LINES)
def test_json_lines_read_as_the_json_module_reads_them(line: bytes) -> None:
    """The reader uses orjson for speed; every line must read as `json.loads` reads it."""
    read = _jsonl_row(1, line)
    try:
        expected = json.loads(line.decode("utf-8", errors="replace"))
    except json.JSONDecodeError:
        assert read.data is None and read.error is not None and read.error.startswith("line:")
        return
    if not isinstance(expected, dict):
        assert read.data is None
        return
    assert read.data == expected
    assert [type(value) for value in read.data.values()] == [
        type(value) for value in expected.values()
    ]


def test_a_valid_embedding_is_read_as_float32_and_a_broken_one_as_written() -> None:
    vector = unit_vector(3)
    good = _jsonl_row(1, json.dumps({"embedding": vector}).encode()).data
    assert good is not None and isinstance(good["embedding"], np.ndarray)
    assert good["embedding"].tolist() == np.asarray(vector, dtype=np.float32).tolist()
    broken = [*vector[:-1], float("nan")]
    line = json.dumps({"embedding": broken}).encode()
    assert isinstance(_jsonl_row(1, line).data["embedding"], list)  # type: ignore[index]


def test_parquet_rows_without_task_id_get_stable_ids() -> None:
    from learning_store.arrow_codec import arrow_rows
    from learning_store.files.ingest import content_task_id, with_content_ids

    rows = [row(n, metadata=json.dumps({"n": n})) for n in range(3)]
    for item in rows:
        item["task_id"] = None  # not given
    rows[1]["task_id"] = str(task_uuid(1))  # kept as given
    batch = pa.RecordBatch.from_pylist(rows)
    ids = with_content_ids(batch).column("task_id").to_pylist()
    as_read = list(arrow_rows(batch))
    assert ids == [content_task_id(as_read[0]), str(task_uuid(1)), content_task_id(as_read[2])]
    assert with_content_ids(batch).column("task_id").to_pylist() == ids  # stable


def test_valid_rows_never_reach_the_record(monkeypatch: pytest.MonkeyPatch) -> None:
    """The fast path must really be taken: valid rows, with optional fields left out or
    given, as dicts or as Arrow columns, are decided without `ExecutionRecord`."""
    from learning_store.bulk import validate

    judged: list[int] = []
    real = validate.judge
    monkeypatch.setattr(
        validate, "judge", lambda raw, index: judged.append(index) or real(raw, index)
    )
    sparse = [row(n) for n in range(20)]  # no metadata, embedding, error fields...
    full = [
        row(n, embedding=unit_vector(n), metadata={"n": n}, error_type="timeout", user_rating=4)
        for n in range(20, 40)
    ]
    assert validate.validate_mappings(sparse + full).table.num_rows == 40
    names = sorted({name for item in sparse for name in item})
    table = pa.Table.from_pylist([{name: item[name] for name in names} for item in sparse])
    assert validate.validate_arrow(table).table.num_rows == 20
    assert judged == []


def test_times_python_cannot_hold_are_rejected_not_stored() -> None:
    """Year 1 at +01:00 is year 0 in UTC: the record rejects it, and so must the columns;
    a file's timestamp before year 1 cannot even be read, and is rejected by name."""
    from learning_store.bulk.validate import judge, validate_arrow, validate_mappings

    early = row(0, timestamp="0001-01-01T00:00:00+01:00")
    result = validate_mappings([early, row(1)])
    assert result.table.num_rows == 1
    assert result.rejected == [judge(early, 0)]

    before_year_one = -62_135_596_800_000_000 - 1  # microseconds since 1970
    batch = pa.RecordBatch.from_pylist([row(2), row(3)]).set_column(
        1,
        "timestamp",
        pa.array([before_year_one, 0], pa.int64()).cast(pa.timestamp("us", tz="UTC")),
    )
    result = validate_arrow(batch)
    assert result.table.num_rows == 1
    [rejected] = result.rejected
    assert rejected.index == 0 and rejected.reason.startswith("timestamp: a value Python cannot")


def test_times_keep_every_microsecond_beside_times_given_as_text() -> None:
    """A column mixing text and datetimes once went through float64 and lost microseconds."""
    from datetime import datetime

    from learning_store.bulk.validate import validate_mappings

    late = datetime(2256, 1, 1, 0, 0, 0, 1)  # 9e15 us since 1970: beyond float64's integers
    result = validate_mappings([row(0, timestamp="2026-01-01T00:00:00Z"), row(1, timestamp=late)])
    stored = result.table.column("timestamp").to_pylist()
    assert stored[1] == ExecutionRecord.model_validate(row(1, timestamp=late)).timestamp
    assert stored[1].microsecond == 1


def test_duckdb_json_metadata_in_parquet_takes_the_column_path(tmp_path: Path) -> None:
    """DuckDB writes JSON as Arrow's arrow.json extension; every row was once judged alone."""
    import duckdb
    import pyarrow.parquet as pq

    from learning_store.bulk.arrow_columns import from_arrow
    from learning_store.bulk.validate import FIELD_RULES

    path = tmp_path / "duck.parquet"
    connection = duckdb.connect()
    connection.execute(
        "COPY (SELECT CAST('{\"k\": ' || i || '}' AS JSON) AS metadata FROM range(50) t(i)) "
        "TO ? (FORMAT parquet)",
        [str(path)],
    )
    column = pq.read_table(path).column("metadata").combine_chunks()
    assert isinstance(column, pa.ExtensionArray)
    rule = next(rule for rule in FIELD_RULES if rule.name == "metadata")
    converted = from_arrow(rule, column)
    assert not converted.unsure.any()
    assert [json.loads(text) for text in converted.array.to_pylist()[:2]] == [{"k": 0}, {"k": 1}]
