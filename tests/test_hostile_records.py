"""Property-based: any mix of valid, invalid and duplicate rows, on every backend.

`add_many` never raises for bad rows, every row is accounted for exactly once, exactly the
invalid rows are rejected, and what is stored reads back equal to what was given.
"""

from __future__ import annotations

import math
import os
import uuid
from datetime import UTC, datetime
from typing import Any

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from strategies import JSON_VALUES, SAFE_TEXT

from learning_store import EMBEDDING_DIMENSION, ExecutionRecord, ExecutionRepository

ONE_MEGABYTE = "x" * 1_000_000


@st.composite
def valid_rows(draw: st.DrawFn) -> dict[str, Any]:
    optional = lambda strategy: st.none() | strategy  # noqa: E731
    return {
        "task_id": str(draw(st.uuids())),
        "timestamp": draw(
            st.datetimes(
                datetime(2000, 1, 1), datetime(2100, 1, 1), timezones=st.none() | st.just(UTC)
            )
        ),
        "task_type": draw(SAFE_TEXT),
        "task_description": draw(SAFE_TEXT | st.sampled_from(["", "  "])),  # empty prompts too
        "repo": draw(SAFE_TEXT),
        "model_tier": draw(SAFE_TEXT),
        "pool_type": draw(SAFE_TEXT),
        "file_count": draw(st.integers(0, 2**31 - 1)),
        "estimated_tokens": draw(st.integers(0, 2**63 - 1)),
        "swarm_topology": draw(optional(SAFE_TEXT)),
        "routing_confidence": draw(st.floats(0, 1)),
        "complexity_score": draw(st.floats(0, 100)),
        "success": draw(st.booleans()),
        "duration_seconds": draw(st.floats(0, 1e9)),
        "quality_score": draw(optional(st.floats(0, 100))),
        "cost_estimate": draw(st.floats(0, 1e6)),
        "actual_cost": draw(optional(st.floats(0, 1e6))),
        "error_type": draw(
            optional(
                st.sampled_from(["timeout", "quality_gate", "crash", "validation", "unknown"])
                | SAFE_TEXT  # any other short label is kept verbatim
            )
        ),
        "error_message": draw(optional(SAFE_TEXT)),
        "user_accepted": draw(optional(st.booleans())),
        "user_rating": draw(optional(st.integers(1, 5))),
        "peak_memory_mb": draw(optional(st.floats(0, 1e6))),
        "cpu_time_seconds": draw(optional(st.floats(0, 1e6))),
        "solution_summary": draw(optional(SAFE_TEXT)),
        "embedding": draw(optional(st.integers(0, 2**32).map(_random_vector))),
        "metadata": draw(st.dictionaries(SAFE_TEXT, JSON_VALUES, max_size=4)),
    }


def _random_vector(seed: int) -> list[float]:
    return np.random.default_rng(seed).uniform(-1e3, 1e3, EMBEDDING_DIMENSION).tolist()


def _nested(depth: int) -> dict:
    value: dict = {}
    for _ in range(depth):
        value = {"n": value}
    return value


MUTATIONS = {
    "wrong type": lambda r: r | {"file_count": ["many"]},
    "wrong bool": lambda r: r | {"success": "sometimes"},
    "out of range": lambda r: r | {"routing_confidence": 1.5},
    "negative": lambda r: r | {"duration_seconds": -3},
    "rating": lambda r: r | {"user_rating": 9},
    "nan": lambda r: r | {"complexity_score": math.nan},
    "inf": lambda r: r | {"cost_estimate": math.inf},
    "empty string": lambda r: r | {"repo": ""},
    "blank string": lambda r: r | {"model_tier": "   "},
    "missing field": lambda r: {k: v for k, v in r.items() if k != "pool_type"},
    "1 MB string": lambda r: r | {"task_description": ONE_MEGABYTE},
    "1 MB metadata": lambda r: r | {"metadata": {"blob": ONE_MEGABYTE}},
    "NUL byte": lambda r: r | {"task_type": "a\x00b"},
    "NUL in metadata": lambda r: r | {"metadata": {"k": "\x00"}},
    "lone surrogate": lambda r: r | {"metadata": {"k": "\ud800"}},
    "deep metadata": lambda r: r | {"metadata": _nested(200)},
    "non-JSON metadata": lambda r: r | {"metadata": {"when": datetime.now()}},
    "metadata not an object": lambda r: r | {"metadata": [1, 2]},
    "short embedding": lambda r: r | {"embedding": [0.5] * 10},
    "NaN embedding": lambda r: r | {"embedding": [math.nan] * EMBEDDING_DIMENSION},
    "blank error type": lambda r: r | {"error_type": "  "},
    "error type not text": lambda r: r | {"error_type": 404},
    "unknown field, not JSON": lambda r: r | {"colour": datetime.now()},
    "not a mapping": lambda r: 42,
    "blank task id": lambda r: r | {"task_id": "   "},
}


@st.composite
def batches(draw: st.DrawFn) -> tuple[list[Any], set[int]]:
    """Rows plus the indexes of the invalid ones; some rows repeat earlier task_ids."""
    rows: list[Any] = []
    invalid: set[int] = set()
    for _ in range(draw(st.integers(1, 12))):
        kind = draw(st.sampled_from(["valid", "valid", "invalid", "duplicate"]))
        repeatable = [r for r in rows if isinstance(r, dict) and _is_uuid(r.get("task_id"))]
        if kind == "duplicate" and repeatable:
            earlier = draw(st.sampled_from(repeatable))
            rows.append(draw(valid_rows()) | {"task_id": earlier["task_id"]})
        elif kind == "invalid":
            invalid.add(len(rows))
            rows.append(MUTATIONS[draw(st.sampled_from(sorted(MUTATIONS)))](draw(valid_rows())))
        else:
            rows.append(draw(valid_rows()))
    return rows, invalid


def _fresh_ids(rows: list[Any], invalid: set[int]) -> tuple[list[Any], set[int]]:
    """Salt task_ids per example (the store outlives examples); repeats stay repeats."""
    salt = uuid.uuid4()
    fresh = []
    for row in rows:
        if isinstance(row, dict) and _is_uuid(row.get("task_id")):
            row = row | {"task_id": str(uuid.uuid5(salt, row["task_id"]))}
        fresh.append(row)
    return fresh, invalid


def _is_uuid(value: Any) -> bool:
    try:
        uuid.UUID(str(value))
    except ValueError:
        return False
    return True


@settings(
    max_examples=int(os.environ.get("HOSTILE_EXAMPLES", "25")),
    deadline=None,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
    ],
)
@given(batch=batches())
def test_any_mix_of_rows_is_fully_accounted_for(store: ExecutionRepository, batch) -> None:
    rows, invalid = _fresh_ids(*batch)
    result = store.add_many(rows)
    assert result.stored + result.duplicates + len(result.rejected) == len(rows)
    assert {item.index for item in result.rejected} == invalid
    assert all(item.reason for item in result.rejected)
    first_valid: dict[str, ExecutionRecord] = {}
    for index, row in enumerate(rows):
        if index not in invalid:
            record = ExecutionRecord.model_validate(row)
            first_valid.setdefault(str(record.task_id), record)
    assert result.stored == len(first_valid)  # every task_id in a batch is new (random uuids)
    for task_id, given_record in first_valid.items():
        stored = store.get(task_id)
        assert stored is not None
        assert stored.stored_fields() == given_record.stored_fields()
        if stored.embedding is not None:  # search reads rows its own way: the same record
            found = store.find_similar(stored.embedding, limit=1000, days_back=10**5, threshold=-1)
            assert stored in [match.record for match in found]
