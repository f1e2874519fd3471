"""The vector index on disk, next to the database, so a new process does not rebuild it.

A folder `<database file>.vectors` holds `vectors.f32`, the indexed rows' stored vectors
in position order (appended as rows are indexed, see `ExactVectors`), and `saved/`: the
ANN index (`clusters.faiss`), the rows' ids, filter and outcome columns (`rows.npz`) and
`stamp.json`, the table's version stamp when the index held every row, which a new process
compares with the table before trusting the files. A save writes a new `saved/` and swaps
it in, so a crash leaves the old one or none, never a mix; `vectors.f32` is only ever
appended to, so the first rows a saved index names stay valid.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import IO

import numpy as np

from learning_store.vector_index.clusters import ClusterIndex
from learning_store.vector_index.exact_vectors import ExactVectors
from learning_store.vector_index.index import VectorIndex
from learning_store.vector_index.rows import IndexedRows

FORMAT = 2
"""Bumped whenever the files change shape; other formats are rebuilt, never misread."""


@dataclass(frozen=True)
class SavedStamp:
    """What the table looked like when the index was saved: row count, newest upload."""

    table_rows: int
    newest_upload: datetime | None


def folder_for(database: Path) -> Path:
    """Where the index of this database file lives."""
    return database.with_name(database.name + ".vectors")


@dataclass(frozen=True)
class Snapshot:
    """An index's rows copied at one moment, to be written while searches go on.

    The ANN index itself is written from the live object: whoever writes a snapshot must
    keep rows from being added to it until the write is done.
    """

    clusters: ClusterIndex
    columns: dict[str, np.ndarray]
    meta: dict[str, object]

    @classmethod
    def of(cls, index: VectorIndex, stamp: SavedStamp) -> Snapshot:
        """Copy what to save of an index whose ANN part holds every row."""
        assert index.clusters is not None and index.pending_rows == 0
        index.exact.sync()
        meta = {
            "format": FORMAT,
            "rows": len(index),
            "table_rows": stamp.table_rows,
            "newest_upload": None
            if stamp.newest_upload is None
            else stamp.newest_upload.isoformat(),
        }
        columns, meta["labels"] = index.rows.snapshot(len(index))
        return cls(index.clusters, columns, meta)

    def write(self, folder: Path) -> Path:
        """Write into a new folder inside `folder`; `install` then swaps it in."""
        fresh = folder / f"saved.new-{os.getpid()}"
        shutil.rmtree(fresh, ignore_errors=True)
        fresh.mkdir(parents=True)
        self.clusters.save(fresh / "clusters.faiss")
        np.savez(fresh / "rows.npz", **self.columns)
        (fresh / "stamp.json").write_text(json.dumps(self.meta))
        return fresh


def install(fresh: Path, folder: Path) -> None:
    """Put a written snapshot in place of the saved index (the old one is removed)."""
    saved, retired = folder / "saved", folder / f"saved.old-{os.getpid()}"
    if saved.exists():
        saved.rename(retired)
    fresh.rename(saved)
    shutil.rmtree(retired, ignore_errors=True)


def saved_stamp(folder: Path) -> SavedStamp | None:
    """The stamp of the saved index, or None when there is none this version can read."""
    try:
        meta = json.loads((folder / "saved" / "stamp.json").read_text())
    except (OSError, ValueError):
        return None
    if meta.get("format") != FORMAT:
        return None
    newest = meta["newest_upload"]
    upload = None if newest is None else datetime.fromisoformat(newest)
    return SavedStamp(int(meta["table_rows"]), upload)


def load(folder: Path, *, probes: int, min_ann_rows: int) -> VectorIndex:
    """The saved index (call `saved_stamp` first to know whether to trust it).

    Raises:
        ValueError: the files disagree with each other (rebuild the index).
    """
    saved = folder / "saved"
    meta = json.loads((saved / "stamp.json").read_text())
    with np.load(saved / "rows.npz") as columns:
        rows = IndexedRows.restored({name: columns[name] for name in columns.files}, meta["labels"])
    clusters = ClusterIndex.load(saved / "clusters.faiss")
    if len(clusters) != len(rows) or meta["rows"] != len(rows):
        raise ValueError(f"{folder}: the ANN index and the rows disagree")
    exact = ExactVectors(vectors_file(folder), clusters.dimension, keep=len(rows))
    return VectorIndex(rows, clusters, exact, probes=probes, min_ann_rows=min_ann_rows)


def vectors_file(folder: Path) -> Path:
    """The file of stored vectors an index in this folder rescores with."""
    return folder / "vectors.f32"


def claim(folder: Path) -> IO[bytes] | None:
    """Lock this index folder for one store, or None when another store holds it.

    Two stores on one database file (in one process or, read-only, in two) must not both
    append to `vectors.f32`; the one without the claim keeps its copy in memory instead.
    The lock is released when the returned file is closed.
    """
    folder.parent.mkdir(parents=True, exist_ok=True)
    handle = folder.with_name(folder.name + ".lock").open("ab")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        handle.close()
        return None
    return handle


def remove(folder: Path) -> None:
    """Delete the saved index (after a change its stamp could not reveal)."""
    shutil.rmtree(folder, ignore_errors=True)
