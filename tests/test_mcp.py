"""`learning-store mcp` through the MCP SDK's own client: in memory, over stdio, over HTTP.

The store holds the demo's executions (hashing embedder: no model needed); every tool's
structured result is compared with what the Python API returns on the same store.
"""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx2
import pytest
from mcp import Client, StdioServerParameters
from mcp.client.streamable_http import streamable_http_client
from pg_server import free_port

from learning_store import LearningConfig, LearningDatabase
from learning_store.demo_data import generate
from learning_store.mcp.tools import RECORD_FIELDS, WRITE_TOOLS, build_server
from tests.test_metrics import scrape

TOOLS = {
    "find_similar",
    "recommend_tier",
    "tier_performance",
    "stats",
    "get_execution",
    "record_execution",
    "record_feedback",
}
QUERY = "Speed up the slow orders query"


def config_for(path: Path) -> LearningConfig:
    return LearningConfig(database_url=f"duckdb:///{path}", embedding_model="hashing")


async def filled(path: Path) -> LearningDatabase:
    db = LearningDatabase(config=config_for(path))
    await db.initialize()
    await db.store_executions_batch(generate(400, days=20, seed=3))
    return db


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[LearningDatabase]:
    database = await filled(tmp_path / "mcp.db")
    yield database
    await database.close()


async def expected_answers(db: LearningDatabase) -> dict[str, Any]:
    """What the Python API returns, shaped as the tools document it."""
    similar = await db.find_similar_executions(QUERY, threshold=0.1)
    advice = await db.recommend_tier(QUERY, min_success=0.8)
    stats = await db.get_stats()
    return {
        "find_similar": {"executions": similar},
        "recommend_tier": {
            "tier": advice.tier,
            "reason": advice.reason,
            "estimates": [item.to_dict() for item in advice.estimates],
        },
        "tier_performance": {"rows": await db.get_tier_performance(days_back=7)},
        "stats": {
            "total": stats.total,
            "oldest": stats.oldest.isoformat() if stats.oldest else None,
            "newest": stats.newest.isoformat() if stats.newest else None,
            "per_repo": stats.per_repo,
            "invalid_rows": stats.invalid_rows,
            "without_embedding": stats.without_embedding,
        },
        "some_task_id": similar[0]["task_id"],
    }


ARGUMENTS = {
    "find_similar": {"task_description": QUERY, "threshold": 0.1},
    "recommend_tier": {"task_description": QUERY, "min_success": 0.8},
    "tier_performance": {},
    "stats": {},
}


def same(got: Any, want: Any) -> bool:
    """Equal, floats to 1e-6 (advice weighs recency from 'now', which moves between calls)."""
    if isinstance(want, float) and isinstance(got, float):
        return got == pytest.approx(want, rel=1e-6, abs=1e-9)
    if isinstance(want, dict) and isinstance(got, dict):
        return got.keys() == want.keys() and all(same(got[k], want[k]) for k in want)
    if isinstance(want, list) and isinstance(got, list):
        return len(got) == len(want) and all(same(a, b) for a, b in zip(got, want, strict=True))
    return bool(got == want)


async def check_every_read_tool(client: Client, expected: dict[str, Any]) -> None:
    for name, arguments in ARGUMENTS.items():
        result = await client.call_tool(name, arguments)
        assert not result.is_error, (name, result.content)
        assert same(result.structured_content, expected[name]), name
    task_id = expected["some_task_id"]
    found = await client.call_tool("get_execution", {"task_id": task_id})
    assert not found.is_error and found.structured_content["task_id"] == task_id
    assert found.structured_content["has_embedding"] is True
    assert "embedding" not in found.structured_content


async def test_every_tool_has_a_schema_and_answers_as_the_python_api(db) -> None:
    expected = await expected_answers(db)
    async with Client(build_server(db)) as client:
        tools = {tool.name: tool for tool in (await client.list_tools()).tools}
        assert set(tools) == TOOLS
        for tool in tools.values():
            assert tool.description and len(tool.description) > 40, tool.name
            assert tool.input_schema["type"] == "object"
            assert tool.output_schema is not None and tool.output_schema["type"] == "object"
        assert set(tools["record_execution"].input_schema["properties"]) == set(RECORD_FIELDS)
        assert set(tools["record_execution"].input_schema["required"]) >= {
            "task_type",
            "repo",
            "model_tier",
            "success",
        }
        assert set(tools["find_similar"].input_schema["properties"]) == {
            "task_description",
            "repo",
            "limit",
            "days_back",
            "threshold",
        }
        assert set(tools["recommend_tier"].input_schema["properties"]) == {
            "task_description",
            "repo",
            "task_type",
            "complexity_score",
            "min_success",
        }
        await check_every_read_tool(client, expected)


async def test_recording_and_feedback_reach_the_store(db) -> None:
    row = {
        "task_id": "1b4e28ba-2fa1-11d2-883f-0016d3cca427",
        "task_type": "bugfix",
        "task_description": "Fix the flaky login test",
        "repo": "web",
        "model_tier": "small",
        "pool_type": "local",
        "routing_confidence": 0.7,
        "success": True,
        "duration_seconds": 12.5,
        "metadata": {"ticket": "T-1"},
    }
    async with Client(build_server(db)) as client:
        stored = await client.call_tool("record_execution", row)
        assert stored.structured_content == {
            "status": "stored",
            "task_id": row["task_id"],
            "reasons": [],
        }
        again = await client.call_tool("record_execution", row)
        assert again.structured_content["status"] == "duplicate"
        bad = await client.call_tool("record_execution", {**row, "routing_confidence": 1.5})
        assert bad.structured_content["status"] == "rejected"
        assert "routing_confidence" in bad.structured_content["reasons"][0]
        feedback = await client.call_tool(
            "record_feedback", {"task_id": row["task_id"], "accepted": True, "rating": 4}
        )
        assert feedback.structured_content == {"task_id": row["task_id"], "updated": True}
    record = await db.get(row["task_id"])
    assert record is not None and record.user_rating == 4 and record.user_accepted is True
    assert record.metadata == {"ticket": "T-1"} and record.embedding is not None


async def test_bad_input_is_a_tool_error_and_the_next_call_works(db) -> None:
    unknown = "00000000-0000-0000-0000-00000000beef"
    async with Client(build_server(db)) as client:
        for name, arguments, words in [
            ("get_execution", {"task_id": unknown}, "no execution"),
            ("get_execution", {"task_id": "job-17"}, "no execution 'job-17'"),
            ("get_execution", {"task_id": "  "}, "must not be empty"),
            ("record_feedback", {"task_id": unknown, "accepted": True}, "no execution"),
            ("record_feedback", {"task_id": unknown}, "give accepted"),
            ("recommend_tier", {"task_description": QUERY, "min_success": 2}, "min_success"),
        ]:
            result = await client.call_tool(name, arguments)
            assert result.is_error, (name, arguments)
            assert words in result.content[0].text, result.content[0].text
            assert "Traceback" not in result.content[0].text
        stored = (await db.find_similar_executions(QUERY, threshold=0.1))[0]["task_id"]
        rating = await client.call_tool("record_feedback", {"task_id": stored, "rating": 9})
        assert rating.is_error and "rating" in rating.content[0].text
        assert not (await client.call_tool("stats", {})).is_error


async def test_read_only_hides_and_refuses_the_write_tools(db) -> None:
    async with Client(build_server(db, read_only=True)) as client:
        names = {tool.name for tool in (await client.list_tools()).tools}
        assert names == TOOLS - set(WRITE_TOOLS)
        refused = await client.call_tool("record_feedback", {"task_id": "x", "rating": 3})
        assert refused.is_error


def cli_environment() -> dict[str, str]:
    return {**os.environ, "LEARNING_STORE_EMBEDDING_MODEL": "hashing", "PYTHONUNBUFFERED": "1"}


@pytest.mark.slow
async def test_over_stdio_the_server_answers_as_the_python_api(tmp_path: Path) -> None:
    path = tmp_path / "stdio.db"
    db = await filled(path)
    expected = await expected_answers(db)
    await db.close()  # the server process takes the file
    parameters = StdioServerParameters(
        command=sys.executable,
        args=["-m", "learning_store.cli", "mcp", "--url", f"duckdb:///{path}"],
        env=cli_environment(),
    )
    async with Client(parameters) as client:
        assert {tool.name for tool in (await client.list_tools()).tools} == TOOLS
        await check_every_read_tool(client, expected)
        bad = await client.call_tool("get_execution", {"task_id": "nope"})
        assert bad.is_error
        assert not (await client.call_tool("stats", {})).is_error
    # stdin closed: the server closed the store and let go of the file
    reopened = LearningDatabase(config=config_for(path))
    await reopened.initialize()
    assert (await reopened.get_stats()).total == 400
    await reopened.close()


def start_http(path: Path, *extra: str) -> tuple[subprocess.Popen[str], int]:
    port = free_port()
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "learning_store.cli",
            "mcp",
            "--transport",
            "http",
            "--port",
            str(port),
            "--url",
            f"duckdb:///{path}",
            *extra,
        ],
        env=cli_environment(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and server.poll() is None:
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return server, port
        time.sleep(0.1)
    server.kill()
    raise AssertionError(f"the MCP server did not start: {server.communicate()[1][-2000:]}")


def stop(server: subprocess.Popen[str]) -> None:
    server.terminate()  # SIGTERM: the store is closed cleanly
    assert server.wait(timeout=60) == 0


@pytest.mark.slow
async def test_over_http_twenty_concurrent_calls_all_answer(tmp_path: Path) -> None:
    path = tmp_path / "http.db"
    await (await filled(path)).close()
    metrics_port = free_port()
    server, port = start_http(path, "--metrics-port", str(metrics_port))
    try:
        async with Client(f"http://127.0.0.1:{port}/mcp") as client:
            calls = [
                client.call_tool("find_similar", {"task_description": f"{QUERY} {n}"})
                for n in range(10)
            ] + [client.call_tool("stats", {}) for _ in range(10)]
            results = await asyncio.gather(*calls)
        assert all(not result.is_error for result in results)
        assert all(result.structured_content for result in results)
        metrics = scrape(metrics_port)
        assert metrics["learning_store_search_duration_seconds_count"][()] == 10
        assert metrics["learning_store_rows"][()] == 400
    finally:
        stop(server)
    reopened = LearningDatabase(config=config_for(path))
    await reopened.initialize()  # the DuckDB lock was released
    await reopened.close()


def test_a_bind_beyond_the_loopback_needs_a_token(tmp_path: Path) -> None:
    refused = subprocess.run(
        [
            sys.executable,
            "-m",
            "learning_store.cli",
            "mcp",
            "--transport",
            "http",
            "--host",
            "0.0.0.0",
            "--url",
            f"duckdb:///{tmp_path / 'open.db'}",
        ],
        env={k: v for k, v in cli_environment().items() if k != "LEARNING_STORE_MCP_TOKEN"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert refused.returncode == 1
    assert "token" in refused.stderr and "Traceback" not in refused.stderr


@pytest.mark.slow
async def test_with_a_token_a_request_without_it_gets_401(tmp_path: Path) -> None:
    path = tmp_path / "token.db"
    await (await filled(path)).close()
    secret = "s3cret-token-for-the-test"
    server, port = start_http(path, "--host", "0.0.0.0", "--token", secret)
    try:
        url = f"http://127.0.0.1:{port}/mcp"
        response = httpx2.post(url, json={"jsonrpc": "2.0", "id": 1, "method": "ping"})
        assert response.status_code == 401
        wrong = httpx2.post(url, json={}, headers={"Authorization": "Bearer nope"})
        assert wrong.status_code == 401
        headers = {"Authorization": f"Bearer {secret}"}
        async with httpx2.AsyncClient(headers=headers) as http:
            transport = streamable_http_client(url, http_client=http)
            async with Client(transport) as client:
                assert not (await client.call_tool("stats", {})).is_error
    finally:
        stop(server)
    output = server.stdout.read() + server.stderr.read()  # type: ignore[union-attr]
    assert secret not in output
