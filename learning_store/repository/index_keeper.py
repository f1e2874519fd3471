"""The DuckDB store's vector index: when to trust, extend, save or rebuild it.

The first search loads the index: from the folder next to the database when its stamp
matches the table (or the table only gained rows since, which are then read and queued),
otherwise from every stored vector. Writes queue their rows in the index at once and a
background thread moves queued rows into the ANN index, so a write never waits for it;
queued rows are searched exactly meanwhile. Once nothing is queued the index is saved,
and changes the stamp cannot reveal (deletes, new embeddings) drop both the index in
memory and the saved copy.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import IO

from sqlalchemy.engine import Connection

from learning_store.models import EMBEDDING_DIMENSION
from learning_store.repository.duckdb_vectors import (
    Stamp,
    indexable_rows,
    rows_uploaded_after,
    table_stamp,
)
from learning_store.vector_index import files
from learning_store.vector_index.clusters import PROBES, ClusterIndex
from learning_store.vector_index.exact_vectors import ExactVectors
from learning_store.vector_index.index import MIN_ANN_ROWS, VectorIndex
from learning_store.vector_index.rows import RowBatch

log = logging.getLogger(__name__)

GROW_ROWS = 4_096
"""Rows the builder moves into the ANN index per turn (searches wait at most one turn)."""
CLOSE_DRAIN_ROWS = 100_000
"""Queued rows `close` still moves into the ANN index (a few seconds) so it can be saved."""
SAVE_GROWTH = 0.1
"""The index is saved again once it grew by this share since the last save."""


@dataclass(frozen=True)
class IndexSettings:
    """Knobs of the DuckDB vector index (see `LearningConfig`)."""

    folder: Path | None
    """Where the index is saved; None for an in-memory database (never saved)."""
    min_ann_rows: int = MIN_ANN_ROWS
    probes: int = PROBES


@dataclass(frozen=True)
class IndexStatus:
    """How much of the table the vector index covers, for `learning-store index`."""

    rows: int
    ann_rows: int
    pending_rows: int
    lists: int
    saved: bool


class IndexKeeper:
    """Loads the index on the first search and keeps it in step with this store's writes."""

    def __init__(self, settings: IndexSettings) -> None:
        self.settings = settings
        self._lock = threading.RLock()
        self._work = threading.Condition(self._lock)
        self._growing = threading.Lock()
        """Held (before `_lock`) by whoever adds to the ANN index or writes it to disk."""
        self._index: VectorIndex | None = None
        self._stamp: Stamp | None = None
        self._generation = 0  # bumped when the index is dropped, so a save in flight is void
        self._saved_rows = 0
        self._builder: threading.Thread | None = None
        self._closing = False
        self._claim: IO[bytes] | None = None
        self._folder_checked = False

    @property
    def folder(self) -> Path | None:
        """The folder this store saves its index in, once claimed (None: memory only)."""
        if not self._folder_checked and self.settings.folder is not None:
            self._folder_checked = True
            self._claim = files.claim(self.settings.folder)
            if self._claim is None:
                log.info(
                    "%s is used by another store; this one keeps its index in memory",
                    self.settings.folder,
                )
        return self.settings.folder if self._claim is not None else None

    @property
    def lock(self) -> threading.RLock:
        """Held while the index is read or changed; a search holds it for its candidates."""
        return self._lock

    def current(self, connection: Connection) -> VectorIndex:
        """The index, reloaded if anything but this store changed the table."""
        with self._lock:
            stamp = table_stamp(connection)
            if self._index is None or stamp != self._stamp:
                self._index, self._stamp = self._loaded(connection, stamp), stamp
                self._wake()
            return self._index

    def written(
        self,
        batch: Callable[[], RowBatch],
        written: int,
        uploaded_at: datetime,
    ) -> None:
        """Queue what this store just committed (`batch` gives exactly the stored rows)."""
        with self._lock:
            if self._index is None or self._stamp is None or written == 0:
                return
            count, newest = self._stamp
            self._stamp = (count + written, max(filter(None, (newest, uploaded_at))))
            self._index.add(batch())
            self._wake()

    def forget(self) -> None:
        """Drop the index and its saved copy after a change its stamp cannot reveal."""
        with self._lock:
            self._index, self._generation, self._saved_rows = None, self._generation + 1, 0
            if self.folder is not None:
                files.remove(self.folder)

    def finish(self) -> IndexStatus:
        """Move every queued row into the ANN index and save it; its status."""
        while self._grow_once():
            pass
        self._save_if_due(force=True)
        return self.status()

    def status(self) -> IndexStatus:
        """What the index in memory covers (all zero before the first search)."""
        with self._lock:
            index = self._index
            if index is None:
                return IndexStatus(0, 0, 0, 0, False)
            return IndexStatus(
                rows=len(index),
                ann_rows=index.ann_rows,
                pending_rows=index.pending_rows,
                lists=0 if index.clusters is None else index.clusters.lists,
                saved=self._saved_rows == len(index) and self._saved_rows > 0,
            )

    def close(self) -> None:
        """Stop the builder; save the index if it holds every row and changed since saved."""
        with self._lock:
            self._closing = True
            self._work.notify_all()
        if self._builder is not None:
            self._builder.join()
        index = self._index
        small = index is not None and index.pending_rows <= CLOSE_DRAIN_ROWS
        if small and index is not None and index.clusters is not None:  # seconds: then save
            while self._grow_once():
                pass
        self._save_if_due(force=True)
        if self._claim is not None:
            self._claim.close()

    # Loading -------------------------------------------------------------------------

    def _loaded(self, connection: Connection, stamp: Stamp) -> VectorIndex:
        settings, folder = self.settings, self.folder
        saved = None if folder is None else files.saved_stamp(folder)
        newer = None
        if saved is not None and saved.newest_upload is not None:
            count, newest = stamp
            if (saved.table_rows, saved.newest_upload) == stamp:
                newer = 0
            elif count > saved.table_rows and newest is not None and newest > saved.newest_upload:
                added = rows_uploaded_after(connection, saved.newest_upload)
                newer = added if saved.table_rows + added == count else None
        if saved is not None and newer is not None and folder is not None:
            try:
                index = files.load(
                    folder, probes=settings.probes, min_ann_rows=settings.min_ann_rows
                )
            except (OSError, ValueError, RuntimeError) as error:  # unreadable: rebuild
                log.warning("vector index in %s unusable (%s); rebuilding", folder, error)
            else:
                self._saved_rows = len(index)
                if newer:
                    index.add(indexable_rows(connection, saved.newest_upload))
                return index
        exact = None
        if folder is not None:  # the saved copy is stale: start the files afresh
            files.remove(folder)
            exact = ExactVectors(files.vectors_file(folder), EMBEDDING_DIMENSION)
        index = VectorIndex(exact=exact, min_ann_rows=settings.min_ann_rows, probes=settings.probes)
        index.add(indexable_rows(connection))
        self._saved_rows = 0
        return index

    # The builder ----------------------------------------------------------------------

    def _wake(self) -> None:
        """Have the background builder look for work (started on first need)."""
        index = self._index
        if index is None or self._closing:
            return
        if index.pending_rows < index.min_ann_rows and index.clusters is None:
            return
        if self._builder is None:
            self._builder = threading.Thread(
                target=self._build_forever, name="learning-store-vector-index", daemon=True
            )
            self._builder.start()
        self._work.notify_all()

    def _build_forever(self) -> None:
        while True:
            with self._lock:
                if self._closing:
                    return
            if self._grow_once():
                continue
            with self._lock:
                if self._closing:
                    return
                due = self._save_due(self._index)
                if not due:
                    self._work.wait(timeout=5.0)
                    continue
            self._save_if_due(force=False)

    def _grow_once(self) -> bool:
        """One turn of building: train the ANN index, or move queued rows into it.

        Training takes seconds, so it runs without the lock; searches go on meanwhile.
        """
        with self._growing:
            with self._lock:
                index = self._index
                if index is None:
                    return False
                if not index.needs_ann:
                    return index.grow(GROW_ROWS) > 0
                sample, expected = index.training_sample()
            clusters = ClusterIndex.trained_on(sample, expected, self.settings.probes)
            with self._lock:
                if self._index is index:
                    index.adopt(clusters)
            return True

    def _save_due(self, index: VectorIndex | None, *, force: bool = False) -> bool:
        if index is None or self.folder is None or index.clusters is None:
            return False
        if index.pending_rows or len(index) == self._saved_rows:
            return False
        return force or len(index) >= self._saved_rows * (1 + SAVE_GROWTH)

    def _save_if_due(self, *, force: bool) -> None:
        """Save the index when it holds every row and has grown enough (or `force`).

        Writing takes about a second at a million rows; searches go on meanwhile, and
        only rows being moved into the ANN index wait (they hold `_growing` too).
        """
        folder = self.folder
        with self._growing:
            with self._lock:
                index, stamp, generation = self._index, self._stamp, self._generation
                if folder is None or stamp is None or not self._save_due(index, force=force):
                    return
                assert index is not None
                rows = len(index)
                snapshot = files.Snapshot.of(index, files.SavedStamp(*stamp))
            try:
                fresh = snapshot.write(folder)
            except OSError as error:  # a full disk must not fail searches: warn, retry later
                log.warning("could not save the vector index to %s: %s", folder, error)
                return
            with self._lock:
                if generation != self._generation:  # dropped meanwhile: the copy is stale
                    files.remove(fresh)
                    return
                files.install(fresh, folder)
                self._saved_rows = rows
