"""The model behind a façade's vectors: which it is, and one check that the store agrees.

A store records which model made its vectors (`reembedding`); mixing models in one store
would give meaningless scores, so the façade checks once before it first reads or writes
vectors, and again after a re-embed.
"""

from __future__ import annotations

from typing import Any

from learning_store.config import LearningConfig
from learning_store.embeddings import Embedder
from learning_store.reembedding import check_model
from learning_store.repository import ExecutionRepository


class ModelGuard:
    """Checks a store against the model in use, once until `forget`.

    Two threads may both check at first: that only repeats a read.
    """

    def __init__(self, model_name: str | None) -> None:
        self.model_name = model_name
        """The model behind the embedder; None: unknown (a handed-in embedder that does not
        say), and then nothing is checked."""
        self._checked = False

    def check(self, repository: ExecutionRepository) -> None:
        """Raise `EmbeddingModelMismatchError` when the store's vectors are another model's."""
        if not self._checked and self.model_name is not None:
            check_model(repository, self.model_name)
            self._checked = True

    def forget(self) -> None:
        """Check again next time (the store's vectors changed model)."""
        self._checked = False


def model_name_of(embedder: Embedder) -> str | None:
    """The model name of a handed-in embedder, when it says (a caching wrapper's inner's)."""
    inner = getattr(embedder, "inner", embedder)
    name = getattr(inner, "model_name", None)
    return name if isinstance(name, str) else None


def with_overrides(config: LearningConfig, **overrides: Any) -> LearningConfig:
    """`config` with the given (non-None) settings replaced, validated like any setting."""
    given = {name: value for name, value in overrides.items() if value is not None}
    if not given:
        return config
    return LearningConfig(**{**config.model_dump(), **given})
