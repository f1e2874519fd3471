"""PostgreSQL's binary `real[]` to and from numpy, for COPY and for pgvector's candidates.

psycopg turns a `real[]` into a list of Python floats (and back) one element at a time;
these adapters move the 384 values of a vector as one numpy buffer instead.
"""

from __future__ import annotations

import struct
from typing import Any

import numpy as np
from psycopg.adapt import Dumper, Loader
from psycopg.pq import Format

REAL_OID, REAL_ARRAY_OID = 700, 1021
_HEADER = struct.Struct(">iii")  # dimensions, has NULLs, element type
_DIMENSION = struct.Struct(">ii")  # length, lower bound
_ELEMENTS = np.dtype([("size", ">i4"), ("value", ">f4")])


class VectorDumper(Dumper):
    """A float32 vector (numpy array or sequence) as a binary `real[]`."""

    format = Format.BINARY
    oid = REAL_ARRAY_OID

    def dump(self, obj: Any) -> bytes:
        """Header (one dimension, no NULLs, element type real), then (length 4, value) pairs."""
        vector = np.asarray(obj, dtype=np.float32).reshape(-1)
        body = np.empty(len(vector), dtype=_ELEMENTS)
        body["size"], body["value"] = 4, vector
        return _HEADER.pack(1, 0, REAL_OID) + _DIMENSION.pack(len(vector), 1) + body.tobytes()


class VectorLoader(Loader):
    """A binary `real[]` as a float32 numpy array.

    Arrays another writer stored unlike ours (NULL elements, several dimensions) load as
    a list, with None for NULL, or as an empty list, which readers treat as no vector.
    """

    format = Format.BINARY

    def load(self, data: Any) -> np.ndarray | list[float | None]:
        """The array's values; see the class docstring for arrays unlike ours."""
        dimensions, has_nulls, element_type = _HEADER.unpack_from(data)
        if dimensions != 1 or element_type != REAL_OID:
            return []
        length, _ = _DIMENSION.unpack_from(data, _HEADER.size)
        start = _HEADER.size + _DIMENSION.size
        if not has_nulls:
            return np.frombuffer(data, _ELEMENTS, length, start)["value"].astype(np.float32)
        values: list[float | None] = []
        for _ in range(length):
            (size,) = struct.unpack_from(">i", data, start)
            start += 4
            if size < 0:
                values.append(None)
                continue
            values.append(struct.unpack_from(">f", data, start)[0])
            start += size
        return values


def use_vector_adapters(cursor: Any) -> None:
    """Have this psycopg cursor send numpy arrays, and read binary `real[]`, as above."""
    cursor.adapters.register_dumper(np.ndarray, VectorDumper)
    cursor.adapters.register_loader(REAL_ARRAY_OID, VectorLoader)
