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

import contextlib
import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from uuid import UUID, uuid4

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from learning_store.arrow_codec import ARROW_SCHEMA, metadata_encoder
from learning_store.bulk.fields import FieldRule, Kind
from learning_store.models import (
    EMBEDDING_DIMENSION,
    EXPONENT_FLOAT_LIMIT,
    MAX_INT64,
    MAX_METADATA_BYTES,
    _checked_metadata,
)
from learning_store.vectors import Vector

MISSING: Any = type("Missing", (), {"__repr__": lambda self: "MISSING"})()
"""A mapping's absent key (as opposed to a key holding None)."""

_INT_TEXT = re.compile(r"(?:0|[1-9][0-9]{0,17})")
_FLOAT_TEXT = re.compile(r"-?(?:0|[1-9][0-9]{0,15})(?:\.[0-9]{1,17})?(?:[eE][+-]?[0-9]{1,3})?")
_UUID_TEXT = re.compile(r"[0-9a-fA-F]{8}(?:-[0-9a-fA-F]{4}){3}-[0-9a-fA-F]{12}")
_BOOL_TEXT = {"true": True, "false": False}
ISO_TIME = (
    r"^(?:000[1-9]|00[1-9][0-9]|0[1-9][0-9]{2}|[1-9][0-9]{3})-(?:0[1-9]|1[0-2])-"
    r"(?:0[1-9]|[12][0-9]|3[01])T(?:[01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](?:\.[0-9]{1,6})?"
    r"(?:Z|[+-](?:[01][0-9]|2[0-3]):[0-5][0-9])$"
)
"""Times both parsers read alike: ISO 8601 with 'T', seconds, at most microseconds, a zone."""

_MICROS_UTC = pa.timestamp("us", tz="UTC")


@dataclass(frozen=True, slots=True)
class Converted:
    """A column in the export schema's type, and the rows the fast path cannot judge."""

    array: pa.Array
    unsure: np.ndarray


def target_type(rule: FieldRule) -> pa.DataType:
    """The column's type in the export schema."""
    return ARROW_SCHEMA.field(rule.name).type


# Python values ---------------------------------------------------------------------------


def from_python(rule: FieldRule, values: Sequence[Any]) -> Converted:
    """A column from Python values (MISSING for an absent key)."""
    unsure = np.zeros(len(values), dtype=bool)
    if rule.kind is Kind.TIME:
        return _times_from_python(values, unsure)
    if rule.kind is Kind.EMBEDDING:
        return _vectors_from_python(values, unsure)
    types = set(map(type, values))
    if _MISSING_TYPE in types and not rule.required and rule.kind is not Kind.UUID:
        default = "{}" if rule.kind is Kind.METADATA else rule.default
        values = [default if value is MISSING else value for value in values]
        types = set(map(type, values))
    if types <= _direct_types(rule):  # the usual case: every value already has its type
        with contextlib.suppress(pa.ArrowException, OverflowError, UnicodeError):
            return Converted(_direct(rule, values), unsure)
    convert = _PYTHON[rule.kind]
    clean: list[Any] = []
    for row, value in enumerate(values):
        if value is MISSING or value is None:
            clean.append(_absent(rule, value, row, unsure))
            continue
        converted = convert(value)
        if converted is _UNSURE:
            unsure[row] = True
            converted = None
        clean.append(converted)
    if rule.kind is Kind.UUID:
        return Converted(_uuid_array(clean), unsure)
    try:
        return Converted(pa.array(clean, target_type(rule)), unsure)
    except (pa.ArrowException, OverflowError, UnicodeError):  # lone surrogates, huge ints
        for row, value in enumerate(clean):
            if value is not None and not _fits_arrow(value):
                unsure[row], clean[row] = True, None
        return Converted(pa.array(clean, target_type(rule)), unsure)


_MISSING_TYPE = type(MISSING)
_NONE_TYPE = type(None)
_DIRECT_TYPES: dict[Kind, frozenset[type]] = {
    Kind.UUID: frozenset({UUID}),
    Kind.TEXT: frozenset({str}),
    Kind.ERROR_LABEL: frozenset({str}),
    Kind.INT: frozenset({int}),
    Kind.FLOAT: frozenset({float, int}),
    Kind.BOOL: frozenset({bool}),
    Kind.METADATA: frozenset(),
}


def _direct_types(rule: FieldRule) -> frozenset[type]:
    """Python types Arrow converts exactly as the record does, for this field."""
    direct = _DIRECT_TYPES[rule.kind]
    if rule.default is None and rule.kind not in (Kind.UUID, Kind.METADATA):
        return direct | {_NONE_TYPE}
    return direct


def _direct(rule: FieldRule, values: Sequence[Any]) -> pa.Array:
    if rule.kind is Kind.UUID:
        return _uuid_array([value.bytes for value in values])
    return pa.array(values, target_type(rule))


_UNSURE: Any = object()


def _absent(rule: FieldRule, value: Any, row: int, unsure: np.ndarray) -> Any:
    """What an absent (MISSING) or null (None) value becomes, flagging the errors."""
    if rule.kind is Kind.METADATA:
        return "{}"
    if rule.kind is Kind.UUID and value is MISSING:
        return uuid4().bytes
    if value is MISSING and not rule.required and rule.kind is not Kind.UUID:
        return rule.default
    if value is None and rule.default is None and rule.kind is not Kind.UUID:
        return None
    unsure[row] = True
    return None


def _fits_arrow(value: Any) -> bool:
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return False
        return True
    return not isinstance(value, int) or -MAX_INT64 - 1 <= value <= MAX_INT64


def _text(value: Any) -> Any:
    return value if type(value) is str else _UNSURE


def _int(value: Any) -> Any:
    if type(value) is int:
        return value if -MAX_INT64 - 1 <= value <= MAX_INT64 else _UNSURE
    if type(value) is str and _INT_TEXT.fullmatch(value):
        return int(value)
    return _UNSURE


def _float(value: Any) -> Any:
    kind = type(value)
    if kind is float:
        return value
    if kind is int or (kind is str and _FLOAT_TEXT.fullmatch(value)):
        try:
            return float(value)
        except OverflowError:
            return _UNSURE
    return _UNSURE


def _bool(value: Any) -> Any:
    if type(value) is bool:
        return value
    return _BOOL_TEXT.get(value, _UNSURE) if type(value) is str else _UNSURE


def _uuid(value: Any) -> Any:
    if type(value) is UUID:
        return value.bytes
    if type(value) is str and _UUID_TEXT.fullmatch(value):
        return UUID(value).bytes
    return _UNSURE


def _metadata_text(value: Any) -> Any:
    """Metadata as stored (the record's JSON text), or `_UNSURE`."""
    if type(value) is not dict:
        return _UNSURE
    if not value:
        return "{}"
    text = _flat_metadata_text(value)
    if text is not None:
        return text
    try:
        return _ENCODE(_checked_metadata(value))
    except ValueError:
        return _UNSURE


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


_PYTHON: dict[Kind, Callable[[Any], Any]] = {
    Kind.UUID: _uuid,
    Kind.TEXT: _text,
    Kind.ERROR_LABEL: _text,
    Kind.INT: _int,
    Kind.FLOAT: _float,
    Kind.BOOL: _bool,
    Kind.METADATA: _metadata_text,
}


def _uuid_array(ids: list[bytes | None]) -> pa.Array:
    """task_ids (16 bytes each, or None) as Arrow's uuid type."""
    return pa.ExtensionArray.from_storage(pa.uuid(), pa.array(ids, pa.binary(16)))


def _times_from_python(values: Sequence[Any], unsure: np.ndarray) -> Converted:
    """Datetimes (naive ones are UTC) and ISO 8601 strings, as UTC microseconds."""
    now = datetime.now(UTC)
    times: list[datetime | None] = []
    texts: dict[int, str] = {}
    for row, value in enumerate(values):
        if value is MISSING:
            times.append(now)
        elif type(value) is datetime:
            times.append(value)
        else:
            times.append(None)
            if type(value) is str:
                texts[row] = value
            else:
                unsure[row] = True
    try:
        array = pa.array(times, _MICROS_UTC)
    except (pa.ArrowException, ValueError, OverflowError, TypeError):
        return _times_one_by_one(values, now, unsure)
    if not texts:
        return Converted(array, unsure)
    parsed = _times_from_text(pa.array(list(texts.values()), pa.string()))
    micros = array.cast(pa.int64()).to_numpy(zero_copy_only=False).copy()
    valid = np.asarray(array.is_valid())
    rows = np.fromiter(texts.keys(), dtype=np.int64, count=len(texts))
    micros[rows] = parsed.array.cast(pa.int64()).fill_null(0).to_numpy()
    valid[rows] = ~parsed.unsure
    unsure[rows] = parsed.unsure
    return Converted(_micros_array(micros, valid), unsure)


def _times_one_by_one(values: Sequence[Any], now: datetime, unsure: np.ndarray) -> Converted:
    """The rare batch with a datetime Arrow cannot take: flag each such value alone."""
    column = [now if value is MISSING else value for value in values]
    for row, value in enumerate(column):
        try:
            pa.array([value], _MICROS_UTC)
        except (pa.ArrowException, ValueError, OverflowError, TypeError):
            unsure[row], column[row] = True, None
    return _times_from_python(column, unsure)


def _micros_array(micros: np.ndarray, valid: np.ndarray) -> pa.Array:
    return pa.array(micros, pa.int64(), mask=~valid).cast(_MICROS_UTC)


def _vectors_from_python(values: Sequence[Any], unsure: np.ndarray) -> Converted:
    """Sequences of 384 numbers, converted as the record converts them (numpy to float32)."""
    rows: list[int] = []
    vectors: list[Any] = []
    for row, value in enumerate(values):
        if value is MISSING or value is None:
            continue
        kind = type(value)
        if kind is Vector or (
            (kind is list or kind is tuple) and len(value) == EMBEDDING_DIMENSION
        ):
            rows.append(row)
            vectors.append(value.array if kind is Vector else value)
        elif kind is np.ndarray and value.shape == (EMBEDDING_DIMENSION,):
            rows.append(row)
            vectors.append(value)
        else:
            unsure[row] = True
    matrix = np.zeros((len(values), EMBEDDING_DIMENSION), dtype=np.float32)
    present = np.zeros(len(values), dtype=bool)
    try:
        with np.errstate(over="ignore"):  # too large for float32: inf, then rejected
            matrix[rows] = np.asarray(vectors, dtype=np.float32).reshape(-1, EMBEDDING_DIMENSION)
        present[rows] = True
    except (TypeError, ValueError, OverflowError):
        for row, vector in zip(rows, vectors, strict=True):
            try:
                matrix[row] = np.asarray(vector, dtype=np.float32)
                present[row] = True
            except (TypeError, ValueError, OverflowError):
                unsure[row] = True
    return Converted(_vector_array(matrix, present), unsure)


def vector_matrix(array: pa.FixedSizeListArray) -> np.ndarray:
    """An (n, 384) float32 copy of a vector column (null rows hold whatever the slots do)."""
    values = array.values.slice(
        array.offset * EMBEDDING_DIMENSION, len(array) * EMBEDDING_DIMENSION
    )
    return values.to_numpy(zero_copy_only=False).astype(np.float32).reshape(-1, EMBEDDING_DIMENSION)


def vector_array(matrix: np.ndarray, present: np.ndarray) -> pa.Array:
    """A vector column from an (n, 384) float32 matrix; rows not `present` are null."""
    return _vector_array(matrix, present)


def _vector_array(matrix: np.ndarray, present: np.ndarray) -> pa.Array:
    mask = None if present.all() else pa.array(~present)
    return pa.FixedSizeListArray.from_arrays(
        pa.array(matrix.reshape(-1)), EMBEDDING_DIMENSION, mask=mask
    )


_ENCODE = metadata_encoder()
"""Stateless (no circular-reference markers), so threads may share it."""


# Arrow arrays ----------------------------------------------------------------------------


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
        return _uuid_array(
            [uuid4().bytes if absent else key for key, absent in zip(stored, null, strict=True)]
        )
    if rule.kind is Kind.TIME:
        now = pa.scalar(datetime.now(UTC), _MICROS_UTC)
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
        UUID(value).bytes if value is not None and _UUID_TEXT.fullmatch(value) else None
        for value in text.to_pylist()
    ]
    unsure |= np.array([key is None for key in ids]) & np.asarray(array.is_valid())
    return _uuid_array(ids)


def _arrow_time(array: pa.Array, unsure: np.ndarray) -> pa.Array | None:
    kind = array.type
    if pa.types.is_timestamp(kind):
        micros = array.cast(pa.timestamp("us", tz=kind.tz), safe=False)
        if kind.unit == "ns":
            lossy = pc.not_equal(pc.cast(micros, pa.timestamp("ns", tz=kind.tz)), array)
            unsure |= np.asarray(pc.fill_null(lossy, False))
        return micros.cast(pa.int64()).cast(_MICROS_UTC)  # naive times are UTC
    text = _arrow_text(array, unsure)
    if text is None:
        return None
    parsed = _times_from_text(text)
    unsure |= parsed.unsure
    return parsed.array


def _times_from_text(text: pa.Array) -> Converted:
    """ISO 8601 strings with a zone (see `ISO_TIME`); others are flagged."""
    readable = np.asarray(pc.fill_null(pc.match_substring_regex(text, ISO_TIME), False))
    candidates = pc.if_else(pa.array(readable), text, pa.scalar(None, pa.string()))
    given = np.asarray(text.is_valid())
    try:
        return Converted(candidates.cast(_MICROS_UTC), given & ~readable)
    except pa.ArrowInvalid:  # a day that does not exist (31 April): decide one by one
        micros: list[int | None] = []
        for row, value in enumerate(candidates.to_pylist()):
            try:
                micros.append(pa.array([value]).cast(_MICROS_UTC).cast(pa.int64())[0].as_py())
            except pa.ArrowInvalid:
                micros.append(None)
                readable[row] = False
        return Converted(pa.array(micros, pa.int64()).cast(_MICROS_UTC), given & ~readable)


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
    matrix = np.zeros((len(array), EMBEDDING_DIMENSION), dtype=np.float32)
    if fits.any():
        chosen = array.filter(pa.array(fits))
        flat = chosen.flatten()
        values = flat.to_numpy(zero_copy_only=False).astype(np.float32)
        matrix[fits] = values.reshape(-1, EMBEDDING_DIMENSION)
        if flat.null_count:  # a null inside a vector: the validator decides that row
            whole = np.asarray(flat.is_valid()).reshape(-1, EMBEDDING_DIMENSION).all(axis=1)
            holed = np.zeros(len(array), dtype=bool)
            holed[fits] = ~whole
            unsure |= holed
            fits &= ~holed
    unsure |= present & ~fits
    return _vector_array(matrix, fits)


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
        converted = _metadata_text(parsed)
        if converted is _UNSURE:
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
