"""The DuckDB vector index over its life: load, keep in step, build, save, rebuild.

One keeper per database per process: every store of this process on one DuckDB file
shares it (as they share the file's write gate), so a write through any of them reaches
the index at once. Every other change is caught by the table's version stamp (row count,
newest upload, change generation; see `duckdb_vectors`): a search whose stamp differs
while no write of this process is in flight has the index caught up or rebuilt first.

Work happens on one background thread, the builder: loading (from the saved files when
their stamp and checksums match the table, else from every stored vector), training the
ANN index, moving new rows into it, retraining it as the table grows, and saving it. A
write only appends its rows to the index (they are scanned exactly until the builder
moves them in) and never waits for the builder, and a store that only writes keeps the
index ready too: its first write has the builder load it. Closing the last store of a
database has the builder finish the ANN index and save it, so the next process loads it.

A load reads the table inside one transaction begun while no write of this process is in
flight (the write gate is held exclusively for that instant); writes that commit later are
recorded while the load runs and applied to the loaded index before it is installed.

Lock order, with no cycle: write gate -> a pooled connection -> `_lock`. `_lock` guards
the index in memory and is a leaf: whoever holds it waits for nothing else (no
connection, no gate). A search never waits for the builder while holding a connection.
Failures of the index never fail a write that committed: they are logged and the index is
rebuilt; a search meanwhile scans the table exactly.
"""

from __future__ import annotations

import contextlib
import enum
import logging
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import IO, Any

import numpy as np
from sqlalchemy.engine import Connection

from learning_store.models import EMBEDDING_DIMENSION
from learning_store.repository.duckdb_vectors import (
    indexable_rows,
    rows_by_id,
    rows_uploaded_after,
    table_stamp,
)
from learning_store.vector_index import files
from learning_store.vector_index.clusters import ClusterIndex
from learning_store.vector_index.exact_vectors import ExactVectors
from learning_store.vector_index.files import TableStamp
from learning_store.vector_index.index import MIN_ANN_ROWS, VectorIndex
from learning_store.vector_index.rows import RowBatch, id_keys

log = logging.getLogger(__name__)

GROW_ROWS = 16_384
"""Rows the builder moves into the ANN index per turn (a search waits at most one filing)."""
BUILD_QUIET_S = 2.0
"""The builder trains and grows the ANN index once writes paused this long, so a bulk load
does not share its two cores with the index (it is built once, when the load ends)..."""
TRAIN_ANYWAY = 4
"""...or, without a pause, once the table holds this many times `min_ann_rows`..."""
GROW_ANYWAY = 0.02
"""...and once this share of the rows waits for the ANN index (scanned exactly meanwhile)."""
RETRAIN_GROWTH = 4.0
"""The builder retrains the ANN index once the table holds this many times the rows it was
sized and trained for (its lists would otherwise grow long and its centroids stale)."""
RETRAIN_GROWTH_ON_DEMAND = 1.25
"""...and `finish` (an explicit build) already at this growth."""
COMPACT_DEAD_SHARE = 0.25
"""The index is rebuilt from the table once this share of its rows is dead."""
SAVE_GROWTH = 0.1
"""The builder saves again once the index changed by this share since the last save."""
SAVE_INTERVAL_S = 60.0
"""...or once this long passed with any change and nothing left to build."""
SAVE_QUIET_S = 2.0
"""The builder saves only once no write came for this long (a bulk load is saved at its
close, not again and again while its rows stream in)."""
RETRY_AFTER_FAILURE_S = 30.0
"""A load that failed is not retried for this long (searches scan the table meanwhile)."""
WAIT_FOR_LOAD_S = 600.0
"""The longest a search waits for a load before it scans the table instead."""


@dataclass(frozen=True)
class IndexSettings:
    """Knobs of the DuckDB vector index (see `LearningConfig`)."""

    folder: Path | None
    """Where the index is saved; None for an in-memory database (never saved)."""
    min_ann_rows: int = MIN_ANN_ROWS


@dataclass(frozen=True)
class IndexStatus:
    """How much of the table the vector index covers, for `learning-store index`."""

    rows: int
    ann_rows: int
    pending_rows: int
    lists: int
    saved: bool
    dead_rows: int = 0


@dataclass(frozen=True)
class StoreLink:
    """What the keeper needs of a store: connections, and the moments no write is in flight.

    `barrier` holds off this process's writes to the database (the write gate held
    exclusively, or the lock an in-memory database's one connection is used under);
    `busy` says whether a write holds the gate now. With `hold_barrier` a load keeps the
    barrier for its whole read (an in-memory database's one connection cannot be shared).
    """

    connect: Callable[[], contextlib.AbstractContextManager[Connection]]
    barrier: Callable[[], contextlib.AbstractContextManager[Any]]
    busy: Callable[[], bool]
    hold_barrier: bool = False


class Verdict(enum.Enum):
    """What a search should do when the index cannot answer it now."""

    WAIT = "wait"
    """Give the connection back, wait for the builder (`wait_ready`), then try again."""
    EXACT = "exact"
    """Scan the table exactly (the index failed to load)."""


@dataclass(frozen=True)
class _Change:
    """A committed change of this process, recorded while a load reads the table."""

    apply: Callable[[VectorIndex, TableStamp], TableStamp]


@dataclass
class _Saved:
    """What the files on disk hold, to judge whether a save is due."""

    rows: int = 0
    dead: int = 0
    ann_rows: int = 0
    at: float = field(default_factory=time.monotonic)


class IndexKeeper:
    """One database's vector index: answers searches, takes in writes, builds and saves."""

    def __init__(self, settings: IndexSettings) -> None:
        self.settings = settings
        self._lock = threading.RLock()
        self._changed = threading.Condition(self._lock)
        self._links: list[StoreLink] = []
        self._index: VectorIndex | None = None
        self._stamp: TableStamp | None = None
        self._changes = 0
        """Changes of this process applied so far (a search compares it before and after)."""
        self._stale = False
        self._load_wanted = False
        self._loading = False
        self._backlog: list[_Change] | None = None
        self._failed_at: float | None = None
        self._finish_asked = self._finish_done = 0
        self._thorough = False
        """An explicit build asked for a fresh ANN index (see RETRAIN_GROWTH_ON_DEMAND)."""
        self._rebuild = False
        """The next load reads every row from the table, trusting neither memory nor files."""
        self._saved = _Saved()
        self._last_change = 0.0
        self._builder: threading.Thread | None = None
        self._closing = False
        self._claim: IO[bytes] | None = None
        self._folder_checked = False

    # Stores ---------------------------------------------------------------------------

    def attach(self, link: StoreLink) -> None:
        """A store opened on this database (the keeper connects through the first one)."""
        with self._lock:
            self._links.append(link)

    def detach(self, link: StoreLink) -> bool:
        """A store closed; True when it was the last one (then call `close`)."""
        with self._lock:
            if link in self._links:
                self._links.remove(link)
            return not self._links

    @property
    def folder(self) -> Path | None:
        """The folder this process saves the index in, once claimed (None: memory only)."""
        if not self._folder_checked and self.settings.folder is not None:
            self._folder_checked = True
            self._claim = files.claim(self.settings.folder)
            if self._claim is None:
                log.info(
                    "%s is used by another process; this one keeps its index in memory",
                    self.settings.folder,
                )
        return self.settings.folder if self._claim is not None else None

    # Searches -------------------------------------------------------------------------

    @property
    def changes(self) -> int:
        """How many changes of this process the index took in (read before the stamp)."""
        return self._changes

    @contextlib.contextmanager
    def reading(
        self, stamp: tuple[int, datetime | None], seen: int
    ) -> Iterator[VectorIndex | Verdict]:
        """The index, to search while the block holds its lock, or what to do instead.

        `stamp` is the table's row count and newest upload as the search's transaction
        sees it (`duckdb_vectors.rows_stamp`) and `seen` the
        `changes` read before it: a difference that this process's writes explain (one is
        in flight, or one was applied meanwhile) is no reason to distrust the index.
        """
        with self._lock:
            yield self._verdict(stamp, seen)

    def _verdict(self, stamp: tuple[int, datetime | None], seen: int) -> VectorIndex | Verdict:
        if self._failed_at is not None:
            if time.monotonic() - self._failed_at < RETRY_AFTER_FAILURE_S:
                return Verdict.EXACT
            self._failed_at = None
        index = self._index
        if index is None or self._stale:
            self._want_load()
            return Verdict.WAIT
        known = self._stamp
        same = known is not None and stamp == (known.rows, known.newest_upload)
        if same or self._changes != seen or self._busy():
            return index
        self._stale = True  # changed behind this process's back: catch up or rebuild
        self._want_load()
        return Verdict.WAIT

    def wait_ready(self, timeout: float = WAIT_FOR_LOAD_S) -> None:
        """Wait (holding no connection) until a load asked for has ended."""
        deadline = time.monotonic() + timeout
        with self._lock:
            while self._load_wanted or self._loading:
                left = deadline - time.monotonic()
                if left <= 0 or self._closing:
                    return
                self._changed.wait(min(left, 1.0))

    # Changes this process committed (called while the write still holds the gate) -------

    def inserted(self, batch: Callable[[], RowBatch], written: int, uploaded_at: datetime) -> None:
        """Take in rows a write just committed (`batch` gives exactly those rows)."""
        if written == 0:
            return

        def apply(index: VectorIndex, stamp: TableStamp) -> TableStamp:
            assert rows is not None
            index.add(rows)
            newest = max(filter(None, (stamp.newest_upload, uploaded_at)))
            return TableStamp(stamp.rows + written, newest, stamp.generation)

        with self._lock:
            if self._index is None and self._backlog is None:
                self._want_load()  # the load's snapshot will hold these rows
                return
        rows = self._safely(batch)
        if rows is not None:
            self._take(_Change(apply))

    def removed(self, selector: Callable[[VectorIndex], np.ndarray], stamp: TableStamp) -> None:
        """Stop returning rows a delete just committed; `stamp` is the table's after it."""

        def apply(index: VectorIndex, _: TableStamp) -> TableStamp:
            index.kill(selector(index))
            return stamp

        self._take(_Change(apply))

    def replaced(self, raw_ids: np.ndarray, batch: RowBatch, stamp: TableStamp) -> None:
        """Rows got new vectors: the old ones die, `batch` holds the rows anew."""

        def apply(index: VectorIndex, _: TableStamp) -> TableStamp:
            index.kill(index.rows.live_positions_of(raw_ids))
            index.add(batch)
            return stamp

        self._take(_Change(apply))

    def _take(self, change: _Change) -> None:
        """Apply a committed change to the index (and record it for a load under way)."""
        with self._lock:
            if self._backlog is not None:
                self._backlog.append(change)
            if self._index is None or self._stamp is None or self._stale:
                return
            self._last_change = time.monotonic()
            try:
                self._stamp = change.apply(self._index, self._stamp)
                self._changes += 1
            except Exception:  # the write committed: never fail it, rebuild instead
                log.exception("the vector index could not take in a change; rebuilding it")
                self._stale = True
                self._want_load()
                return
            self._wake()

    def _safely(self, batch: Callable[[], RowBatch]) -> RowBatch | None:
        try:
            return batch()
        except Exception:
            log.exception("the vector index could not read a write's rows; rebuilding it")
            with self._lock:
                self._stale = True
                self._want_load()
            return None

    # Building and saving on demand -----------------------------------------------------

    def load(self, *, wait: bool) -> None:
        """Load the index now, so the writes that follow go straight into it."""
        with self._lock:
            if self._index is None and not self._loading:
                self._want_load()
        if wait:
            self.wait_ready()

    def finish(self, timeout: float | None = None, *, rebuild: bool = False) -> IndexStatus:
        """Load the index, move every row into the ANN index, save it; its status.

        With `rebuild` the index is read afresh from the table (after plain-SQL changes
        that no stamp reveals: see `db check`).
        """
        with self._lock:
            if rebuild:
                self._rebuild = self._stale = True
                self._failed_at = None
            if self._index is None or rebuild:
                self._want_load()
            self._finish_asked += 1
            self._thorough = True
            ticket = self._finish_asked
            self._wake(force=True)
            deadline = None if timeout is None else time.monotonic() + timeout
            while self._finish_done < ticket and self._builder_alive():
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    break
                self._changed.wait(1.0 if left is None else min(left, 1.0))
        return self.status()

    def status(self) -> IndexStatus:
        """What the index in memory covers (all zero before it is loaded)."""
        with self._lock:
            index = self._index
            if index is None:
                return IndexStatus(0, 0, 0, 0, False)
            saved = (
                self._saved.rows == len(index)
                and self._saved.dead == index.rows.dead
                and self._saved.ann_rows == index.ann_rows
                and len(index) > 0
            )
            return IndexStatus(
                rows=len(index),
                ann_rows=index.ann_rows,
                pending_rows=index.pending_rows,
                lists=0 if index.clusters is None else index.clusters.lists,
                saved=saved,
                dead_rows=index.rows.dead,
            )

    def close(self) -> None:
        """Finish and save the index (if it changed), then stop the builder."""
        with self._lock:
            if self._builder_alive() and self._index is not None:
                self._finish_asked += 1
            self._closing = True
            self._changed.notify_all()
            builder = self._builder
        if builder is not None:
            builder.join()
        if self._claim is not None:
            self._claim.close()
            self._claim = None

    # The builder ----------------------------------------------------------------------

    def _want_load(self) -> None:
        if (
            self._failed_at is not None
            and time.monotonic() - self._failed_at < RETRY_AFTER_FAILURE_S
        ):
            return  # searches scan the table until then
        self._failed_at = None
        self._load_wanted = True
        self._wake(force=True)

    def _wake(self, force: bool = False) -> None:
        """Have the builder look for work (started on first need)."""
        if self._closing:
            return
        if not self._builder_alive():
            if not force and not self._work_waiting():
                return
            self._builder = threading.Thread(
                target=self._build_forever, name="learning-store-vector-index", daemon=True
            )
            self._builder.start()
        self._changed.notify_all()

    def _builder_alive(self) -> bool:
        return self._builder is not None and self._builder.is_alive()

    def _busy(self) -> bool:
        return any(link.busy() for link in self._links[:1])

    def _work_waiting(self) -> bool:
        index = self._index
        if self._load_wanted:
            return True
        if index is None:
            return False
        return index.needs_ann or (index.clusters is not None and index.pending_rows > 0)

    def _build_forever(self) -> None:
        while True:
            with self._lock:
                step = self._next_step()
                while step is None and not self._closing:
                    self._changed.wait(timeout=BUILD_QUIET_S if self._work_waiting() else 5.0)
                    step = self._next_step()
                if step is None:  # closing, and nothing left to do
                    self._changed.notify_all()
                    return
            try:
                step()
            except Exception:
                log.exception("the vector index builder failed; searches scan the table")
                with self._lock:
                    self._index, self._stamp, self._stale = None, None, False
                    self._loading, self._load_wanted, self._backlog = False, False, None
                    self._failed_at = time.monotonic()
                    self._finish_done = self._finish_asked
                    self._changed.notify_all()
            finally:
                with self._lock:
                    self._changed.notify_all()

    def _next_step(self) -> Callable[[], None] | None:
        """The builder's next piece of work (called holding `_lock`), or None."""
        if self._load_wanted:
            self._load_wanted, self._loading = False, True
            return self._load
        index = self._index
        finishing = self._finish_asked > self._finish_done
        if index is not None and not self._stale:
            quiet = finishing or time.monotonic() - self._last_change >= BUILD_QUIET_S
            if index.needs_ann and (quiet or index.live_rows >= TRAIN_ANYWAY * index.min_ann_rows):
                return self._train
            if quiet and self._retrain_due(index):
                return self._train
            backlog = max(GROW_ROWS, GROW_ANYWAY * len(index))
            pending = index.pending_rows if index.clusters is not None else 0
            if pending and (quiet or pending >= backlog):
                return self._grow
            if self._compaction_due(index) and not finishing:
                self._load_wanted, self._loading = False, True
                return self._load
            if finishing or self._save_due(index):
                return self._save_and_settle
        elif finishing:
            return self._save_and_settle
        return None

    def _retrain_due(self, index: VectorIndex) -> bool:
        growth = RETRAIN_GROWTH_ON_DEMAND if self._thorough else RETRAIN_GROWTH
        trained = max(index.trained_for, 1)
        return index.clusters is not None and index.live_rows > growth * trained

    def _compaction_due(self, index: VectorIndex) -> bool:
        dead = index.rows.dead
        return dead > 1000 and dead > COMPACT_DEAD_SHARE * len(index)

    # Loading --------------------------------------------------------------------------

    def _load(self) -> None:
        """Install an index that matches the table (caught up, loaded or rebuilt)."""
        try:
            self._load_once()
        finally:
            with self._lock:
                self._loading = False
                self._backlog = None
                self._changed.notify_all()

    def _load_once(self) -> None:
        with self._lock:
            if not self._links:
                return
            link = self._links[0]
        with contextlib.ExitStack() as stack:
            barrier = contextlib.ExitStack()
            stack.enter_context(barrier)
            barrier.enter_context(link.barrier())
            connection = stack.enter_context(link.connect())
            stack.enter_context(connection.begin())
            stamp = table_stamp(connection)  # the transaction's snapshot: no write in flight
            with self._lock:
                current, known = self._index, self._stamp
                rebuild, self._rebuild = self._rebuild, False
                if rebuild:
                    current = known = None
                if current is not None and known == stamp:
                    self._stale = False  # nothing changed behind our back after all
                    return
            if current is not None and known is not None:
                tail = self._tail_since(connection, known, stamp)
                if tail is not None:  # only rows were added: add them (no write in flight)
                    with self._lock:
                        for batch in tail:
                            current.add(batch)
                        self._stamp, self._stale = stamp, False
                        self._changes += 1
                    return
            with self._lock:
                self._backlog = []
            if not link.hold_barrier:
                barrier.close()  # writes go on; the backlog records them
            started = time.perf_counter()
            index, source = self._read_index(connection, stamp, use_files=not rebuild)
            warm_up(connection, index)
            with self._lock:
                backlog, self._backlog = self._backlog or [], None
                for change in backlog:
                    stamp = change.apply(index, stamp)
                old, self._index, self._stamp = self._index, index, stamp
                self._stale = False
                self._changes += 1
                self._changed.notify_all()
            log.info(
                "vector index %s: %s rows in %.2f s",
                source,
                f"{len(index):,}",
                time.perf_counter() - started,
            )
        self._forget_files_of(old, index)

    def _tail_since(
        self, connection: Connection, known: TableStamp, stamp: TableStamp
    ) -> list[RowBatch] | None:
        """The rows uploaded since `known`, when adding them is all that changed; else None."""
        if known.generation != stamp.generation or stamp.rows <= known.rows:
            return None
        newest = known.newest_upload
        if newest is None or stamp.newest_upload is None or stamp.newest_upload <= newest:
            return None
        if known.rows + rows_uploaded_after(connection, newest) != stamp.rows:
            return None
        return list(indexable_rows(connection, newest))

    def _read_index(
        self, connection: Connection, stamp: TableStamp, *, use_files: bool = True
    ) -> tuple[VectorIndex, str]:
        """The index of the table as `stamp` describes it: saved files (+ new rows) or all."""
        folder = self.folder
        if folder is not None and use_files:
            loaded = self._from_files(connection, folder, stamp)
            if loaded is not None:
                return loaded, "loaded from its saved files"
        vectors = ExactVectors(
            None if folder is None else files.new_vectors_file(folder), EMBEDDING_DIMENSION
        )
        index = VectorIndex(vectors=vectors, min_ann_rows=self.settings.min_ann_rows)
        for batch in indexable_rows(connection):
            index.add(batch)
        if folder is not None:
            files.forget(folder)  # the saved copy is of another table: never load it again
            self._saved = _Saved()
        return index, "read from the table"

    def _from_files(
        self, connection: Connection, folder: Path, stamp: TableStamp
    ) -> VectorIndex | None:
        """The saved index caught up with rows inserted since, or None when it cannot be."""
        try:
            state = files.saved_state(folder)
        except Exception as error:
            log.warning("the saved vector index in %s is damaged (%s); rebuilding", folder, error)
            return None
        if state is None:
            return None
        saved = state.table
        newer = 0
        if saved != stamp:
            newest = saved.newest_upload
            if (
                saved.generation != stamp.generation
                or newest is None
                or stamp.newest_upload is None
                or stamp.rows <= saved.rows
                or stamp.newest_upload <= newest
            ):
                return None
            newer = rows_uploaded_after(connection, newest)
            if saved.rows + newer != stamp.rows:
                return None
        try:
            index = files.load(folder, state, min_ann_rows=self.settings.min_ann_rows)
        except Exception as error:  # any damage, of any kind: warn once, rebuild
            log.warning("the saved vector index in %s is unusable (%s); rebuilding", folder, error)
            return None
        self._saved = _Saved(len(index), index.rows.dead, index.ann_rows)
        if newer:
            for batch in indexable_rows(connection, saved.newest_upload):
                index.add(batch)
        return index

    def _forget_files_of(self, old: VectorIndex | None, new: VectorIndex) -> None:
        """Delete the vectors file of a replaced index (and anything else unused)."""
        folder = self.folder
        if folder is None or old is None or old.vectors.path == new.vectors.path:
            return
        files.remove_unused(folder, self._files_in_use())

    def _files_in_use(self) -> set[str]:
        with self._lock:
            index = self._index
        path = None if index is None else index.vectors.path
        return set() if path is None else {path.name}

    # Building -------------------------------------------------------------------------

    def _train(self) -> None:
        """Train an ANN index on a sample of the rows and file every row in it.

        Searches go on meanwhile (pending rows are scanned exactly); the new ANN index is
        swapped in once it holds the rows the sample was taken from.
        """
        with self._lock:
            index = self._index
        if index is None:
            return
        sample, rows = index.training_sample()
        clusters = ClusterIndex.trained_on(sample, rows)
        for start in range(0, rows, GROW_ROWS):
            block = index.vectors.block(start, min(rows, start + GROW_ROWS))
            clusters.add(_unit(block))
        with self._lock:
            if self._index is index:
                index.install(clusters, trained_for=rows)
                self._changed.notify_all()

    def _grow(self) -> None:
        """Move one turn of pending rows into the ANN index (the costly half unlocked)."""
        with self._lock:
            index = self._index
            block = None if index is None else index.pending_block(GROW_ROWS)
        if index is None or block is None:
            return
        assert index.clusters is not None
        lists = index.clusters.assign(block.units)
        with self._lock:
            if self._index is index:
                index.take_in(block, lists)

    def _save_due(self, index: VectorIndex) -> bool:
        if self.folder is None or index.pending_rows or index.needs_ann:
            return False
        saved = self._saved
        changed = (
            len(index) != saved.rows
            or index.rows.dead != saved.dead
            or index.ann_rows != saved.ann_rows
        )
        if not changed:
            return False
        if time.monotonic() - self._last_change < SAVE_QUIET_S:
            return False
        grown = abs(len(index) - saved.rows) + abs(index.rows.dead - saved.dead)
        return (
            grown >= SAVE_GROWTH * max(saved.rows, 1)
            or time.monotonic() - saved.at >= SAVE_INTERVAL_S
        )

    def _save_and_settle(self) -> None:
        """Save the index if it changed since the last save, then answer `finish` calls."""
        with self._lock:
            ticket = self._finish_asked
            index, stamp = self._index, self._stamp
        try:
            if index is not None and stamp is not None and not self._stale:
                self._save(index, stamp)
        finally:
            with self._lock:
                self._finish_done = max(self._finish_done, ticket)
                if self._finish_done >= self._finish_asked:
                    self._thorough = False
                self._changed.notify_all()

    def _save(self, index: VectorIndex, stamp: TableStamp) -> None:
        folder = self.folder
        saved = self._saved
        unchanged = (
            len(index) == saved.rows
            and index.rows.dead == saved.dead
            and index.ann_rows == saved.ann_rows
        )
        if folder is None or index.vectors.path is None or unchanged or len(index) == 0:
            return
        with self._lock:
            if self._index is not index:
                return
            stamp = self._stamp or stamp
            snapshot = files.Snapshot.of(index, stamp)
            counts = _Saved(len(index), index.rows.dead, index.ann_rows)
        try:
            index.vectors.sync()
            snapshot.write(folder)
        except OSError as error:  # a full disk must not fail searches: warn, retry later
            log.warning("could not save the vector index to %s: %s", folder, error)
            self._saved.at = time.monotonic()
            return
        self._saved = counts
        files.remove_unused(folder, self._files_in_use())


WARM_UP_ROWS = 256
"""Rows read, spread over the table, before a loaded index answers its first search."""


def warm_up(connection: Connection, index: VectorIndex) -> None:
    """Read rows as a search reads its winners, spread over the whole table.

    A process's first reads of a table's row groups cost several times the later ones
    (at a million rows the first winners' read took 25 ms, then 2-5 ms for a dozen
    searches, then 1.7 ms): paying that here keeps it out of the first searches.
    """
    if not len(index):
        return
    positions = np.linspace(0, len(index) - 1, num=min(WARM_UP_ROWS, len(index)))
    ids = index.rows.task_ids(positions.astype(np.int64))
    for start in range(0, len(ids), 16):
        rows_by_id(connection, [ids[row] for row in range(start, min(start + 16, len(ids)))])


def _unit(vectors: np.ndarray) -> np.ndarray:
    from learning_store.similarity import unit_rows

    return unit_rows(np.asarray(vectors, dtype=np.float32))


def positions_of_ids(raw_ids: np.ndarray) -> Callable[[VectorIndex], np.ndarray]:
    """A selector of the live rows with these task_ids (16 bytes each)."""
    return lambda index: index.rows.live_positions_of(raw_ids)


def positions_before(cutoff_us: int) -> Callable[[VectorIndex], np.ndarray]:
    """A selector of the live rows whose timestamp is before this moment."""
    return lambda index: index.rows.live_positions_before(cutoff_us)


__all__ = [
    "IndexKeeper",
    "IndexSettings",
    "IndexStatus",
    "StoreLink",
    "Verdict",
    "id_keys",
    "positions_before",
    "positions_of_ids",
]
