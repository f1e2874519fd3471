"""ExecutionRecord rules from DESIGN.md, the JSON round trip, and rejection messages."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime, timedelta, timezone
from uuid import UUID

import pytest
from factories import row
from pydantic import ValidationError

from learning_store import EMBEDDING_DIMENSION, BatchResult, ErrorType, ExecutionRecord
from learning_store.models import (
    MAX_LABEL_LENGTH,
    MAX_METADATA_BYTES,
    MAX_METADATA_DEPTH,
    MAX_TEXT_LENGTH,
    rejection_reason,
)
from learning_store.results import RejectedRecord

REQUIRED = [
    "task_type",
    "task_description",
    "repo",
    "model_tier",
    "pool_type",
    "routing_confidence",
    "success",
    "duration_seconds",
]


def reason_for(**overrides: object) -> str:
    with pytest.raises(ValidationError) as caught:
        ExecutionRecord.model_validate(row(**overrides))
    return rejection_reason(caught.value)


def test_defaults_follow_the_design() -> None:
    values = row()
    for name in ("task_id", "timestamp", "file_count", "estimated_tokens", "complexity_score"):
        values.pop(name)
    record = ExecutionRecord.model_validate(values)
    assert isinstance(record.task_id, UUID) and record.task_id.version == 4
    assert record.timestamp.tzinfo is not None
    assert abs(record.timestamp - datetime.now(UTC)) < timedelta(seconds=5)
    assert (record.file_count, record.estimated_tokens, record.complexity_score) == (0, 0, 50)
    assert record.metadata == {}
    assert record.quality_score is record.error_type is record.user_rating is None
    assert record.embedding is None and record.uploaded_at is None


def test_each_record_gets_its_own_task_id() -> None:
    values = row()
    values.pop("task_id")
    assert ExecutionRecord(**values).task_id != ExecutionRecord(**values).task_id


@pytest.mark.parametrize("field", REQUIRED)
def test_required_fields_are_named_when_missing(field: str) -> None:
    values = row()
    values.pop(field)
    with pytest.raises(ValidationError) as caught:
        ExecutionRecord.model_validate(values)
    assert rejection_reason(caught.value) == f"{field}: required field is missing"


@pytest.mark.parametrize("field", ["task_type", "repo", "model_tier", "pool_type"])
@pytest.mark.parametrize("value", ["", "   ", "\t\n"])
def test_required_labels_must_not_be_blank(field: str, value: str) -> None:
    assert reason_for(**{field: value}).startswith(f"{field}: ")


@pytest.mark.parametrize("value", ["", "   ", "\t\n"])
def test_an_empty_task_description_is_stored_as_the_original_did(value: str) -> None:
    record = ExecutionRecord.model_validate(row(task_description=value))
    assert record.task_description == value
    assert "Task type: refactor" in record.embedding_text()
    assert "task_description: " in reason_for(task_description="a\x00b")


def test_error_types_beyond_the_five_known_are_kept_verbatim() -> None:
    assert ExecutionRecord.model_validate(row(error_type="rate_limit")).error_type == "rate_limit"
    assert ExecutionRecord.model_validate(row(error_type="RateLimit")).error_type == "RateLimit"
    known = ExecutionRecord.model_validate(row(error_type=" Timeout "))
    assert known.error_type is ErrorType.TIMEOUT
    assert known.error_type == "timeout"
    assert known.model_dump()["error_type"] == "timeout"
    assert "error_type: " in reason_for(error_type="")
    assert "error_type: " in reason_for(error_type="x" * 257)
    assert "error_type: " in reason_for(error_type=7)


@pytest.mark.parametrize(
    ("field", "value", "expected"),
    [
        ("file_count", -1, "greater than or equal to 0"),
        ("estimated_tokens", -5, "greater than or equal to 0"),
        ("estimated_tokens", 2**63, "less than or equal to"),
        ("routing_confidence", 1.01, "less than or equal to 1"),
        ("routing_confidence", -0.1, "greater than or equal to 0"),
        ("complexity_score", 100.5, "less than or equal to 100"),
        ("quality_score", 101, "less than or equal to 100"),
        ("quality_score", -1, "greater than or equal to 0"),
        ("duration_seconds", -0.001, "greater than or equal to 0"),
        ("cost_estimate", -1, "greater than or equal to 0"),
        ("actual_cost", -1, "greater than or equal to 0"),
        ("peak_memory_mb", -1, "greater than or equal to 0"),
        ("cpu_time_seconds", -1, "greater than or equal to 0"),
        ("user_rating", 0, "greater than or equal to 1"),
        ("user_rating", 6, "less than or equal to 5"),
        ("success", "maybe", "valid boolean"),
        ("file_count", 1.5, "valid integer"),
        ("task_type", 42, "valid string"),
    ],
)
def test_out_of_range_values_name_field_and_bound(field: str, value: object, expected: str) -> None:
    reason = reason_for(**{field: value})
    assert reason.startswith(f"{field}: ")
    assert expected in reason
    assert "got" in reason


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
@pytest.mark.parametrize(
    "field",
    [
        "routing_confidence",
        "complexity_score",
        "duration_seconds",
        "quality_score",
        "cost_estimate",
        "actual_cost",
        "peak_memory_mb",
        "cpu_time_seconds",
    ],
)
def test_nan_and_infinity_are_rejected(field: str, bad: float) -> None:
    assert "finite" in reason_for(**{field: bad})


def test_optional_fields_accept_none_and_boundaries() -> None:
    record = ExecutionRecord.model_validate(
        row(
            quality_score=0,
            user_rating=5,
            routing_confidence=1,
            complexity_score=100,
            actual_cost=None,
            peak_memory_mb=0,
            error_type="quality_gate",
        )
    )
    assert record.error_type is ErrorType.QUALITY_GATE
    assert {e.value for e in ErrorType} == {
        "timeout",
        "quality_gate",
        "crash",
        "validation",
        "unknown",
    }


def test_error_type_is_case_insensitive() -> None:
    assert (
        ExecutionRecord.model_validate(row(error_type=" Timeout ")).error_type is ErrorType.TIMEOUT
    )


def test_naive_timestamps_are_utc_and_aware_ones_are_converted() -> None:
    naive = ExecutionRecord.model_validate(row(timestamp=datetime(2026, 1, 2, 3, 4, 5)))
    assert naive.timestamp == datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    plus_two = timezone(timedelta(hours=2))
    aware = ExecutionRecord.model_validate(
        row(timestamp=datetime(2026, 1, 2, 5, 4, 5, tzinfo=plus_two))
    )
    assert aware.timestamp == naive.timestamp and aware.timestamp.tzinfo == UTC
    parsed = ExecutionRecord.model_validate(row(timestamp="2026-01-02T03:04:05"))
    assert parsed.timestamp == naive.timestamp


def test_text_limits_and_nul_characters() -> None:
    assert "at most 256" in reason_for(repo="r" * (MAX_LABEL_LENGTH + 1))
    assert "at most 100000" in reason_for(task_description="d" * (MAX_TEXT_LENGTH + 1))
    assert "NUL" in reason_for(task_description="before\x00after")
    assert "NUL" in reason_for(solution_summary="\x00")
    long_ok = ExecutionRecord.model_validate(row(task_description="d" * MAX_TEXT_LENGTH))
    assert len(long_ok.task_description) == MAX_TEXT_LENGTH


def test_unknown_fields_are_kept_in_metadata_not_lost() -> None:
    record = ExecutionRecord.model_validate(row(pool_id="p-7", metadata={"run": 3}))
    assert record.metadata == {"pool_id": "p-7", "run": 3}
    explicit = ExecutionRecord.model_validate(row(run=1, metadata={"run": 3}))
    assert explicit.metadata == {"run": 3}  # an explicit metadata key wins
    assert ExecutionRecord.model_validate(row(metadata=None)).metadata == {}
    assert "metadata" in reason_for(unserialisable=object())


def test_the_original_record_methods() -> None:
    record = ExecutionRecord.model_validate(
        row(cost_estimate=0.004, actual_cost=0.005, swarm_topology="mesh")
    )
    data = record.to_dict()
    assert data["task_id"] == str(record.task_id)
    assert isinstance(data["timestamp"], str)
    assert ExecutionRecord.from_dict(data) == record
    assert record.calculate_embedding_content() == (
        "refactor | Optimize query 0 | mahavishnu | medium | mahavishnu | mesh"
    )
    error = record.calculate_prediction_error()
    assert error["cost_error_abs"] == pytest.approx(0.001)
    assert error["cost_error_pct"] == pytest.approx(25.0)
    free = ExecutionRecord.model_validate(row(cost_estimate=0.0, actual_cost=0.5))
    assert free.calculate_prediction_error()["cost_error_pct"] == 0.0


def test_metadata_must_be_a_json_object_within_limits() -> None:
    assert ExecutionRecord.model_validate(row(metadata={"a": [1, {"b": None}]})).metadata == {
        "a": [1, {"b": None}]
    }
    assert "metadata" in reason_for(metadata=["not", "an", "object"])
    assert "JSON" in reason_for(metadata={"when": datetime.now()})
    assert "finite" in reason_for(metadata={"x": math.nan})
    assert reason_for(metadata={1: "x"}).startswith(
        "metadata.1.[key]: Input should be a valid string"
    )
    assert "NUL" in reason_for(metadata={"x": "a\x00b"})
    nested: dict = {}
    cursor = nested
    for _ in range(MAX_METADATA_DEPTH + 5):
        cursor["n"] = {}
        cursor = cursor["n"]
    assert "MAX_METADATA_DEPTH" in reason_for(metadata=nested)
    assert "MAX_METADATA_BYTES" in reason_for(metadata={"x": "y" * MAX_METADATA_BYTES})


def test_embedding_is_kept_at_float32_precision_and_checked() -> None:
    record = ExecutionRecord.model_validate(row(embedding=[0.1] * EMBEDDING_DIMENSION))
    assert len(record.embedding) == EMBEDDING_DIMENSION
    assert record.embedding[0] == pytest.approx(0.1, abs=1e-7) and record.embedding[0] != 0.1
    assert "exactly 384" in reason_for(embedding=[0.1] * 383)
    assert "finite" in reason_for(embedding=[math.nan] * EMBEDDING_DIMENSION)
    assert "sequence of 384" in reason_for(embedding="not a vector")
    again = ExecutionRecord.model_validate(row(embedding=record.embedding))
    assert again.embedding == record.embedding


def test_round_trip_through_dict_and_json() -> None:
    record = ExecutionRecord.model_validate(
        row(
            error_type="crash",
            error_message="boom",
            user_accepted=False,
            user_rating=2,
            solution_summary="added an index",
            metadata={"k": [1, 2]},
            embedding=[0.5] * EMBEDDING_DIMENSION,
        )
    )
    assert ExecutionRecord.model_validate(record.model_dump()) == record
    text = record.model_dump_json()
    assert json.loads(text)["error_type"] == "crash"
    assert ExecutionRecord.model_validate_json(text) == record


def test_records_are_immutable() -> None:
    record = ExecutionRecord.model_validate(row())
    with pytest.raises(ValidationError):
        record.repo = "other"  # type: ignore[misc]


def test_embedding_text_is_what_a_router_knows_before_the_task_runs() -> None:
    plain = ExecutionRecord.model_validate(row(task_description="Speed up the login page"))
    assert "Speed up the login page" in plain.embedding_text()
    assert "refactor" in plain.embedding_text() and "mahavishnu" in plain.embedding_text()
    solved = ExecutionRecord.model_validate(
        row(task_description="Speed up the login page", solution_summary="cached the lookup")
    )
    assert solved.embedding_text() == plain.embedding_text()  # outcome-free: no solution


def test_long_offending_values_are_abbreviated_in_reasons() -> None:
    reason = reason_for(task_type="x" * 1_000_000)
    assert len(reason) < 300


def test_batch_result_adds_up() -> None:
    one = BatchResult(2, 1, [RejectedRecord(0, None, "bad")])
    two = BatchResult(3, 0, [])
    assert (one + two).total == 7


def test_huge_whole_floats_in_metadata_become_the_equal_int() -> None:
    """PostgreSQL's JSONB reads 2.654731923539887e+16 back as an integer; every store agrees."""
    record = ExecutionRecord.model_validate(
        row(metadata={"big": 2.654731923539887e16, "small": 1e-5, "x": 3.0})
    )
    assert record.metadata["big"] == 2.654731923539887e16 and isinstance(
        record.metadata["big"], int
    )
    assert isinstance(record.metadata["small"], float) and isinstance(record.metadata["x"], float)


def test_a_literal_backslash_u0000_in_metadata_is_not_a_nul() -> None:
    record = ExecutionRecord.model_validate(row(metadata={"\\u0000": "C:\\u0000dir"}))
    assert record.metadata == {"\\u0000": "C:\\u0000dir"}
    assert "NUL" in reason_for(metadata={"k\x00": 1})
