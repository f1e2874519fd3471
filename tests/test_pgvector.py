"""PostgreSQL with pgvector: the migration's HNSW index, its use by searches, and the fallback."""

from __future__ import annotations

import logging

import numpy as np
import pytest
import sqlalchemy as sa
from factories import row, task_uuid

from learning_store import create_repository, migrations
from learning_store.catalog import schema_differences
from learning_store.repository.pgvector_search import (
    VECTOR_INDEX,
    VECTOR_SQL,
    vector_index_is_current,
)

pytestmark = pytest.mark.postgres


def clustered(count: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centres = np.random.default_rng(0).normal(size=(40, 384))
    picked = centres[rng.integers(0, 40, count)] + rng.normal(scale=0.3, size=(count, 384))
    return (picked / np.linalg.norm(picked, axis=1, keepdims=True)).astype(np.float32)


def has_index(engine: sa.Engine) -> bool:
    with engine.connect() as connection:
        found = connection.execute(
            sa.text("SELECT 1 FROM pg_indexes WHERE indexname = :name"), {"name": VECTOR_INDEX}
        )
        return found.first() is not None


def test_the_migration_creates_the_index_and_round_trips(pgvector_server) -> None:
    store = create_repository(pgvector_server.create_database("pgv_migrate"))
    assert has_index(store.engine)
    with store.engine.connect() as connection:
        assert schema_differences(connection) == []
        migrations.downgrade(connection, "0003")
        connection.commit()
    assert not has_index(store.engine)
    with store.engine.connect() as connection:
        migrations.upgrade(connection)
        connection.commit()
    assert has_index(store.engine)
    store.close()


def test_0005_rebuilds_the_0004_index_so_uncastable_arrays_are_accepted(pgvector_server) -> None:
    """0004's index refused an array with a NULL element; 0005's indexes it as NULL."""
    store = create_repository(pgvector_server.create_database("pgv_uncastable"))
    store.add_many([row(n, embedding=clustered(1, n)[0]) for n in range(20)])
    another_tool = sa.text(
        "UPDATE executions SET embedding = array_fill(0.5::real, ARRAY[383]) || ARRAY[NULL::real]"
        " WHERE task_id = :id"
    )
    with store.engine.connect() as connection:
        migrations.downgrade(connection, "0004")
        connection.commit()
        assert not vector_index_is_current(connection)
    refused = pytest.raises(sa.exc.DBAPIError, match="must not contain nulls")
    with refused, store.engine.begin() as connection:
        connection.execute(another_tool, {"id": task_uuid(7)})
    with store.engine.connect() as connection:
        migrations.upgrade(connection)
        connection.commit()
        assert vector_index_is_current(connection)
    with store.engine.begin() as connection:
        connection.execute(another_tool, {"id": task_uuid(7)})
    assert store.get(task_uuid(7)).embedding is None
    found = store.find_similar(clustered(1, 3)[0], threshold=-1, limit=30, days_back=365)
    assert len(found) == 19 and found[0].record.task_id == task_uuid(3)
    store.close()


def test_searches_use_the_index_and_find_nearly_all_of_the_best(pgvector_server) -> None:
    store = create_repository(pgvector_server.create_database("pgv_recall"))
    vectors = clustered(3000, 1)
    store.add_many(
        [
            row(n, embedding=vectors[n], repo="rare" if n % 30 == 0 else "common")
            for n in range(3000)
        ]
    )
    with store.engine.connect() as connection:
        connection.execute(sa.text("ANALYZE executions"))
        connection.execute(sa.text("SET enable_seqscan = off"))
        plan = connection.execute(
            sa.text(
                f"EXPLAIN SELECT task_id FROM executions ORDER BY {VECTOR_SQL} <=> "
                f"CAST(:q AS vector(384)) LIMIT 40"
            ),
            {"q": str(vectors[0].tolist())},
        ).scalars()
        assert VECTOR_INDEX in "\n".join(plan)
    unfiltered, filtered = [], []
    for query in clustered(20, 2):
        for repo, recalls in ((None, unfiltered), ("rare", filtered)):
            found = store.find_similar(query, repo=repo, limit=10, threshold=-1.0)
            exact = store.find_similar(query, repo=repo, limit=10, threshold=-1.0, exact=True)
            assert len(exact) == 10
            truth = {m.record.task_id for m in exact}
            recalls.append(len({m.record.task_id for m in found} & truth) / 10)
            for match in found:  # scores are exact whatever the index proposed
                number = match.record.task_id.int - 1
                assert match.similarity == pytest.approx(float(vectors[number] @ query), abs=1e-6)
    assert np.mean(unfiltered) >= 0.9 and np.mean(filtered) >= 0.9
    store.close()


def test_without_the_index_searches_stream_and_warn_once(postgres_server, caplog) -> None:
    """Debian's PostgreSQL here has no pgvector: the migration leaves the table as it was."""
    url = postgres_server.create_database("pgv_missing")
    with caplog.at_level(logging.WARNING):
        store = create_repository(url)
    warnings = [r.getMessage() for r in caplog.records if "pgvector" in r.getMessage()]
    assert len(warnings) == 1 and "learning-store index build" in warnings[0]
    assert not has_index(store.engine)
    vectors = clustered(50, 3)
    store.add_many([row(n, embedding=vectors[n]) for n in range(50)])
    assert store.find_similar(vectors[7], limit=1, threshold=0.99)[0].record.task_id.int == 8
    assert store.build_vector_index() is None  # the server offers no extension: still none
    assert not has_index(store.engine)
    store.close()


def test_index_build_adds_the_index_to_a_database_migrated_without_it(pgvector_server) -> None:
    url = pgvector_server.create_database("pgv_later")
    store = create_repository(url)
    with store.engine.begin() as connection:
        connection.execute(sa.text(f"DROP INDEX {VECTOR_INDEX}"))
    store.close()
    store = create_repository(url)
    vectors = clustered(200, 4)
    store.add_many([row(n, embedding=vectors[n]) for n in range(200)])
    store.build_vector_index()
    assert has_index(store.engine)
    assert store.find_similar(vectors[9], limit=1, threshold=0.99)[0].record.task_id.int == 10
    store.close()
