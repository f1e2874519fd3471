"""The façade's batch writes: validate, embed what lacks a vector, store.

Rows stream window by window into one `add_many` (records) or `add_arrow` (validated Arrow
batches) call, so the store overlaps its write transactions while the next window is
validated and embedded.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Iterator

from learning_store.bulk.validate import ValidBatch, validate_mappings
from learning_store.embeddings import Embedder
from learning_store.models import ExecutionRecord
from learning_store.repository import ExecutionRepository, RecordInput
from learning_store.repository.batching import chunks, validate_chunk
from learning_store.results import BatchResult, RejectedRecord
from learning_store.vectors import Vector

EMBEDDING_WINDOW = 1_000
"""Rows validated and embedded together: one model call each, bounded memory for any input."""
ARROW_WINDOW = 10_000
"""Rows per validated window, and write transaction, of Arrow input (a file's batches)."""

ModelCheck = Callable[[ExecutionRepository], None]
"""Refuses a store whose vectors another model made (see `reembedding.check_model`)."""


class EmbeddingWriter:
    """Embeds the rows that lack a vector (one model call per window) and stores them."""

    def __init__(self, embedder: Embedder | None, check_model: ModelCheck) -> None:
        self.embedder = embedder
        self._check_model = check_model

    def store_batch(
        self, repository: ExecutionRepository, records: Iterable[RecordInput]
    ) -> BatchResult:
        """Validate and embed window by window, streaming into one store call.

        Plain dicts (judged by the first window) take the bulk validator and `add_arrow`;
        records take `add_many`. One stream lets the store overlap its write transactions;
        only what was passed on (and input positions) is held beyond the current window.
        """
        windows = chunks(records, EMBEDDING_WINDOW)
        first = next(windows, None)
        if first is None:
            return BatchResult(0, 0, [])
        windows = itertools.chain([first], windows)
        if any(type(raw) is dict for raw in first[1]):  # plain rows: the bulk validator
            valid = (validate_mappings(rows, start) for start, rows in windows)
            return self.store_valid(repository, valid)
        rejected: list[RejectedRecord] = []
        positions: list[int] = []
        repeats = 0

        def embedded() -> Iterator[ExecutionRecord]:
            nonlocal repeats
            for start, rows in windows:
                chunk = validate_chunk(rows, start)
                rejected.extend(chunk.rejected)
                repeats += chunk.repeats
                positions.extend(chunk.positions)
                yield from self.embedded(chunk.records, repository)

        result = repository.add_many(embedded())
        rejected.extend(
            RejectedRecord(positions[item.index], item.task_id, item.reason)
            for item in result.rejected
        )
        rejected.sort(key=lambda item: item.index)
        return BatchResult(result.stored, result.duplicates + repeats, rejected)

    def store_valid(
        self, repository: ExecutionRepository, batches: Iterable[ValidBatch]
    ) -> BatchResult:
        """Embed each validated batch's rows that lack a vector, streaming into `add_arrow`."""
        result = repository.add_arrow(self._embedded_batch(batch, repository) for batch in batches)
        rejected = sorted(result.rejected, key=lambda item: item.index)
        return BatchResult(result.stored, result.duplicates, rejected)

    def _embedded_batch(self, batch: ValidBatch, repository: ExecutionRepository) -> ValidBatch:
        """`embedded` for a validated Arrow batch: one model call for its rows without one."""
        missing = batch.missing_embeddings() if self.embedder is not None else []
        if not missing:
            return batch
        self._check_model(repository)
        ids = batch.task_ids(missing)
        stored = repository.existing_ids(ids)
        missing = [row for row, task_id in zip(missing, ids, strict=True) if task_id not in stored]
        if not missing:
            return batch
        assert self.embedder is not None
        return batch.with_embeddings(missing, self.embedder.embed(batch.embedding_texts(missing)))

    def embedded(
        self,
        records: list[ExecutionRecord],
        repository: ExecutionRepository,
        *,
        skip_stored: bool = True,
    ) -> list[ExecutionRecord]:
        """Records with embeddings filled in by one model call; precomputed ones are kept.

        With `skip_stored`, rows whose task_id is already stored are not embedded: the
        store will count them as duplicates, so a retried batch costs no model time.
        """
        if self.embedder is None:
            return records
        missing = [row for row, record in enumerate(records) if record.embedding is None]
        if missing:
            self._check_model(repository)
        if missing and skip_stored:
            stored = repository.existing_ids(records[row].task_id for row in missing)
            missing = [row for row in missing if records[row].task_id not in stored]
        if not missing:
            return records
        vectors = self.embedder.embed([records[row].embedding_text() for row in missing])
        result = list(records)
        for row, vector in zip(missing, vectors, strict=True):
            result[row] = records[row].model_copy(update={"embedding": Vector(vector)})
        return result
