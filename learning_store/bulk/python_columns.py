"""Columns from Python values (rows given as mappings), for the vectorised validator.

A missing key arrives as `MISSING` and takes the field's default; None is a value the
field may or may not accept. See `columns` for what "unsure" means.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any
from uuid import UUID, uuid4

import numpy as np
import pyarrow as pa

from learning_store.bulk.columns import (
    MICROS_UTC,
    MISSING,
    UNSURE,
    UUID_TEXT,
    Converted,
    metadata_text,
    micros_array,
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
from learning_store.vectors import Vector

_INT_TEXT = re.compile(r"(?:0|[1-9][0-9]{0,17})")
_FLOAT_TEXT = re.compile(r"-?(?:0|[1-9][0-9]{0,15})(?:\.[0-9]{1,17})?(?:[eE][+-]?[0-9]{1,3})?")
_BOOL_TEXT = {"true": True, "false": False}


def from_python(rule: FieldRule, values: Sequence[Any]) -> Converted:
    """A column from Python values (MISSING for an absent key)."""
    unsure = np.zeros(len(values), dtype=bool)
    if rule.kind is Kind.TIME:
        return _times_from_python(values, unsure)
    if rule.kind is Kind.EMBEDDING:
        return _vectors_from_python(values, unsure)
    types = set(map(type, values))
    if _MISSING_TYPE in types and not rule.required and rule.kind is not Kind.UUID:
        default = {} if rule.kind is Kind.METADATA else rule.default
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
        if converted is UNSURE:
            unsure[row] = True
            converted = None
        clean.append(converted)
    if rule.kind is Kind.UUID:
        return Converted(uuid_array(clean), unsure)
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
        return uuid_array([value.bytes for value in values])
    return pa.array(values, target_type(rule))


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
    return value if type(value) is str else UNSURE


def _int(value: Any) -> Any:
    if type(value) is int:
        return value if -MAX_INT64 - 1 <= value <= MAX_INT64 else UNSURE
    if type(value) is str and _INT_TEXT.fullmatch(value):
        return int(value)
    return UNSURE


def _float(value: Any) -> Any:
    kind = type(value)
    if kind is float:
        return value
    if kind is int or (kind is str and _FLOAT_TEXT.fullmatch(value)):
        try:
            return float(value)
        except OverflowError:
            return UNSURE
    return UNSURE


def _bool(value: Any) -> Any:
    if type(value) is bool:
        return value
    return _BOOL_TEXT.get(value, UNSURE) if type(value) is str else UNSURE


def _uuid(value: Any) -> Any:
    if type(value) is UUID:
        return value.bytes
    if type(value) is str and UUID_TEXT.fullmatch(value):
        return bytes.fromhex(value.replace("-", ""))
    return UNSURE


_PYTHON: dict[Kind, Callable[[Any], Any]] = {
    Kind.UUID: _uuid,
    Kind.TEXT: _text,
    Kind.ERROR_LABEL: _text,
    Kind.INT: _int,
    Kind.FLOAT: _float,
    Kind.BOOL: _bool,
    Kind.METADATA: metadata_text,
}


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
        array = pa.array(times, MICROS_UTC)
    except (pa.ArrowException, ValueError, OverflowError, TypeError):
        return _times_one_by_one(values, now, unsure)
    if not texts:
        return Converted(array, unsure)
    parsed = times_from_text(pa.array(list(texts.values()), pa.string()))
    micros = array.cast(pa.int64()).fill_null(0).to_numpy().copy()  # nulls: no float64
    valid = np.asarray(array.is_valid())
    rows = np.fromiter(texts.keys(), dtype=np.int64, count=len(texts))
    micros[rows] = parsed.array.cast(pa.int64()).fill_null(0).to_numpy()
    valid[rows] = ~parsed.unsure
    unsure[rows] = parsed.unsure
    return Converted(micros_array(micros, valid), unsure)


def _times_one_by_one(values: Sequence[Any], now: datetime, unsure: np.ndarray) -> Converted:
    """The rare batch with a datetime Arrow cannot take: flag each such value alone."""
    column = [now if value is MISSING else value for value in values]
    for row, value in enumerate(column):
        try:
            pa.array([value], MICROS_UTC)
        except (pa.ArrowException, ValueError, OverflowError, TypeError):
            unsure[row], column[row] = True, None
    return _times_from_python(column, unsure)


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
    return Converted(vector_array(matrix, present), unsure)
