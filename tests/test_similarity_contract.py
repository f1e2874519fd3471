"""find_similar on every backend, with the deterministic HashingEmbedder."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pytest
from factories import NOW, row, task_uuid

from learning_store import ExecutionRepository, create_repository
from learning_store.embeddings import HashingEmbedder

EMBEDDER = HashingEmbedder()
TEXTS = {
    0: "add an index to speed up the slow postgres query",
    1: "speed up the slow postgres query with an index",
    2: "slow postgres query needs an index",
    3: "rewrite the login page css",
    4: "fix flaky unit tests in the parser",
    5: "upgrade numpy and pandas dependencies",
}
QUERY = "speed up slow postgres query using a better index"


def vector(text: str) -> list[float]:
    return EMBEDDER.embed([text])[0].tolist()


def fill(store: ExecutionRepository, **per_row: dict) -> None:
    store.add_many(
        [
            row(n, task_description=text, embedding=vector(text), **per_row.get(str(n), {}))
            for n, text in TEXTS.items()
        ]
    )


def expected_order(threshold: float) -> list[tuple[int, float]]:
    """What exact cosine similarity says, computed independently of the stores."""
    query = np.array(vector(QUERY), dtype=np.float64)
    scores = {
        n: float(np.dot(query, np.array(vector(t), dtype=np.float64))) for n, t in TEXTS.items()
    }
    ranked = sorted(scores.items(), key=lambda item: (-round(item[1], 6), -task_uuid(item[0]).int))
    return [(n, s) for n, s in ranked if round(s, 6) >= threshold]


def test_best_first_with_exact_cosine_scores(store: ExecutionRepository) -> None:
    fill(store)
    found = store.find_similar(vector(QUERY), threshold=0.0, limit=10)
    expected = expected_order(0.0)
    assert [f.record.task_id for f in found] == [task_uuid(n) for n, _ in expected]
    for match, (_, score) in zip(found, expected, strict=True):
        assert match.similarity == pytest.approx(score, abs=1e-5)
    assert found[0].record.task_description in (TEXTS[0], TEXTS[1], TEXTS[2])


def test_ties_go_to_the_larger_task_id(store: ExecutionRepository) -> None:
    same = vector(TEXTS[0])
    store.add_many([row(n, embedding=same) for n in (3, 9, 5)])
    found = store.find_similar(same, threshold=0.0)
    assert [m.record.task_id for m in found] == [task_uuid(9), task_uuid(5), task_uuid(3)]


def test_limit_and_threshold(store: ExecutionRepository) -> None:
    fill(store)
    assert len(store.find_similar(vector(QUERY), threshold=0.0, limit=2)) == 2
    strict = store.find_similar(vector(QUERY), threshold=0.5)
    assert strict and all(match.similarity >= 0.5 for match in strict)
    assert {m.record.task_id for m in strict} == {task_uuid(n) for n, _ in expected_order(0.5)}
    assert store.find_similar(vector(QUERY), threshold=0.9999) == []
    assert store.find_similar(vector(QUERY), limit=0) == []


def test_repo_filter(store: ExecutionRepository) -> None:
    fill(store, **{"1": {"repo": "other"}, "2": {"repo": "other"}})
    found = store.find_similar(vector(QUERY), repo="other", threshold=0.0)
    assert {m.record.task_id for m in found} == {task_uuid(1), task_uuid(2)}


def test_days_back_excludes_old_rows(store: ExecutionRepository) -> None:
    fill(store, **{"1": {"timestamp": NOW - timedelta(days=40)}})
    recent = store.find_similar(vector(QUERY), days_back=30, threshold=0.0)
    assert task_uuid(1) not in {m.record.task_id for m in recent}
    wide = store.find_similar(vector(QUERY), days_back=60, threshold=0.0)
    assert task_uuid(1) in {m.record.task_id for m in wide}


def test_rows_without_embedding_are_skipped(store: ExecutionRepository) -> None:
    store.add_many([row(0, task_description=TEXTS[0]), row(1, embedding=vector(TEXTS[1]))])
    found = store.find_similar(vector(QUERY), threshold=-1.0)
    assert [m.record.task_id for m in found] == [task_uuid(1)]


def test_results_carry_the_stored_record_and_degenerate_vectors_score_zero(
    store: ExecutionRepository,
) -> None:
    """An all-zero vector and one whose length overflows float32 have no direction: score 0."""
    huge = [1e20] * 384
    store.add_many(
        [
            row(0, embedding=vector(TEXTS[0])),
            row(1, embedding=[0.0] * 384),
            row(2, embedding=huge),
        ]
    )
    found = store.find_similar(vector(QUERY), threshold=-1.0)
    assert [m.record.task_id for m in found] == [task_uuid(0), task_uuid(2), task_uuid(1)]
    assert [m.similarity for m in found[1:]] == [0.0, 0.0]
    for match in found:
        assert match.record == store.get(match.record.task_id)  # embedding bit for bit


def test_query_vector_is_checked(store: ExecutionRepository) -> None:
    with pytest.raises(ValueError, match="384"):
        store.find_similar([0.1, 0.2])


@pytest.mark.parametrize(
    "backend",
    [
        "duckdb-file",
        "duckdb-ann",
        pytest.param("postgresql", marks=pytest.mark.postgres),
        pytest.param("postgresql-pgvector", marks=pytest.mark.postgres),
    ],
)
def test_sql_stores_and_memory_agree_on_a_larger_set(new_store_url) -> None:
    rng = np.random.default_rng(7)
    words = [
        "index",
        "query",
        "slow",
        "cache",
        "login",
        "page",
        "css",
        "test",
        "flaky",
        "parser",
        "upgrade",
        "numpy",
    ]
    texts = [" ".join(rng.choice(words, size=6)) for _ in range(300)]
    rows = [row(n, task_description=t, embedding=vector(t)) for n, t in enumerate(texts)]
    results = []
    for url in ("memory://", new_store_url()):
        with create_repository(url) as store:
            store.add_many(rows)
            found = store.find_similar(vector("slow query cache index"), limit=25, threshold=0.2)
            results.append([(m.record.task_id, round(m.similarity, 5)) for m in found])
    assert results[0] and results[0] == results[1]
