"""Recompute stored embeddings in batches, resumably, and record which model made them.

A search compares a query vector with stored vectors, which is meaningful only when one
model made both. The store records that model (`learning_store_settings`); a re-embed to
another model records its target and how far it got, so a killed run resumes where it
stopped (rows done stay done) and searches refuse to run until it has finished.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from uuid import UUID

from learning_store.embeddings import Embedder
from learning_store.errors import EmbeddingModelMismatchError
from learning_store.repository import ExecutionRepository

MODEL_SETTING = "embedding_model"
"""The model that made every stored embedding."""
TARGET_SETTING = "reembed_target"
"""Set while a re-embed to this model is under way (stored vectors are mixed)."""
CURSOR_SETTING = "reembed_cursor"
"""The last task_id a re-embed under way has finished (rows are visited in task_id order)."""

DEFAULT_BATCH_ROWS = 256
"""Rows per model call and per write transaction."""

Progress = Callable[[int, int], None]
"""Called with (rows done, rows in all) after each batch."""


@dataclass(frozen=True)
class ReembedResult:
    """What a re-embed did."""

    model: str
    rows: int
    seconds: float
    resumed: bool

    @property
    def rows_per_second(self) -> float:
        """Throughput over the whole run."""
        return self.rows / self.seconds if self.seconds > 0 else 0.0


def check_model(repository: ExecutionRepository, model: str) -> None:
    """Refuse to search or store vectors of `model` in a store whose vectors are another's.

    A store that records no model yet (new, or older than the setting) takes this one.

    Raises:
        EmbeddingModelMismatchError: the stored vectors were made by another model, or a
            re-embed is under way; the message gives the command that fixes it.
    """
    target = repository.read_setting(TARGET_SETTING)
    if target is not None:
        raise EmbeddingModelMismatchError(
            f"A re-embed to {target!r} is under way, so stored vectors are mixed. "
            f"Finish it with: learning-store reembed --model {target}"
        )
    stored = repository.read_setting(MODEL_SETTING)
    if stored is None:
        repository.write_setting(MODEL_SETTING, model)
    elif stored != model:
        raise EmbeddingModelMismatchError(
            f"The stored embeddings were made by {stored!r} but this process uses {model!r}; "
            "their similarity scores would be meaningless. Either set "
            f"LEARNING_STORE_EMBEDDING_MODEL={stored}, or re-embed every row with: "
            f"learning-store reembed --model {model}"
        )


def reembed(
    repository: ExecutionRepository,
    embedder: Embedder,
    model: str,
    *,
    where_missing: bool = False,
    batch_rows: int = DEFAULT_BATCH_ROWS,
    on_progress: Progress | None = None,
) -> ReembedResult:
    """Embed rows with `model`: those without an embedding, or (after a change) every row.

    With `where_missing`, the stored vectors must already be `model`'s. Without it, a run
    for the same target as an interrupted one resumes after the last finished batch.
    """
    started = time.perf_counter()
    if where_missing:
        stored = repository.read_setting(MODEL_SETTING)
        if stored not in (None, model) or repository.read_setting(TARGET_SETTING):
            check_model(repository, model)  # raises with the fix
        done = _run(repository, embedder, True, None, batch_rows, on_progress)
        if stored is None:
            repository.write_setting(MODEL_SETTING, model)
        return ReembedResult(model, done, time.perf_counter() - started, resumed=False)
    resumed = repository.read_setting(TARGET_SETTING) == model
    cursor = repository.read_setting(CURSOR_SETTING) if resumed else None
    repository.write_setting(TARGET_SETTING, model)
    repository.write_setting(CURSOR_SETTING, cursor)
    after = UUID(cursor) if cursor else None
    done = _run(repository, embedder, False, after, batch_rows, on_progress)
    repository.write_setting(MODEL_SETTING, model)
    repository.write_setting(TARGET_SETTING, None)
    repository.write_setting(CURSOR_SETTING, None)
    return ReembedResult(model, done, time.perf_counter() - started, resumed)


def _run(
    repository: ExecutionRepository,
    embedder: Embedder,
    missing_only: bool,
    after: UUID | None,
    batch_rows: int,
    on_progress: Progress | None,
) -> int:
    total = repository.count_embedding_work(missing_only=missing_only, after=after)
    done = 0
    while batch := repository.embedding_work(
        missing_only=missing_only, after=after, limit=batch_rows
    ):
        vectors = embedder.embed([text for _, text in batch])
        repository.set_embeddings(
            {task_id: vector for (task_id, _), vector in zip(batch, vectors, strict=True)}
        )
        after = batch[-1][0]
        if not missing_only:
            repository.write_setting(CURSOR_SETTING, str(after))
        done += len(batch)
        if on_progress is not None:
            on_progress(done, max(total, done))
    return done
