"""The Arrow codec: the table DuckDB's fast path, Parquet export and the archive are built from."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pyarrow as pa
from factories import NOW, record, unit_vector
from hypothesis import given, settings
from hypothesis import strategies as st
from strategies import JSON_VALUES, SAFE_TEXT

from learning_store.arrow_codec import ARROW_SCHEMA, records_to_arrow


@settings(max_examples=200, deadline=None)
@given(st.lists(st.dictionaries(SAFE_TEXT, JSON_VALUES, max_size=4), min_size=1, max_size=5))
def test_metadata_text_is_what_json_dumps_writes(metadatas: list[dict[str, Any]]) -> None:
    records = [record(n, metadata=metadata) for n, metadata in enumerate(metadatas)]
    texts = records_to_arrow(records).column("metadata").to_pylist()
    assert texts == [json.dumps(item.metadata) for item in records]


def test_every_column_carries_the_record_values() -> None:
    source = record(7, embedding=unit_vector(7), error_type="timeout", metadata={"k": [1, 2.5]})
    table = records_to_arrow([source])
    assert table.schema == ARROW_SCHEMA
    row = table.to_pylist()[0]
    assert row.pop("task_id") == source.task_id
    assert row.pop("error_type") == "timeout"
    assert json.loads(row.pop("metadata")) == {"k": [1, 2.5]}
    assert np.array_equal(np.array(row.pop("embedding"), np.float32), source.embedding.array)
    expected = source.model_dump(exclude={"task_id", "error_type", "metadata", "embedding"})
    assert row == expected


def test_rows_without_embeddings_are_null_and_the_others_keep_their_values() -> None:
    vectors = {0: unit_vector(0), 2: unit_vector(2), 3: unit_vector(3)}
    records = [record(n, embedding=vectors.get(n)) for n in range(5)]
    column = records_to_arrow(records).column("embedding").combine_chunks()
    assert column.is_null().to_pylist() == [False, True, False, False, True]
    for n, vector in vectors.items():
        assert np.array_equal(np.array(column[n].as_py(), np.float32), np.float32(vector))


def test_an_empty_chunk_gives_an_empty_table_with_the_schema() -> None:
    table = records_to_arrow([], datetime.now(UTC))
    assert table.num_rows == 0
    assert table.schema == ARROW_SCHEMA


def test_upload_time_is_the_override_for_every_row_or_each_record_own() -> None:
    stamped = [
        record(n).model_copy(update={"uploaded_at": NOW - timedelta(hours=n)}) for n in (1, 2)
    ]
    override = NOW + timedelta(seconds=1)
    assert records_to_arrow(stamped, override).column("uploaded_at").to_pylist() == [override] * 2
    own = records_to_arrow(stamped).column("uploaded_at").to_pylist()
    assert own == [item.uploaded_at for item in stamped]
    assert records_to_arrow(stamped).column("uploaded_at").type == pa.timestamp("us", tz="UTC")
