"""`Vector`: an immutable float32 embedding that behaves like a sequence of floats.

Records keep their embedding as one contiguous float32 array (1.5 KB for 384 numbers,
against ~12 KB as a list of Python floats), so batches stack into Arrow and numpy without
converting number by number. It compares equal to any sequence with the same values.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any, overload

import numpy as np


class Vector(Sequence[float]):
    """A read-only float32 vector; `.array` is the numpy view, `tolist()` plain floats."""

    __slots__ = ("_array",)

    def __init__(self, values: Any) -> None:
        array = np.array(values, dtype=np.float32, copy=True).reshape(-1)
        array.flags.writeable = False
        self._array = array

    @property
    def array(self) -> np.ndarray:
        """The values as a read-only float32 numpy array (no copy)."""
        return self._array

    def tolist(self) -> list[float]:
        """The values as Python floats (exactly the stored float32 values)."""
        return self._array.tolist()

    def __array__(self, dtype: Any = None, copy: bool | None = None) -> np.ndarray:
        return self._array if dtype is None else self._array.astype(dtype)

    def __len__(self) -> int:
        return self._array.shape[0]

    @overload
    def __getitem__(self, index: int) -> float: ...

    @overload
    def __getitem__(self, index: slice) -> list[float]: ...

    def __getitem__(self, index: int | slice) -> float | list[float]:
        value = self._array[index]
        return value.tolist() if isinstance(index, slice) else float(value)

    def __iter__(self) -> Iterator[float]:
        return iter(self._array.tolist())

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Vector):
            return np.array_equal(self._array, other._array)
        if isinstance(other, Sequence | np.ndarray) and not isinstance(other, str | bytes):
            try:
                return np.array_equal(self._array, np.asarray(other, dtype=np.float32))
            except (TypeError, ValueError):
                return False
        return NotImplemented

    def __hash__(self) -> int:
        return hash(self._array.tobytes())

    def __repr__(self) -> str:
        head = ", ".join(f"{value:.4g}" for value in self._array[:3])
        return f"Vector([{head}, ...], dimension={len(self)})"


def stack(vectors: Sequence[Vector]) -> np.ndarray:
    """An (n, d) float32 matrix of the vectors."""
    return (
        np.stack([vector.array for vector in vectors]) if vectors else np.empty((0, 0), np.float32)
    )
