"""Similarity search of `SqlExecutionRepository`: propose with an index, rescore exactly.

DuckDB asks its own vector index (`index_keeper`), PostgreSQL asks pgvector's HNSW index
when the database has it; either way the candidates' rows are read in one statement and
ranked by their stored vectors, so every score returned is exact. `exact=True`, and
PostgreSQL without pgvector, compare every candidate vector instead.
"""

from __future__ import annotations

import builtins
import math
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar
from uuid import UUID

import numpy as np
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from learning_store.models import ExecutionRecord
from learning_store.repository.base import ExecutionFilter, SimilarityQuery
from learning_store.repository.duckdb_vectors import (
    exact_matches,
    micros,
    rows_by_id,
    rows_stamp,
)
from learning_store.repository.index_keeper import IndexStatus, Verdict
from learning_store.repository.pgvector_search import (
    CandidateFilter,
    create_vector_index,
    has_vector_index,
    is_small_table,
    rows_with_vectors,
    stored_tiers,
)
from learning_store.repository.pgvector_search import candidates as pgvector_candidates
from learning_store.repository.postgres_similarity import (
    streamed_matches,
    streamed_matches_per_tier,
)
from learning_store.repository.sql_core import SqlCore
from learning_store.repository.sql_rows import records_from
from learning_store.results import Neighbour, SimilarExecution
from learning_store.schema import executions
from learning_store.similarity import cosine_scores, query_vector, top_matches
from learning_store.vector_index.index import Ranked, SearchFilter, VectorIndex

Asked = TypeVar("Asked")
Answer = TypeVar("Answer")

PGVECTOR_MARGIN = 10
"""Candidates pgvector returns beyond `limit`, for ties at the cut and rows changed since."""


class SqlSearchMethods(SqlCore):
    """Part of `SqlExecutionRepository`: find_similar, per tier, and the index build."""

    def search(self, query: SimilarityQuery) -> builtins.list[SimilarExecution]:
        """Cosine search; scores are exact, and with `exact=True` so is the choice of rows.

        DuckDB: an ANN index proposes candidates (all rows are searched exactly below
        `LEARNING_STORE_ANN_MIN_ROWS`). PostgreSQL: pgvector's HNSW index when the extension
        is there, else every candidate vector streamed to numpy.
        """
        return self._search(query, per_tier=False).get("", [])

    def search_per_tier(self, query: SimilarityQuery) -> dict[str, builtins.list[SimilarExecution]]:
        """The best `query.limit` of each model tier, with one read of the candidates' rows."""
        return self._search(query, per_tier=True)

    def _search(
        self, asked: SimilarityQuery, *, per_tier: bool
    ) -> dict[str, builtins.list[SimilarExecution]]:
        """Matches grouped by model tier, or all under "" (one read of every winner)."""
        repo, limit, threshold, exact = asked.repo, asked.limit, asked.threshold, asked.exact
        query = query_vector(asked.embedding)
        if limit <= 0:
            return {}
        since = datetime.now(UTC) - timedelta(days=asked.days_back)
        if not exact and self.dialect == "duckdb":
            where = SearchFilter(repo, micros(since))
            found = self._from_index(
                lambda index: _ranked(
                    index, query, where, limit, threshold, per_tier, self._probes
                ),
                self._winners,
            )
            if found is not None:
                return found
        with self._connection("search similar executions") as connection:
            if not exact and self._pgvector and not is_small_table(connection):
                proposed = self._proposed(connection, query, repo, since, limit, per_tier)
                return self._rescored(proposed, query, limit, threshold)
            where_sql = self._readable(ExecutionFilter(repo=repo, since=since))
            group_of = (lambda tier: tier) if per_tier else (lambda _tier: "")
            if self.dialect == "duckdb":
                ranked = exact_matches(connection, query, where_sql, limit, threshold, group_of)
            elif per_tier:
                ranked = streamed_matches_per_tier(connection, query, where_sql, limit, threshold)
            else:
                ranked = {"": streamed_matches(connection, query, where_sql, limit, threshold)}
            chosen = [task_id for matches in ranked.values() for task_id, _ in matches]
            records = {record.task_id: record for record in self._rows_of(connection, chosen)}
        # A row deleted by another connection between the search and the read is left out.
        return {
            group: [
                SimilarExecution(records[key], score) for key, score in matches if key in records
            ]
            for group, matches in ranked.items()
        }

    def _from_index(
        self,
        ask: Callable[[VectorIndex], Asked],
        then: Callable[[Connection, Asked], Answer],
    ) -> Answer | None:
        """DuckDB: `ask` the vector index, then read what it found on the same connection.

        The index is asked only when it matches the table as this search's transaction
        sees it (see `IndexKeeper.reading`); when it must be loaded or caught up first,
        the connection goes back to the pool while the search waits. None: the index
        could not be loaded, so the caller scans the table exactly.
        """
        keeper = self._keeper
        assert keeper is not None
        while True:
            with self._connection("search similar executions") as connection:
                seen = keeper.changes
                stamp = rows_stamp(connection)
                with keeper.reading(stamp, seen) as index:
                    if isinstance(index, Verdict):
                        verdict = index
                    else:
                        asked, verdict = ask(index), None
                if verdict is None:
                    return then(connection, asked)
                if verdict is Verdict.EXACT:
                    return None
            keeper.wait_ready()

    def similar_outcomes(
        self, query: SimilarityQuery, now: datetime
    ) -> dict[str, builtins.list[Neighbour]] | None:
        """Each tier's most similar executions as advice reads them (`NeighbourOutcomes`).

        DuckDB's vector index keeps each row's outcome, so advice (100 neighbours a tier)
        reads nothing from the table. None on PostgreSQL, and when the index could not be
        loaded: advice then searches per tier.
        """
        if self._keeper is None or query.exact:
            return None
        vector = query_vector(query.embedding)
        where = SearchFilter(query.repo, micros(now - timedelta(days=query.days_back)))
        limit, threshold = query.limit, query.threshold
        ranked = self._from_index(
            lambda index: _ranked(index, vector, where, limit, threshold, True, self._probes),
            lambda _connection, found: found,
        )
        if ranked is None:
            return None
        return {tier: _neighbours_of(tier, found, micros(now)) for tier, found in ranked.items()}

    def _winners(
        self, connection: Connection, ranked: dict[str, Ranked]
    ) -> dict[str, builtins.list[SimilarExecution]]:
        """DuckDB: the winners' records in one read, with the vectors they were scored with.

        The embedding column is not read: it costs more than the other columns together.
        A row deleted by another connection since it was proposed is left out.
        """
        wanted = builtins.list({key for found in ranked.values() for key in found.task_ids})
        rows = rows_by_id(connection, wanted, with_vector=False)
        by_id = {row["task_id"]: row for row in rows}
        found = {}
        for group, best in ranked.items():
            chosen = [
                SimilarExecution(records_from([{**by_id[key], "embedding": vector}])[0], score)
                for key, score, vector in zip(best.task_ids, best.scores, best.vectors, strict=True)
                if key in by_id
            ]
            if chosen:
                found[group] = chosen
        return found

    def _proposed(
        self,
        connection: Connection,
        query: Any,
        repo: str | None,
        since: datetime,
        limit: int,
        per_tier: bool,
    ) -> dict[str, builtins.list[dict[str, Any]]]:
        """Pgvector's candidate rows per group (tier, or "" for all).

        pgvector ranks by exact float32 distances, so unlike DuckDB's 8-bit codes it needs
        no oversampling, only a margin for rows tied at the cut.
        """
        wanted = limit + PGVECTOR_MARGIN
        proposed = {}
        for tier in stored_tiers(connection) if per_tier else [None]:
            found = pgvector_candidates(
                connection,
                query,
                CandidateFilter(since, repo, tier),
                wanted,
                self._pgvector_ef_search,
            )
            if len(found) < wanted:  # the filters keep few rows (or the scan gave up): all
                clauses = self._readable(ExecutionFilter(repo=repo, since=since))
                if tier is not None:
                    clauses.append(executions.c.model_tier == tier)
                exact = streamed_matches(connection, query, clauses, wanted, -2.0)
                found = rows_with_vectors(connection, [task_id for task_id, _ in exact])
            proposed[tier or ""] = found
        return proposed

    def _rescored(
        self,
        proposed: dict[str, builtins.list[dict[str, Any]]],
        query: Any,
        limit: int,
        threshold: float,
    ) -> dict[str, builtins.list[SimilarExecution]]:
        """PostgreSQL: the best `limit` candidate rows of each group by their stored vectors."""
        found = {}
        for group, rows in proposed.items():
            if not rows:
                continue
            by_id = {row["task_id"]: row for row in rows}
            task_ids = builtins.list(by_id)
            matrix = np.array([by_id[key]["embedding"] for key in task_ids], dtype=np.float32)
            matches = _best(task_ids, matrix, query, limit, threshold)
            if matches:
                found[group] = [
                    SimilarExecution(records_from([by_id[key]])[0], score)
                    for key, score, _ in matches
                ]
        return found

    def _rows_of(
        self, connection: Connection, task_ids: builtins.list[UUID]
    ) -> builtins.list[ExecutionRecord]:
        """The records of these task_ids (one statement)."""
        if not task_ids:
            return []
        if self.dialect == "duckdb":
            return records_from(rows_by_id(connection, task_ids))
        statement = sa.select(executions).where(executions.c.task_id.in_(task_ids))
        return records_from(connection.execute(statement).mappings().all())

    def load_vector_index(self, *, wait: bool = True) -> None:
        """DuckDB: load the vector index now (in the background unless `wait`).

        Writes that follow then go straight into it; without this the first search or
        write loads it. PostgreSQL: nothing to load (pgvector's index is in the database).
        """
        if self._keeper is not None:
            self._keeper.load(wait=wait)

    def has_vector_index(self) -> bool:
        """Whether searches ask an ANN index (DuckDB: always; PostgreSQL: with pgvector)."""
        return self.dialect == "duckdb" or self._pgvector

    def build_vector_index(self, *, rebuild: bool = False) -> IndexStatus | None:
        """DuckDB: load the vector index, index every row, save it, and say how it stands.

        It also checkpoints the database and reopens it: rows still in DuckDB's write-ahead
        log are read uncompressed, and what a bulk load and checkpoint leave in memory reads
        slower than the file freshly opened (at a million rows each search's read of its
        winners took 1.85 ms instead of 1.25).

        `rebuild=True` reads every vector from the table again, trusting neither the index
        in memory nor its saved files (after another tool changed rows with plain SQL).

        PostgreSQL: install pgvector and its HNSW index if the server allows (None).

        Searches build and grow the index in the background on their own; call this to
        have it ready (and saved for the next process) before the first search, or to time
        the build.
        """
        if self._keeper is None:
            with self._transaction("create the pgvector index") as connection:
                create_vector_index(connection)
            with self._connection("look for the pgvector index") as connection:
                self._pgvector = has_vector_index(connection)
            return None
        status = self._keeper.finish(rebuild=rebuild)
        with self._connection("checkpoint the database") as connection:
            connection.exec_driver_sql("CHECKPOINT")
        self._reopen_file()
        return status


def _ranked(
    index: VectorIndex,
    query: np.ndarray,
    where: SearchFilter,
    limit: int,
    threshold: float,
    per_tier: bool,
    probes: int,
) -> dict[str, Ranked]:
    """The best rows of each group (tier, or "" for all) from the vector index."""
    ranked = {}
    tiers: builtins.list[str | None] = [*index.rows.tier_labels] if per_tier else [None]
    for tier in tiers:
        chosen = SearchFilter(where.repo, where.since_us, tier)
        if found := index.best(query, chosen, limit, threshold, probes):
            ranked[tier or ""] = found
    return ranked


def _neighbours_of(tier: str, found: Ranked, now_us: int) -> builtins.list[Neighbour]:
    """Advice's view of one tier's best rows, from the outcomes the index keeps."""
    outcome = found.outcomes
    ages = np.maximum(now_us - outcome.timestamps_us, 0) / 1_000_000 / 86_400
    quality = outcome.quality.tolist()
    return [
        Neighbour(
            tier=tier,
            similarity=score,
            age_days=age,
            success=success,
            cost=cost,
            duration=duration,
            quality=None if math.isnan(rated) else rated,
            complexity=complexity,
            task_type=task_type,
            task_id=task_id,
        )
        for task_id, score, age, success, cost, duration, rated, complexity, task_type in zip(
            found.task_ids,
            found.scores,
            ages.tolist(),
            outcome.success.tolist(),
            outcome.cost.tolist(),
            outcome.duration.tolist(),
            quality,
            outcome.complexity.tolist(),
            outcome.task_types,
            strict=True,
        )
    ]


def _best(
    task_ids: Sequence[UUID], vectors: Any, query: Any, limit: int, threshold: float
) -> builtins.list[tuple[UUID, float, Any]]:
    """(task_id, exact score, vector) of the best `limit` candidates, ranked by the shared rule."""
    if not task_ids:
        return []
    matches = top_matches(cosine_scores(vectors, query), task_ids, limit, threshold)
    return [(task_ids[row], score, vectors[row]) for row, score in matches]
