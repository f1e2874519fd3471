"""File formats we read and write, chosen by extension or by name."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path


class FileFormat(StrEnum):
    """A supported file format."""

    JSONL = "jsonl"
    CSV = "csv"
    PARQUET = "parquet"
    OTLP_JSON = "otlp-json"
    """The OpenTelemetry file exporter's trace requests (never chosen by extension)."""


EXPORTABLE = (FileFormat.JSONL, FileFormat.CSV, FileFormat.PARQUET)
"""Formats `export` writes; OTLP/JSON is read only (it is spans, not executions)."""

_EXTENSIONS = {
    ".jsonl": FileFormat.JSONL,
    ".ndjson": FileFormat.JSONL,
    ".json": FileFormat.JSONL,
    ".csv": FileFormat.CSV,
    ".parquet": FileFormat.PARQUET,
    ".pq": FileFormat.PARQUET,
}


def detect_format(path: Path, given: str | None = None) -> FileFormat:
    """The format named by `given`, else by the file's extension; ValueError says which exist."""
    if given:
        try:
            return FileFormat(given.lower())
        except ValueError:
            raise ValueError(
                f"Unknown format {given!r}: use one of {', '.join(f.value for f in FileFormat)}"
            ) from None
    suffixes = [suffix.lower() for suffix in path.suffixes]
    for suffix in reversed(suffixes):
        if suffix in _EXTENSIONS:
            return _EXTENSIONS[suffix]
    raise ValueError(
        f"Cannot tell the format of {str(path)!r} from its extension: name it .jsonl, .csv or "
        ".parquet, or pass --format jsonl|csv|parquet|otlp-json"
    )
