"""A folder of JSON-lines files holding records the database could not take.

Each spool file is written to a temporary name, fsynced, renamed into place and the folder
fsynced, so a file either holds all of its records or does not exist. Replay claims a file
by renaming it (so two processes never replay the same file at once), writes its records,
and deletes it only after they are committed; a crash in between leaves the file to be
replayed again, which task_id idempotency makes harmless.
"""

from __future__ import annotations

import logging
import os
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from pydantic import ValidationError

from learning_store.durability import ensure_folder, fsync_path
from learning_store.models import ExecutionRecord

log = logging.getLogger(__name__)

SUFFIX = ".jsonl"
SPOOL_FILE_MODE = 0o600
"""Spool files hold task text: readable by the owner only."""
CLAIMED = ".replaying-"


@dataclass
class SpoolFile:
    """One claimed spool file and the records read from it."""

    path: Path
    records: list[ExecutionRecord] = field(default_factory=list)
    unreadable_lines: list[int] = field(default_factory=list)


class Spool:
    """Durable overflow storage in `directory` (created on first write)."""

    def __init__(self, directory: Path | str) -> None:
        self.directory = Path(directory)

    def write(self, records: Iterable[ExecutionRecord]) -> Path:
        """Append records as a new spool file, durably; returns its path."""
        lines = [record.model_dump_json() + "\n" for record in records]
        ensure_folder(self.directory, "LEARNING_STORE_TELEMETRY_SPOOL_DIR")
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%f")
        final = self.directory / f"spool-{stamp}-{os.getpid()}-{uuid.uuid4().hex[:8]}{SUFFIX}"
        temporary = final.with_suffix(".tmp")
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, SPOOL_FILE_MODE)
        with open(descriptor, "w", encoding="utf-8") as handle:
            handle.writelines(lines)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, final)
        fsync_path(self.directory)
        return final

    def pending_files(self) -> list[Path]:
        """Spool files waiting for replay, oldest first, including ones a dead process claimed."""
        if not self.directory.is_dir():
            return []
        files = sorted(self.directory.glob(f"*{SUFFIX}"))
        files += [
            path for path in self.directory.glob(f"*{SUFFIX}{CLAIMED}*") if _claim_is_stale(path)
        ]
        return sorted(files)

    def claim(self, path: Path) -> SpoolFile | None:
        """Take a file for replay (None if another process got it first) and read it."""
        base = path.name.split(CLAIMED)[0]
        claimed = path.with_name(f"{base}{CLAIMED}{os.getpid()}")
        try:
            os.replace(path, claimed)
        except FileNotFoundError:
            return None
        spooled = SpoolFile(claimed)
        with open(claimed, encoding="utf-8") as handle:
            for number, line in enumerate(handle, start=1):
                if not line.strip():
                    continue
                try:
                    spooled.records.append(ExecutionRecord.model_validate_json(line))
                except ValidationError:
                    spooled.unreadable_lines.append(number)
        if spooled.unreadable_lines:
            log.warning("spool file %s: unreadable lines %s", claimed, spooled.unreadable_lines)
        return spooled

    def release(self, spooled: SpoolFile) -> None:
        """Give a claimed file back (replay failed); it will be replayed later."""
        original = spooled.path.with_name(spooled.path.name.split(CLAIMED)[0])
        os.replace(spooled.path, original)

    def remove(self, spooled: SpoolFile) -> None:
        """Delete a replayed file (its records are committed)."""
        spooled.path.unlink(missing_ok=True)
        fsync_path(self.directory)


def _claim_is_stale(path: Path) -> bool:
    """A claimed file whose claiming process no longer runs (it crashed mid-replay)."""
    try:
        pid = int(path.name.rsplit(CLAIMED, 1)[1])
    except ValueError:
        return False
    if pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False
