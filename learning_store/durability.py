"""Making files last: create folders with errors that name the setting, and fsync."""

from __future__ import annotations

import os
from pathlib import Path

from learning_store.errors import ConfigurationError


def ensure_folder(folder: Path, setting: str) -> None:
    """Create `folder` (and parents); on failure, say which setting points at it."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigurationError(
            f"Cannot create the data folder {str(folder)!r}: {exc.strerror}. "
            f"Choose a writable location with {setting}."
        ) from None


def fsync_path(path: Path) -> None:
    """Flush a file, or a folder's entries, to disk."""
    descriptor = os.open(path, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
