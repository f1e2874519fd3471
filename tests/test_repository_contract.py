"""The repository contract, run against every backend through the parametrised `store`."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from factories import NOW, record, row, stored_view, task_uuid, unit_vector

from learning_store import ExecutionRecord, ExecutionRepository, models


def test_every_backend_implements_the_protocol(store: ExecutionRepository) -> None:
    assert isinstance(store, ExecutionRepository)


def test_add_then_get_reads_back_exactly(store: ExecutionRepository) -> None:
    original = record(
        1,
        error_type="timeout",
        error_message="took too long",
        user_accepted=True,
        user_rating=4,
        quality_score=88.5,
        peak_memory_mb=512.25,
        cpu_time_seconds=3.5,
        swarm_topology="mesh",
        solution_summary="split the query",
        metadata={"a": {"b": [1, 2]}},
        embedding=unit_vector(1),
    )
    before = datetime.now(UTC)
    assert store.add(original) is True
    stored = store.get(original.task_id)
    assert stored is not None
    assert stored_view(stored) == stored_view(original)
    assert stored.uploaded_at is not None and stored.uploaded_at >= before - timedelta(seconds=1)
    assert store.get(str(original.task_id)) == stored


def test_add_accepts_a_mapping_and_refuses_a_duplicate(store: ExecutionRepository) -> None:
    assert store.add(row(2)) is True
    assert store.add(row(2, repo="changed")) is False
    assert store.get(task_uuid(2)).repo == "mahavishnu"
    assert store.count() == 1


def test_get_of_unknown_task_is_none(store: ExecutionRepository) -> None:
    assert store.get(task_uuid(999)) is None


def test_batch_with_bad_rows_duplicates_and_stored_rows(store: ExecutionRepository) -> None:
    store.add(row(0))  # already stored before the batch
    batch = [
        row(0),  # 0: already stored -> duplicate
        row(1),  # 1: stored
        row(2, routing_confidence=2.0),  # 2: rejected
        record(3),  # 3: stored (a record, not a mapping)
        row(1),  # 4: repeated in the batch -> duplicate
        {"task_id": "not-a-uuid"},  # 5: rejected (fields missing); a string id is kept
        row(6, duration_seconds=float("nan")),  # 6: rejected
        row(7, embedding=[0.1] * 10),  # 7: rejected, wrong embedding length
        "not a row at all",  # 8: rejected
        row(9),  # 9: stored
    ]
    result = store.add_many(batch)
    assert (result.stored, result.duplicates) == (3, 2)
    assert [r.index for r in result.rejected] == [2, 5, 6, 7, 8]
    assert [r.task_id for r in result.rejected] == [
        task_uuid(2),
        models.task_uuid("not-a-uuid"),
        task_uuid(6),
        task_uuid(7),
        None,
    ]
    assert result.rejected[0].reason.startswith("routing_confidence: ")
    assert "duration_seconds" in result.rejected[2].reason
    assert "embedding" in result.rejected[3].reason
    assert result.total == len(batch)
    assert store.count() == 4
    assert {r.task_id for r in store.list()} == {task_uuid(n) for n in (0, 1, 3, 9)}


def test_rerunning_a_batch_stores_nothing(store: ExecutionRepository) -> None:
    batch = [row(n) for n in range(50)]
    assert store.add_many(batch).stored == 50
    again = store.add_many(batch)
    assert (again.stored, again.duplicates, again.rejected) == (0, 50, [])
    assert store.count() == 50


@pytest.mark.parametrize("size", [1, 7, 8, 9, 100, 101, 250])
def test_both_write_paths_store_every_row(store: ExecutionRepository, size: int) -> None:
    """Sizes straddle the DuckDB Arrow threshold and the chunk size."""
    batch = [row(n, embedding=unit_vector(n) if n % 2 else None) for n in range(size)]
    result = store.add_many(batch)
    assert (result.stored, result.duplicates, result.rejected) == (size, 0, [])
    for n in (0, size - 1):
        assert stored_view(store.get(task_uuid(n))) == stored_view(ExecutionRecord(**batch[n]))


def test_existing_ids_names_exactly_the_stored_ones(store: ExecutionRepository) -> None:
    store.add_many([row(n) for n in range(0, 3000, 2)])
    asked = [task_uuid(n) for n in range(2500)]  # more than one lookup's worth on PostgreSQL
    assert store.existing_ids(asked) == {task_uuid(n) for n in range(0, 2500, 2)}
    assert store.existing_ids(iter([task_uuid(1), task_uuid(2), task_uuid(2)])) == {task_uuid(2)}
    assert store.existing_ids([]) == set()


def test_empty_batch(store: ExecutionRepository) -> None:
    result = store.add_many([])
    assert (result.stored, result.duplicates, result.rejected) == (0, 0, [])


def test_a_single_mapping_is_not_mistaken_for_a_batch(store: ExecutionRepository) -> None:
    with pytest.raises(TypeError, match="iterable of records"):
        store.add_many(row(1))  # type: ignore[arg-type]


def test_an_iterator_of_100000_rows_is_written_in_chunks(store: ExecutionRepository) -> None:
    """While the generator runs, exactly the completed chunks are already stored."""
    total, chunk = 100_000, store.batch_size  # type: ignore[attr-defined]
    store.batch_size = chunk = 1000  # type: ignore[attr-defined]
    observed: list[tuple[int, int]] = []

    def rows() -> Iterator[dict]:
        template = row(0)
        for n in range(total):
            if n % 25_000 == 0:
                observed.append((n, store.count()))
            yield {**template, "task_id": str(task_uuid(n))}

    result = store.add_many(rows())
    assert (result.stored, result.duplicates, len(result.rejected)) == (total, 0, 0)
    in_flight = getattr(store, "parallel_writes", 1)  # chunks a store may still be writing
    for n, count in observed:
        assert count % chunk == 0  # whole chunks only
        assert n - n % chunk - (in_flight - 1) * chunk <= count <= n - n % chunk
    assert store.count() == total


def test_list_filters_combine_and_order_newest_first(store: ExecutionRepository) -> None:
    store.add_many(
        [
            row(
                0,
                repo="alpha",
                task_type="bugfix",
                model_tier="small",
                pool_type="fast",
                success=True,
            ),
            row(
                1,
                repo="alpha",
                task_type="refactor",
                model_tier="large",
                pool_type="fast",
                success=False,
            ),
            row(
                2,
                repo="beta",
                task_type="bugfix",
                model_tier="small",
                pool_type="slow",
                success=True,
            ),
            row(
                3,
                repo="alpha",
                task_type="bugfix",
                model_tier="small",
                pool_type="slow",
                success=False,
            ),
        ]
    )
    newest_first = [r.task_id for r in store.list()]
    assert newest_first == [task_uuid(n) for n in (0, 1, 2, 3)]
    assert [r.task_id for r in store.list(repo="alpha", task_type="bugfix")] == [
        task_uuid(0),
        task_uuid(3),
    ]
    assert [r.task_id for r in store.list(model_tier="large")] == [task_uuid(1)]
    assert [r.task_id for r in store.list(pool_type="slow", success=False)] == [task_uuid(3)]
    assert [r.task_id for r in store.list(success=True)] == [task_uuid(0), task_uuid(2)]
    assert [r.task_id for r in store.list(limit=2, offset=1)] == [task_uuid(1), task_uuid(2)]
    assert store.list(repo="gamma") == []
    assert store.count(repo="alpha") == 3
    assert store.count(repo="alpha", success=False) == 2
    assert store.count(task_type="bugfix", pool_type="slow") == 2


def test_time_window_since_inclusive_until_exclusive(store: ExecutionRepository) -> None:
    store.add_many([row(n) for n in range(5)])  # timestamps NOW, NOW-1m, ... NOW-4m
    since, until = NOW - timedelta(minutes=3), NOW - timedelta(minutes=1)
    assert [r.task_id for r in store.list(since=since, until=until)] == [task_uuid(2), task_uuid(3)]
    assert store.count(since=since) == 4
    assert store.count(until=until) == 3
    naive = (NOW - timedelta(minutes=3)).replace(tzinfo=None)
    assert store.count(since=naive) == 4


def test_equal_timestamps_order_by_task_id_descending(store: ExecutionRepository) -> None:
    store.add_many([row(n, timestamp=NOW) for n in range(5)])
    assert [r.task_id for r in store.list()] == [task_uuid(n) for n in (4, 3, 2, 1, 0)]


def test_delete_older_than(store: ExecutionRepository) -> None:
    store.add_many([row(n, timestamp=NOW - timedelta(days=n)) for n in range(10)])
    assert store.delete_older_than(NOW - timedelta(days=6, hours=12)) == 3
    assert store.count() == 7
    assert store.get(task_uuid(9)) is None and store.get(task_uuid(6)) is not None
    assert store.delete_older_than(NOW - timedelta(days=100)) == 0


def test_context_manager_closes(new_store_url) -> None:
    from learning_store import create_repository

    with create_repository(new_store_url()) as repository:
        repository.add(row(1))
        assert repository.count() == 1
