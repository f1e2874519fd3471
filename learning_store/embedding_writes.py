"""The write half of `LearningDatabase`: validate, embed what lacks a vector, store.

Rows stream window by window into one `add_many` (records) or `add_arrow` (validated Arrow
batches) call, so the store overlaps its write transactions while the next window is
validated and embedded.
"""

from __future__ import annotations

import builtins
import itertools
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING

from learning_store.bulk.validate import ValidBatch, validate_mappings
from learning_store.models import ExecutionRecord
from learning_store.repository import ExecutionRepository, RecordInput
from learning_store.repository.batching import chunks, validate_chunk
from learning_store.results import BatchResult, RejectedRecord
from learning_store.vectors import Vector

if TYPE_CHECKING:
    from learning_store.service import LearningDatabase

EMBEDDING_WINDOW = 1_000
"""Rows validated and embedded together: one model call each, bounded memory for any input."""
ARROW_WINDOW = 10_000
"""Rows per validated window, and write transaction, of Arrow input (a file's batches)."""


class EmbeddingWrites:
    """Mixin for `LearningDatabase`: the blocking work behind its batch writes."""

    __slots__ = ()

    def _store_batch(
        self: LearningDatabase, repository: ExecutionRepository, records: Iterable[RecordInput]
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
            return self._store_valid(repository, valid)
        rejected: builtins.list[RejectedRecord] = []
        positions: builtins.list[int] = []
        repeats = 0

        def embedded() -> Iterator[ExecutionRecord]:
            nonlocal repeats
            for start, rows in windows:
                chunk = validate_chunk(rows, start)
                rejected.extend(chunk.rejected)
                repeats += chunk.repeats
                positions.extend(chunk.positions)
                yield from self._embedded(chunk.records, repository)

        result = repository.add_many(embedded())
        rejected.extend(
            RejectedRecord(positions[item.index], item.task_id, item.reason)
            for item in result.rejected
        )
        rejected.sort(key=lambda item: item.index)
        return BatchResult(result.stored, result.duplicates + repeats, rejected)

    def _store_valid(
        self: LearningDatabase, repository: ExecutionRepository, batches: Iterable[ValidBatch]
    ) -> BatchResult:
        """Embed each validated batch's rows that lack a vector, streaming into `add_arrow`."""
        result = repository.add_arrow(self._embedded_batch(batch, repository) for batch in batches)
        rejected = sorted(result.rejected, key=lambda item: item.index)
        return BatchResult(result.stored, result.duplicates, rejected)

    def _embedded_batch(
        self: LearningDatabase, batch: ValidBatch, repository: ExecutionRepository
    ) -> ValidBatch:
        """`_embedded` for a validated Arrow batch: one model call for its rows without one."""
        missing = batch.missing_embeddings() if self._embedder is not None else []
        if not missing:
            return batch
        self._check_model(repository)
        ids = batch.task_ids(missing)
        stored = repository.existing_ids(ids)
        missing = [row for row, task_id in zip(missing, ids, strict=True) if task_id not in stored]
        if not missing:
            return batch
        assert self._embedder is not None
        return batch.with_embeddings(missing, self._embedder.embed(batch.embedding_texts(missing)))

    def _embedded(
        self: LearningDatabase,
        records: builtins.list[ExecutionRecord],
        repository: ExecutionRepository | None = None,
    ) -> builtins.list[ExecutionRecord]:
        """Records with embeddings filled in by one model call; precomputed ones are kept.

        Given the repository, rows whose task_id is already stored are not embedded: the
        store will count them as duplicates, so a retried batch costs no model time.
        """
        if self._embedder is None:
            return records
        missing = [row for row, record in enumerate(records) if record.embedding is None]
        if missing:
            self._check_model(repository or self.repository)
        if missing and repository is not None:
            stored = repository.existing_ids(records[row].task_id for row in missing)
            missing = [row for row in missing if records[row].task_id not in stored]
        if not missing:
            return records
        vectors = self._embedder.embed([records[row].embedding_text() for row in missing])
        result = builtins.list(records)
        for row, vector in zip(missing, vectors, strict=True):
            result[row] = records[row].model_copy(update={"embedding": Vector(vector)})
        return result
