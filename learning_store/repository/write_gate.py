"""One write gate per DuckDB file per process: no two transactions hold the same task_id.

DuckDB resolves concurrent transactions optimistically: when two connections insert (or
update) the same key, the one that commits second fails with a duplicate-key or
write-write conflict error, whatever `WHERE NOT EXISTS` or `ON CONFLICT DO NOTHING` said
when it ran. Retrying only lowers the odds. The gate removes the race instead: a write
transaction first claims its task_ids, waiting while any of them is claimed by a
transaction still in flight, so the later one begins after the earlier one committed and
its anti-join sees those rows. Writers with disjoint ids still commit in parallel.

Every connection to one file in a process shares one DuckDB database instance, so the
gate is shared by every repository opened on that file (keyed by its real path).
Statements whose rows are not known in advance (deletes by age, schema changes) take the
gate exclusively.
"""

from __future__ import annotations

import os
import threading
import weakref
from collections.abc import Collection, Iterator
from contextlib import contextmanager
from pathlib import Path


class WriteGate:
    """Admits write transactions so that no two in flight share a task_id."""

    def __init__(self) -> None:
        self._changed = threading.Condition()
        self._claimed: set[bytes] = set()
        self._active = 0
        self._exclusive = False

    @contextmanager
    def claim(self, task_ids: Collection[bytes]) -> Iterator[None]:
        """Hold these task_ids (16 bytes each) for the block; wait while any is held.

        Whatever ends the block or the wait (an error, a KeyboardInterrupt while waiting),
        the gate is left as it was found.
        """
        claimed = False
        try:
            with self._changed:
                while self._exclusive or not self._claimed.isdisjoint(task_ids):
                    self._changed.wait()
                self._claimed.update(task_ids)
                self._active += 1
                claimed = True
            yield
        finally:
            if claimed:
                with self._changed:
                    self._claimed.difference_update(task_ids)
                    self._active -= 1
                    self._changed.notify_all()

    @contextmanager
    def exclusive(self) -> Iterator[None]:
        """Hold the whole file: waits for writers in flight and keeps new ones out.

        The gate is released however the block or the wait ends, interrupts included:
        a Ctrl-C while waiting for writers in flight must not leave every later writer
        blocked.
        """
        taken = False
        try:
            with self._changed:
                while self._exclusive:
                    self._changed.wait()
                self._exclusive = taken = True
                while self._active:
                    self._changed.wait()
            yield
        finally:
            if taken:
                with self._changed:
                    self._exclusive = False
                    self._changed.notify_all()

    @property
    def busy(self) -> bool:
        """Whether a write holds the gate now (its commit may not be applied everywhere yet)."""
        with self._changed:
            return self._exclusive or self._active > 0


_gates: weakref.WeakValueDictionary[str, WriteGate] = weakref.WeakValueDictionary()
_gates_lock = threading.Lock()


def gate_for_file(path: Path) -> WriteGate:
    """The gate of a DuckDB file, shared by every repository in this process that opens it."""
    key = os.path.realpath(path)
    with _gates_lock:
        gate = _gates.get(key)
        if gate is None:
            gate = _gates[key] = WriteGate()
        return gate
