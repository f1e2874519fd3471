"""Ingest, export and the Parquet archive, through the library functions."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from factories import NOW, record, row, stored_view, task_uuid, unit_vector

from learning_store import LearningConfig, LearningDatabase, create_repository
from learning_store.archive import prune
from learning_store.files.formats import EXPORTABLE, FileFormat, detect_format
from learning_store.files.ingest import content_task_id, ingest_file, rejects_path_for
from learning_store.files.writers import write_records

HASHING = LearningConfig(embedding_model="hashing")


def varied_records() -> list:
    return [
        record(
            1,
            error_type="timeout",
            error_message='quote " comma , newline\nend',
            user_rating=3,
            user_accepted=False,
            quality_score=12.5,
            metadata={"nested": {"k": [1, 2.5, None]}},
            embedding=unit_vector(1),
            solution_summary="ünïcode ✓",
            swarm_topology="mesh",
        ),
        record(2, actual_cost=None, peak_memory_mb=0.1 + 0.2, cpu_time_seconds=1e-9),
        record(3, timestamp=NOW - timedelta(days=3), task_description='multi\nline, "quoted"'),
    ]


async def ingest(path: Path, store, fmt: FileFormat | None = None):
    async with LearningDatabase(repository=store, config=HASHING) as db:
        return await ingest_file(db, path, fmt or detect_format(path), batch_size=2)


@pytest.mark.parametrize("fmt", EXPORTABLE)
async def test_export_then_ingest_reproduces_the_rows(tmp_path: Path, fmt: FileFormat) -> None:
    source = create_repository("memory://")
    source.add_many(varied_records())
    out = tmp_path / f"out.{fmt.value}"
    assert write_records(out, fmt, source.iter_chunks(chunk_size=2)) == 3
    target = create_repository("duckdb:///:memory:")
    summary = await ingest(out, target)
    assert (summary.stored, summary.duplicates, summary.rejected, summary.rows) == (3, 0, 0, 3)
    for original in source.list():
        copy = target.get(original.task_id)
        expected = stored_view(original)
        if original.embedding is None:  # ingest embeds rows that came without a vector
            expected["embedding"] = copy.embedding
        assert stored_view(copy) == expected
    again = await ingest(out, target)
    assert (again.stored, again.duplicates) == (0, 3)


async def test_export_filters(tmp_path: Path) -> None:
    source = create_repository("memory://")
    source.add_many(
        [row(n, repo="a" if n % 2 else "b", timestamp=NOW - timedelta(days=n)) for n in range(10)]
    )
    out = tmp_path / "some.jsonl"
    chunks = source.iter_chunks(
        repo="a", since=NOW - timedelta(days=6), until=NOW - timedelta(days=1)
    )
    write_records(out, FileFormat.JSONL, chunks)
    ids = [json.loads(line)["task_id"] for line in out.read_text().splitlines()]
    assert ids == [str(task_uuid(n)) for n in (5, 3)]  # oldest first; until is exclusive


async def test_malformed_jsonl_gives_an_exact_rejects_file(tmp_path: Path) -> None:
    good = json.dumps(row(1), default=str)
    lines = [
        good,
        "{not json",
        json.dumps(row(2, success="perhaps"), default=str),
        "",
        json.dumps({k: v for k, v in row(3).items() if k != "repo"}, default=str),
        "[1, 2]",
        good,
    ]
    path = tmp_path / "bad.jsonl"
    path.write_text("\n".join(lines) + "\n")
    store = create_repository("memory://")
    summary = await ingest(path, store)
    assert (summary.rows, summary.stored, summary.duplicates, summary.rejected) == (6, 1, 1, 4)
    rejects = [json.loads(line) for line in rejects_path_for(path).read_text().splitlines()]
    assert rejects == [
        {
            "line": 2,
            "task_id": None,
            "reason": "line: invalid JSON (Expecting property name enclosed in double quotes at column 2)",
        },
        {
            "line": 3,
            "task_id": str(task_uuid(2)),
            "reason": "success: Input should be a valid boolean, unable to interpret input (got 'perhaps')",
        },
        {"line": 5, "task_id": str(task_uuid(3)), "reason": "repo: required field is missing"},
        {"line": 6, "task_id": None, "reason": "line: expected a JSON object, got list"},
    ]
    assert summary.rejects_path == rejects_path_for(path)


async def test_malformed_csv_wrong_type_and_missing_column(tmp_path: Path) -> None:
    path = tmp_path / "bad.csv"
    path.write_text(
        "task_id,task_type,task_description,model_tier,pool_type,routing_confidence,success,duration_seconds\n"
        f"{task_uuid(1)},fix,Fix it,small,fast,0.5,true,12\n"
        f"{task_uuid(2)},fix,Fix it,small,fast,high,true,12\n"
    )
    summary = await ingest(path, create_repository("memory://"))
    rejects = [json.loads(line) for line in rejects_path_for(path).read_text().splitlines()]
    assert summary.stored == 0 and summary.rejected == 2
    assert rejects == [
        {"line": 2, "task_id": str(task_uuid(1)), "reason": "repo: required field is missing"},
        {
            "line": 3,
            "task_id": str(task_uuid(2)),
            "reason": "repo: required field is missing; routing_confidence: Input should be a valid number, unable to parse string as a number (got 'high')",
        },
    ]


async def test_a_clean_rerun_removes_a_stale_rejects_file(tmp_path: Path) -> None:
    path = tmp_path / "rows.jsonl"
    path.write_text("{broken\n")
    store = create_repository("memory://")
    await ingest(path, store)
    assert rejects_path_for(path).exists()
    path.write_text(json.dumps(row(1), default=str) + "\n")
    summary = await ingest(path, store)
    assert summary.rejected == 0 and not rejects_path_for(path).exists()


async def test_rows_without_task_id_get_a_stable_one(tmp_path: Path) -> None:
    data = {k: v for k, v in row(1).items() if k != "task_id"}
    path = tmp_path / "noid.jsonl"
    path.write_text(json.dumps(data, default=str) + "\n")
    store = create_repository("memory://")
    assert (await ingest(path, store)).stored == 1
    assert (await ingest(path, store)).duplicates == 1
    assert store.count() == 1
    assert content_task_id(json.loads(json.dumps(data, default=str))) == str(
        store.list()[0].task_id
    )


def test_format_detection() -> None:
    assert detect_format(Path("x.ndjson")) is FileFormat.JSONL
    assert detect_format(Path("x.CSV")) is FileFormat.CSV
    assert detect_format(Path("x"), "parquet") is FileFormat.PARQUET
    with pytest.raises(ValueError, match="--format"):
        detect_format(Path("x.txt"))
    with pytest.raises(ValueError, match="jsonl, csv, parquet"):
        detect_format(Path("x.csv"), "xml")


def day_rows() -> list[dict]:
    base = datetime.combine(datetime.now(UTC).date(), datetime.min.time(), tzinfo=UTC)
    old = [row(n, timestamp=base - timedelta(days=100 + n % 3, hours=n)) for n in range(30)]
    recent = [row(100 + n, timestamp=NOW - timedelta(days=1)) for n in range(5)]
    return old + recent


def test_prune_with_archive_writes_exactly_the_deleted_rows(store, tmp_path: Path) -> None:
    store.add_many(day_rows())
    cutoff = datetime.now(UTC) - timedelta(days=90)
    old = {r.task_id: r for chunk in store.iter_chunks(until=cutoff) for r in chunk}
    result = prune(store, cutoff, tmp_path / "archive")
    assert result.deleted == result.archived == len(old) == 30
    assert store.count() == 5
    days = sorted(p.parent.name for p in result.files)
    assert days == sorted({f"date={r.timestamp.date().isoformat()}" for r in old.values()})
    assert all(p.name.endswith(".parquet") for p in result.files)
    assert not list((tmp_path / "archive").rglob("*.tmp"))
    table = pq.read_table(result.files[0])
    assert pq.ParquetFile(result.files[0]).metadata.row_group(0).column(0).compression == "ZSTD"
    restored = create_repository("memory://")
    for path in result.files:
        from learning_store.arrow_codec import arrow_rows

        restored.add_many(arrow_rows(pq.read_table(path)))
    assert restored.count() == 30
    for task_id, original in old.items():
        assert stored_view(restored.get(task_id)) == stored_view(original)
    assert len(table) > 0


def test_failure_between_archive_and_delete_deletes_nothing(tmp_path: Path, monkeypatch) -> None:
    store = create_repository(f"duckdb:///{tmp_path / 'p.db'}")
    store.add_many(day_rows())

    def crash(_task_ids):
        raise OSError("power lost")

    monkeypatch.setattr(store, "delete", crash)
    with pytest.raises(OSError, match="power lost"):
        prune(store, datetime.now(UTC) - timedelta(days=90), tmp_path / "archive")
    assert store.count() == 35  # nothing deleted
    monkeypatch.undo()
    result = prune(store, datetime.now(UTC) - timedelta(days=90), tmp_path / "archive")
    assert (result.deleted, store.count()) == (30, 5)
    store.close()


def test_prune_without_archive(store) -> None:
    store.add_many(day_rows())
    assert prune(store, datetime.now(UTC) - timedelta(days=90)).deleted == 30
