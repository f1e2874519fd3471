"""Any string task id is accepted: a non-UUID id is stored under its uuid5 and found by it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from uuid import UUID, uuid4, uuid5

import pytest

from learning_store import LearningConfig, LearningDatabase, RoutingTelemetry, TelemetryCapture
from learning_store.models import EXTERNAL_TASK_ID, LEARNING_STORE_NAMESPACE, task_key
from tests.test_telemetry_capture import decision_event, outcome_event


def config_for(path: Path) -> LearningConfig:
    return LearningConfig(database_url=f"duckdb:///{path}", embedding_model="hashing")


def test_the_namespace_rule_is_the_published_one() -> None:
    assert UUID("5c8c2a7e-3c1b-5d7a-9f0e-6b4d1a2c8e90") == LEARNING_STORE_NAMESPACE
    assert task_key("task-abc-123") == (
        uuid5(LEARNING_STORE_NAMESPACE, "task-abc-123"),
        "task-abc-123",
    )
    same = uuid4()
    for spelling in (str(same), same.hex, str(same).upper(), f"{{{same}}}", f"urn:uuid:{same}"):
        assert task_key(spelling) == (same, None), spelling
    for bad in ("", "   ", "a\x00b", 42):
        with pytest.raises(ValueError, match="task_id"):
            task_key(bad)


async def test_capture_with_a_string_id_stores_one_row_found_by_that_id(tmp_path: Path) -> None:
    db = LearningDatabase(config=config_for(tmp_path / "ids.db"))
    capture = TelemetryCapture(learning_db=db, batch_size=10, batch_timeout=0.05)
    async with capture:
        routing = {"model_tier": "large", "pool_type": "gpu", "routing_confidence": 0.6}
        await capture.capture_routing_decision(decision_event("task-abc-123", routing))
        joined = await capture.capture_execution_outcome(outcome_event("task-abc-123"))
        assert joined is not None
    reopened = LearningDatabase(config=config_for(tmp_path / "ids.db"))
    async with reopened:
        found = await reopened.get("task-abc-123")
        assert found is not None and found.model_tier == "large" and found.success is False
        assert found.task_id == uuid5(LEARNING_STORE_NAMESPACE, "task-abc-123")
        assert found.metadata[EXTERNAL_TASK_ID] == "task-abc-123"
        assert (await reopened.get_stats()).total == 1
        result = await reopened.record_feedback("task-abc-123", accepted=True, rating=5)
        assert result is True
        assert (await reopened.get("task-abc-123")).user_rating == 5


async def test_telemetry_and_batches_take_string_ids_once(tmp_path: Path) -> None:
    db = LearningDatabase(config=config_for(tmp_path / "ids.db"))
    row = {
        "task_id": "queue-msg-9",
        "task_type": "bugfix",
        "task_description": "fix the flaky login test",
        "repo": "web",
        "model_tier": "small",
        "pool_type": "cpu",
        "routing_confidence": 0.9,
        "complexity_score": 20,
        "success": True,
        "duration_seconds": 3.0,
    }
    async with db, RoutingTelemetry(db, batch_size=5) as telemetry:
        await telemetry.record(row)
        await telemetry.record(dict(row))  # the same id twice: one row
        await telemetry.flush()
        assert telemetry.stats.stored == 1 and telemetry.stats.duplicates == 1
        result = await db.store_batch([{**row, "task_id": "QUEUE-MSG-9"}])
        assert result.stored == 1  # ids are case-sensitive strings, unlike UUIDs
        assert (await db.get("queue-msg-9")).repo == "web"


def test_ingest_and_the_cli_take_string_ids(tmp_path: Path) -> None:
    source = tmp_path / "rows.jsonl"
    source.write_text(
        '{"task_id": "job-17", "task_type": "bugfix", "task_description": "fix the login", '
        '"repo": "web", "model_tier": "small", "pool_type": "cpu", "success": true, '
        '"routing_confidence": 0.9, "complexity_score": 20, "duration_seconds": 2.5}\n'
    )
    url = f"duckdb:///{tmp_path / 'cli.db'}"
    base = [sys.executable, "-m", "learning_store.cli"]
    done = subprocess.run(
        [*base, "ingest", str(source), "--url", url, "--model", "hashing"],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0 and "1 stored" in done.stdout, done.stdout + done.stderr
    feedback = subprocess.run(
        [*base, "feedback", "job-17", "--accepted", "--url", url],
        capture_output=True,
        text=True,
    )
    assert feedback.returncode == 0, feedback.stdout + feedback.stderr
