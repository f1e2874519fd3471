"""Input columns to the export schema's types, flagging every value the fast path cannot judge.

Each converter returns the column in `ARROW_SCHEMA`'s type and an `unsure` mask. A value is
converted only when its conversion is certainly the one `ExecutionRecord` makes (a Python
`int` for an int field, an ISO 8601 time with a zone, a canonical UUID, ...); anything else
(a coercion pydantic might make differently, a wrong type, a required field that is absent)
is left null and flagged, and the exact validator decides that row. Absent fields take
their defaults here. Rows come as Python values (mappings: a missing key is `MISSING`) or as
Arrow arrays (files: null means "not given", as the row reader has always read it).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from learning_store.arrow_codec import ARROW_SCHEMA, metadata_encoder
from learning_store.bulk.fields import FieldRule
from learning_store.models import (
    EMBEDDING_DIMENSION,
    EXPONENT_FLOAT_LIMIT,
    MAX_METADATA_BYTES,
    _checked_metadata,
)

MISSING: Any = type("Missing", (), {"__repr__": lambda self: "MISSING"})()
"""A mapping's absent key (as opposed to a key holding None)."""

UUID_TEXT = re.compile(r"[0-9a-fA-F]{8}(?:-[0-9a-fA-F]{4}){3}-[0-9a-fA-F]{12}")
ISO_TIME = (
    r"^(?:000[1-9]|00[1-9][0-9]|0[1-9][0-9]{2}|[1-9][0-9]{3})-(?:0[1-9]|1[0-2])-"
    r"(?:0[1-9]|[12][0-9]|3[01])[T ](?:[01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](?:\.[0-9]{1,6})?"
    r"(?:Z|[+-](?:[01][0-9]|2[0-3]):[0-5][0-9])$"
)
"""Times both parsers read alike: ISO 8601 with 'T' or a space, seconds, at most microseconds
and a zone (CSV files hold times as `str(datetime)`, with a space)."""

MICROS_UTC = pa.timestamp("us", tz="UTC")


@dataclass(frozen=True, slots=True)
class Converted:
    """A column in the export schema's type, and the rows the fast path cannot judge."""

    array: pa.Array
    unsure: np.ndarray


def target_type(rule: FieldRule) -> pa.DataType:
    """The column's type in the export schema."""
    return ARROW_SCHEMA.field(rule.name).type


UNSURE: Any = object()
"""What a converter returns for a value only the exact validator can judge."""


def metadata_text(value: Any) -> Any:
    """Metadata as stored (the record's JSON text), or `UNSURE`."""
    if type(value) is not dict:
        return UNSURE
    if not value:
        return "{}"
    text = _flat_metadata_text(value)
    if text is not None:
        return text
    try:
        return _ENCODE(_checked_metadata(value))
    except ValueError:
        return UNSURE


def _flat_metadata_text(value: dict[Any, Any]) -> str | None:
    """The text of an object holding only plain scalars, which round-trips unchanged.

    Such an object passes `_checked_metadata` exactly when this returns text: strings are
    valid UTF-8 without NUL, floats are finite and below the exponent form that PostgreSQL
    turns into integers, and the ASCII-escaped text (never shorter than the UTF-8 text the
    limit measures) fits. Anything else (nesting, other types) takes the full check.
    """
    for key, item in value.items():
        if type(key) is not str or not _plain_text(key):
            return None
        kind = type(item)
        if kind is str:
            if not _plain_text(item):
                return None
        elif kind is float:
            if not abs(item) < EXPONENT_FLOAT_LIMIT:  # also false for NaN
                return None
        elif kind is not int and kind is not bool and item is not None:
            return None
    text = _ENCODE(value)
    return text if len(text) <= MAX_METADATA_BYTES else None


def _plain_text(text: str) -> bool:
    if "\x00" in text:
        return False
    if text.isascii():
        return True
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def uuid_array(ids: list[bytes | None]) -> pa.Array:
    """task_ids (16 bytes each, or None) as Arrow's uuid type."""
    return pa.ExtensionArray.from_storage(pa.uuid(), pa.array(ids, pa.binary(16)))


def micros_array(micros: np.ndarray, valid: np.ndarray) -> pa.Array:
    """A UTC time column from microseconds since the epoch; rows not `valid` are null."""
    return pa.array(micros, pa.int64(), mask=~valid).cast(MICROS_UTC)


def vector_matrix(array: pa.FixedSizeListArray) -> np.ndarray:
    """An (n, 384) float32 copy of a vector column (null rows hold whatever the slots do).

    A copy, because `ValidBatch.with_embeddings` writes computed vectors into it.
    """
    values = array.values.slice(
        array.offset * EMBEDDING_DIMENSION, len(array) * EMBEDDING_DIMENSION
    )
    matrix = values.to_numpy(zero_copy_only=False).astype(np.float32)
    return matrix.reshape(-1, EMBEDDING_DIMENSION)


def vector_array(matrix: np.ndarray, present: np.ndarray) -> pa.Array:
    """A vector column from an (n, 384) float32 matrix; rows not `present` are null."""
    mask = None if present.all() else pa.array(~present)
    return pa.FixedSizeListArray.from_arrays(
        pa.array(matrix.reshape(-1)), EMBEDDING_DIMENSION, mask=mask
    )


_ENCODE = metadata_encoder()
"""Stateless (no circular-reference markers), so threads may share it."""


def times_from_text(text: pa.Array) -> Converted:
    """ISO 8601 strings with a zone (see `ISO_TIME`); others are flagged."""
    readable = np.asarray(pc.fill_null(pc.match_substring_regex(text, ISO_TIME), False)).copy()
    candidates = pc.if_else(pa.array(readable), text, pa.scalar(None, pa.string()))
    given = np.asarray(text.is_valid())
    try:
        return Converted(candidates.cast(MICROS_UTC), given & ~readable)
    except pa.ArrowInvalid:  # a day that does not exist (31 April): decide one by one
        micros: list[int | None] = []
        for row, value in enumerate(candidates.to_pylist()):
            try:
                micros.append(pa.array([value]).cast(MICROS_UTC).cast(pa.int64())[0].as_py())
            except pa.ArrowInvalid:
                micros.append(None)
                readable[row] = False
        return Converted(pa.array(micros, pa.int64()).cast(MICROS_UTC), given & ~readable)
