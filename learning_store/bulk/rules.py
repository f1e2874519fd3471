"""The record rules on whole converted columns: which rows break one, and error_type's labels.

Run after `columns`: every column already has the export schema's type. A row flagged here
is handed to `ExecutionRecord`, which rejects it with the reason; so these checks only have
to agree with the record on *whether* a value is valid, never on the wording.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from learning_store.bulk.columns import vector_matrix
from learning_store.bulk.fields import FieldRule, Kind
from learning_store.models import ErrorType

_MICROSECOND = timedelta(microseconds=1)

BLANK = r"^[\t\n\x0b\x0c\r\x1c-\x1f\x{85}\p{Z}]*$"
"""Text `str.strip()` empties: Python's whitespace is exactly these ASCII controls, U+0085
and the Unicode separators (category Z)."""

_ASCII_ONLY = r"^[\x00-\x7f]*$"
_ASCII_WHITESPACE = " \t\n\x0b\x0c\r\x1c\x1d\x1e\x1f"
"""What `str.strip()` removes from ASCII text."""
_KNOWN_ERRORS = pa.array([member.value for member in ErrorType])


def broken(rule: FieldRule, array: pa.Array) -> np.ndarray:
    """Rows whose (non-null) value breaks the field's rule."""
    if rule.kind is Kind.TEXT:
        return _broken_text(rule, array)
    if rule.kind in (Kind.INT, Kind.FLOAT):
        return _broken_number(rule, array)
    if rule.kind is Kind.EMBEDDING:
        return _broken_vector(array)
    if rule.kind is Kind.TIME:
        return _beyond_python(array)
    return np.zeros(len(array), dtype=bool)


_FIRST_US = int((datetime(1, 1, 1, tzinfo=UTC) - datetime(1970, 1, 1, tzinfo=UTC)) / _MICROSECOND)
_LAST_US = int((datetime.max.replace(tzinfo=UTC) - datetime(1970, 1, 1, tzinfo=UTC)) / _MICROSECOND)


def _beyond_python(array: pa.Array) -> np.ndarray:
    """Times a Python datetime cannot hold (before year 1 or after 9999 in UTC)."""
    micros = array.cast(pa.int64())
    outside = pc.or_(pc.less(micros, _FIRST_US), pc.greater(micros, _LAST_US))
    return _flag(outside)


def _flag(condition: pa.Array) -> np.ndarray:
    """A compute result as a numpy mask where null (no value) is not broken."""
    return np.asarray(pc.fill_null(condition, False)).copy()


def _broken_text(rule: FieldRule, array: pa.Array) -> np.ndarray:
    bad = _flag(pc.match_substring(array, "\x00"))
    if rule.max_length is not None:
        bad |= _flag(pc.greater(pc.utf8_length(array), rule.max_length))
    if not rule.may_be_blank:
        bad |= _flag(pc.match_substring_regex(array, BLANK))
    return bad


def _broken_number(rule: FieldRule, array: pa.Array) -> np.ndarray:
    if pa.types.is_floating(array.type):
        bad = _flag(pc.invert(pc.is_finite(array)))
    else:
        bad = np.zeros(len(array), dtype=bool)
    if rule.low is not None:
        bad |= _flag(pc.less(array, pa.scalar(rule.low).cast(array.type)))
    if rule.high is not None:
        bad |= _flag(pc.greater(array, pa.scalar(rule.high).cast(array.type)))
    return bad


def _broken_vector(array: pa.Array) -> np.ndarray:
    matrix = vector_matrix(array)
    return ~np.isfinite(matrix).all(axis=1) & np.asarray(array.is_valid())


def error_labels(rule: FieldRule, array: pa.Array) -> tuple[pa.Array, np.ndarray, np.ndarray]:
    """error_type as stored, rows breaking its rule, and rows to leave to the record.

    A known type in any case and surrounding whitespace becomes its canonical value; any
    other label must obey the label rules and is kept verbatim. Text with non-ASCII
    characters is left to the record: Unicode case rules map some of them onto ASCII
    letters (the Kelvin sign lowers to 'k'), which this check does not reproduce.
    """
    ascii_only = _flag(pc.match_substring_regex(array, _ASCII_ONLY))
    unsure = ~ascii_only & np.asarray(array.is_valid())
    folded = pc.utf8_lower(pc.utf8_trim(array, _ASCII_WHITESPACE))
    known = _flag(pc.is_in(folded, value_set=_KNOWN_ERRORS)) & ascii_only
    labels = pc.if_else(pa.array(known), folded, array)
    bad = _broken_text(replace(rule, kind=Kind.TEXT), array) & ~known & ascii_only
    return labels, bad, unsure
