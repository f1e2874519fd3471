"""Columns from Arrow arrays (a file's record batches), for the vectorised validator.

Null means "not given" (the field's default applies), as the row reader has always read a
file. See `columns` for what "unsure" means.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from uuid import UUID, uuid4

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from learning_store.bulk.columns import (
    MICROS_UTC,
    UNSURE,
    UUID_TEXT,
    Converted,
    metadata_text,
    target_type,
    times_from_text,
    uuid_array,
    vector_array,
)
from learning_store.bulk.fields import FieldRule, Kind
from learning_store.models import (
    EMBEDDING_DIMENSION,
    MAX_INT64,
)


def from_arrow(rule: FieldRule, array: pa.Array) -> Converted:
    """A column from an Arrow array, where null means "not given"."""
    null = np.asarray(array.is_null())
    unsure = np.zeros(len(array), dtype=bool)
    converted = _ARROW[rule.kind](array, unsure)
    if converted is None:  # a type the fast path does not convert: the validator decides
        unsure |= ~null
        converted = pa.nulls(len(array), target_type(rule))
    if not null.any():
        return Converted(converted, unsure)
    return Converted(_with_defaults(rule, converted, null, unsure), unsure)


def _with_defaults(
    rule: FieldRule, array: pa.Array, null: np.ndarray, unsure: np.ndarray
) -> pa.Array:
    """Null (not given) values replaced by the field's default; required fields flagged."""
    if rule.kind is Kind.UUID:
        stored = array.storage.to_pylist()
        return uuid_array(
            [uuid4().bytes if absent else key for key, absent in zip(stored, null, strict=True)]
        )
    if rule.kind is Kind.TIME:
        now = pa.scalar(datetime.now(UTC), MICROS_UTC)
        return pc.if_else(pa.array(null), now, array)
    if rule.kind is Kind.METADATA:
        return pc.if_else(pa.array(null), pa.scalar("{}"), array)
    if rule.required:
        unsure |= null
        return array
    if rule.default is None:
        return array
    return pc.if_else(pa.array(null), pa.scalar(rule.default, array.type), array)


def _arrow_text(array: pa.Array, unsure: np.ndarray) -> pa.Array | None:
    if isinstance(array, pa.ExtensionArray) and pa.types.is_string(array.type.storage_type):
        array = array.storage  # e.g. arrow.json, which DuckDB writes for JSON columns
    kind = array.type
    if pa.types.is_dictionary(kind) and pa.types.is_string(kind.value_type):
        array, kind = array.cast(pa.string()), pa.string()
    if not (pa.types.is_string(kind) or pa.types.is_large_string(kind)):
        return None
    try:
        array.validate(full=True)  # Parquet does not promise valid UTF-8
    except pa.ArrowInvalid:
        return None
    return array.cast(pa.string())


def _arrow_int(array: pa.Array, unsure: np.ndarray) -> pa.Array | None:
    if not pa.types.is_integer(array.type):
        return None
    if array.type == pa.uint64():
        too_big = np.asarray(pc.fill_null(pc.greater(array, MAX_INT64), False))
        unsure |= too_big
        array = pc.if_else(pa.array(too_big), pa.scalar(None, pa.uint64()), array)
    return array.cast(pa.int64())


def _arrow_float(array: pa.Array, unsure: np.ndarray) -> pa.Array | None:
    if not (pa.types.is_floating(array.type) or pa.types.is_integer(array.type)):
        return None
    return array.cast(pa.float64(), safe=False)


def _arrow_bool(array: pa.Array, unsure: np.ndarray) -> pa.Array | None:
    return array if pa.types.is_boolean(array.type) else None


def _arrow_uuid(array: pa.Array, unsure: np.ndarray) -> pa.Array | None:
    if isinstance(array.type, pa.UuidType):
        return array
    text = _arrow_text(array, unsure)
    if text is None:
        return None
    ids = [
        UUID(value).bytes if value is not None and UUID_TEXT.fullmatch(value) else None
        for value in text.to_pylist()
    ]
    unsure |= np.array([key is None for key in ids]) & np.asarray(array.is_valid())
    return uuid_array(ids)


def _arrow_time(array: pa.Array, unsure: np.ndarray) -> pa.Array | None:
    kind = array.type
    if pa.types.is_timestamp(kind):
        try:  # seconds and milliseconds scale up exactly, or overflow (then: unsure)
            micros = array.cast(pa.timestamp("us", tz=kind.tz), safe=kind.unit != "ns")
        except pa.ArrowInvalid:
            return None
        if kind.unit == "ns":
            lossy = pc.not_equal(pc.cast(micros, pa.timestamp("ns", tz=kind.tz)), array)
            unsure |= np.asarray(pc.fill_null(lossy, False))
        return micros.cast(pa.int64()).cast(MICROS_UTC)  # naive times are UTC
    text = _arrow_text(array, unsure)
    if text is None:
        return None
    parsed = times_from_text(text)
    unsure |= parsed.unsure
    return parsed.array


def _arrow_vectors(array: pa.Array, unsure: np.ndarray) -> pa.Array | None:
    kind = array.type
    if not (
        pa.types.is_list(kind) or pa.types.is_large_list(kind) or pa.types.is_fixed_size_list(kind)
    ):
        return None
    if not (pa.types.is_floating(kind.value_type) or pa.types.is_integer(kind.value_type)):
        return None
    present = np.asarray(array.is_valid())
    lengths = np.asarray(pc.fill_null(pc.list_value_length(array), 0))
    fits = present & (lengths == EMBEDDING_DIMENSION)
    every = bool(fits.all())
    matrix = None if every else np.zeros((len(array), EMBEDDING_DIMENSION), dtype=np.float32)
    if fits.any():
        chosen = array if every else array.filter(pa.array(fits))  # a file's usual case: all
        flat = chosen.flatten()
        with np.errstate(over="ignore"):  # too large for float32: inf, then rejected
            values = flat.to_numpy(zero_copy_only=False).astype(np.float32)  # writable
        if matrix is None:
            matrix = values.reshape(-1, EMBEDDING_DIMENSION)
        else:
            matrix[fits] = values.reshape(-1, EMBEDDING_DIMENSION)
        if flat.null_count:  # a null inside a vector: the validator decides that row
            whole = np.asarray(flat.is_valid()).reshape(-1, EMBEDDING_DIMENSION).all(axis=1)
            holed = np.zeros(len(array), dtype=bool)
            holed[fits] = ~whole
            unsure |= holed
            fits &= ~holed
    unsure |= present & ~fits
    if matrix is None:  # no rows at all
        matrix = np.zeros((0, EMBEDDING_DIMENSION), dtype=np.float32)
    return vector_array(matrix, fits)


def _arrow_metadata(array: pa.Array, unsure: np.ndarray) -> pa.Array | None:
    text = _arrow_text(array, unsure)
    if text is None:
        return None
    out: list[str | None] = []
    for row, value in enumerate(text.to_pylist()):
        if value is None or value == "{}":
            out.append(value)
            continue
        try:
            parsed = json.loads(value)
        except json.JSONDecodeError:
            parsed = None
        converted = metadata_text(parsed)
        if converted is UNSURE:
            unsure[row] = True
            converted = None
        out.append(converted)
    return pa.array(out, pa.string())


_ARROW: dict[Kind, Callable[[pa.Array, np.ndarray], pa.Array | None]] = {
    Kind.UUID: _arrow_uuid,
    Kind.TIME: _arrow_time,
    Kind.TEXT: _arrow_text,
    Kind.ERROR_LABEL: _arrow_text,
    Kind.INT: _arrow_int,
    Kind.FLOAT: _arrow_float,
    Kind.BOOL: _arrow_bool,
    Kind.EMBEDDING: _arrow_vectors,
    Kind.METADATA: _arrow_metadata,
}
