"""Re-embedding stored rows: where missing, after a model change, resumable, model recorded."""

from __future__ import annotations

from pathlib import Path

import pytest
from factories import row
from typer.testing import CliRunner

from learning_store import (
    ExecutionRepository,
    HashingEmbedder,
    LearningConfig,
    LearningDatabase,
    create_repository,
)
from learning_store.cli import app
from learning_store.errors import EmbeddingModelMismatchError
from learning_store.reembedding import CURSOR_SETTING, MODEL_SETTING, TARGET_SETTING, reembed

HASHING = LearningConfig(embedding_model="hashing")


class FailingAfter:
    """The hashing embedder, failing on its n-th call: a run killed part-way."""

    dimension = 384

    def __init__(self, calls: int) -> None:
        self.calls_left = calls
        self.inner = HashingEmbedder()

    def embed(self, texts):
        self.calls_left -= 1
        if self.calls_left < 0:
            raise KeyboardInterrupt("killed")
        return self.inner.embed(texts)


async def test_where_missing_fills_rows_stored_without_embeddings(
    store: ExecutionRepository,
) -> None:
    off = LearningConfig(embeddings_enabled=False)
    async with LearningDatabase(repository=store, config=off) as db:
        await db.store_executions_batch([row(n) for n in range(30)])
    assert store.stats().without_embedding == 30
    async with LearningDatabase(repository=store, config=HASHING) as db:
        result = await db.reembed(where_missing=True, batch_rows=7)
        assert result.rows == 30 and result.model == "hashing"
        assert store.stats().without_embedding == 0
        assert await db.find_similar("Optimize query 3", threshold=0.1)
    assert store.read_setting(MODEL_SETTING) == "hashing"


async def test_a_search_with_another_model_is_refused_with_the_fix(
    store: ExecutionRepository,
) -> None:
    async with LearningDatabase(repository=store, config=HASHING) as db:
        await db.store_executions_batch([row(n) for n in range(5)])
    store.write_setting(MODEL_SETTING, "all-MiniLM-L6-v2")
    async with LearningDatabase(repository=store, config=HASHING) as db:
        with pytest.raises(EmbeddingModelMismatchError) as caught:
            await db.find_similar("Optimize query 3")
        assert "learning-store reembed --model hashing" in str(caught.value)
        with pytest.raises(RuntimeError):  # callers of the original catch RuntimeError
            await db.store_execution(row(9))
        result = await db.reembed()  # every row, with this process's model
        assert result.rows == 5
        assert await db.find_similar("Optimize query 3", threshold=0.1)
        assert await db.store_execution(row(9))


def test_a_killed_reembed_resumes_and_rows_done_stay_done(store: ExecutionRepository) -> None:
    store.add_many([row(n) for n in range(50)])
    with pytest.raises(KeyboardInterrupt):
        reembed(store, FailingAfter(3), "hashing", batch_rows=10)
    assert store.read_setting(TARGET_SETTING) == "hashing"
    cursor = store.read_setting(CURSOR_SETTING)
    assert cursor is not None
    assert store.stats().without_embedding == 20  # three batches of ten were done
    with pytest.raises(EmbeddingModelMismatchError, match="under way"):
        from learning_store.reembedding import check_model

        check_model(store, "hashing")
    progress: list[tuple[int, int]] = []
    result = reembed(
        store,
        HashingEmbedder(),
        "hashing",
        batch_rows=10,
        on_progress=lambda *p: progress.append(p),
    )
    assert result.resumed and result.rows == 20
    assert progress[-1] == (20, 20)
    assert store.stats().without_embedding == 0
    assert store.read_setting(TARGET_SETTING) is None
    assert store.read_setting(MODEL_SETTING) == "hashing"


def test_reembed_command(tmp_path: Path) -> None:
    url = f"duckdb:///{tmp_path / 'r.db'}"
    with create_repository(url) as store:
        store.add_many([row(n) for n in range(12)])
    result = CliRunner().invoke(
        app, ["reembed", "--where-missing", "--model", "hashing", "--url", url]
    )
    assert result.exit_code == 0, result.output
    assert "re-embedded 12 rows with hashing" in result.output and "rows/s" in result.output
    with create_repository(url) as store:
        assert store.stats().without_embedding == 0
