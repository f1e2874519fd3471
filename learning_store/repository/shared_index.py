"""One vector index per DuckDB file per process, shared by every store opened on it.

Every connection to one file in a process reaches the same DuckDB database, so the stores
of a process on one file share its write gate and its vector index: a write through any of
them reaches the index at once, and the file's index is held in memory once. The last
store to close has the index finished and saved.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

from learning_store.repository.index_keeper import IndexKeeper, IndexSettings, StoreLink

_keepers: dict[str, IndexKeeper] = {}
_keepers_lock = threading.Lock()


def shared_keeper(path: Path, settings: IndexSettings, link: StoreLink) -> IndexKeeper:
    """The index of this database file, with the store `link` attached to it.

    The first store creates it with its `settings`; later ones share those.
    """
    key = os.path.realpath(path)
    with _keepers_lock:
        keeper = _keepers.get(key)
        if keeper is None:
            keeper = _keepers[key] = IndexKeeper(settings)
        keeper.attach(link)
        return keeper


def release_keeper(keeper: IndexKeeper, link: StoreLink) -> None:
    """A store of this file closed; the last one's close finishes and saves the index."""
    with _keepers_lock:
        last = keeper.detach(link)
        if last:
            for key, held in list(_keepers.items()):
                if held is keeper:
                    del _keepers[key]
    if last:
        keeper.close()
