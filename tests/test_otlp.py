"""OpenTelemetry GenAI spans in: real SDK spans through the real OTLP/HTTP exporter to
`learning-store otlp`, and through the OTLP/JSON file format into `ingest`.

The spans: an agent run (mapped model) with two chat children, one failing with an
unmapped model, and a lone chat call (unmapped model, captured messages, evaluation
events). Each test checks stored rows field by field against the README's mapping.
"""

from __future__ import annotations

import base64
import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.error import HTTPError
from uuid import UUID, uuid5

import pytest
from google.protobuf import json_format
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExportResult
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import Status, StatusCode
from pg_server import free_port
from prometheus_client.parser import text_string_to_metric_families

from learning_store.bootstrap import build_repository
from learning_store.config import LearningConfig
from learning_store.models import LEARNING_STORE_NAMESPACE, ExecutionRecord

TIER_MAP = """
[models]
"gpt-4o-mini" = "small"
"gpt-4o*" = { tier = "large", input_per_1k = 0.0025, output_per_1k = 0.01 }
"""


def emit(exporter: Any, *, with_root: bool = True) -> None:
    """The test's spans, each exported as it ends (children before their parents)."""
    provider = TracerProvider(resource=Resource.create({"service.name": "checkout"}))
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("test")
    agent = tracer.start_span(
        "invoke_agent refunds",
        attributes={
            "gen_ai.operation.name": "invoke_agent",
            "gen_ai.agent.name": "refund-bot",
            "gen_ai.request.model": "gpt-4o",
            "gen_ai.conversation.id": "conv-7",
            "learning_store.task_description": "Refund the duplicate charge on order 1182",
            "learning_store.task_type": "refund",
            "learning_store.complexity_score": 35,
            "vcs.repository.name": "payments",
        },
    )
    from opentelemetry import trace

    with trace.use_span(agent, end_on_exit=False):
        with tracer.start_as_current_span(
            "chat gpt-4o",
            attributes={
                "gen_ai.operation.name": "chat",
                "gen_ai.provider.name": "openai",
                "gen_ai.request.model": "gpt-4o",
                "gen_ai.response.model": "gpt-4o-2024-08-06",
                "gen_ai.usage.input_tokens": 1200,
                "gen_ai.usage.output_tokens": 300,
            },
        ):
            time.sleep(0.01)
        with tracer.start_as_current_span(
            "chat mystery-7b",
            attributes={
                "gen_ai.operation.name": "chat",
                "gen_ai.provider.name": "vllm",
                "gen_ai.request.model": "mystery-7b",
                "gen_ai.usage.input_tokens": 80,
                "gen_ai.usage.output_tokens": 0,
                "error.type": "timeout",
            },
        ) as failing:
            failing.set_status(Status(StatusCode.ERROR, "upstream timed out after 30 s"))
    if with_root:
        agent.end()
    with tracer.start_as_current_span(
        "chat",
        attributes={
            "gen_ai.operation.name": "chat",
            "gen_ai.system": "ollama",
            "gen_ai.request.model": "llama-3-8b",
            "gen_ai.usage.input_tokens": 40,
            "gen_ai.usage.output_tokens": 60,
            "gen_ai.usage.cost": 0.002,
            "gen_ai.response.finish_reasons": ("stop",),
            "gen_ai.input.messages": json.dumps(
                [
                    {"role": "system", "parts": [{"type": "text", "content": "Be brief."}]},
                    {"role": "user", "parts": [{"type": "text", "content": "Summarise PR 42"}]},
                ]
            ),
        },
    ) as lone:
        lone.add_event(
            "gen_ai.evaluation.result",
            {"gen_ai.evaluation.name": "quality", "gen_ai.evaluation.score.value": 0.8},
        )
        lone.add_event(
            "gen_ai.evaluation.result",
            {"gen_ai.evaluation.name": "acceptance", "gen_ai.evaluation.score.label": "accepted"},
        )
        lone.add_event(
            "gen_ai.evaluation.result",
            {"gen_ai.evaluation.name": "rating", "gen_ai.evaluation.score.value": 4},
        )
    provider.shutdown()


def recorded_spans(with_root: bool = True) -> list[ReadableSpan]:
    memory = InMemorySpanExporter()
    emit(memory, with_root=with_root)
    return list(memory.get_finished_spans())


def expected_rows(spans: list[ReadableSpan]) -> dict[UUID, dict[str, Any]]:
    """The mapping, written out by hand for these spans."""
    by_name = {span.name: span for span in spans}
    agent, lone = by_name["invoke_agent refunds"], by_name["chat"]

    def task_id(span: ReadableSpan) -> UUID:
        context = span.get_span_context()
        return uuid5(LEARNING_STORE_NAMESPACE, f"{context.trace_id:032x}{context.span_id:016x}")

    def seconds(span: ReadableSpan) -> float:
        return (span.end_time - span.start_time) / 1e9

    return {
        task_id(agent): {
            "task_type": "refund",
            "task_description": "Refund the duplicate charge on order 1182",
            "repo": "payments",
            "model_tier": "large",
            "pool_type": "refund-bot",
            "estimated_tokens": 1200 + 300 + 80,
            "success": True,
            "error_type": None,
            "error_message": None,
            "actual_cost": pytest.approx((1200 * 0.0025 + 300 * 0.01) / 1000),
            "complexity_score": 35.0,
            "routing_confidence": 1.0,
            "duration_seconds": pytest.approx(seconds(agent)),
            "quality_score": None,
            "metadata_has": {"gen_ai.conversation.id": "conv-7", "gen_ai.agent.name": "refund-bot"},
        },
        task_id(lone): {
            "task_type": "chat",
            "task_description": "Summarise PR 42",
            "repo": "checkout",
            "model_tier": "llama-3-8b",
            "pool_type": "ollama",
            "estimated_tokens": 100,
            "success": True,
            "error_type": None,
            "actual_cost": pytest.approx(0.002),
            "complexity_score": 50.0,
            "quality_score": pytest.approx(80.0),
            "user_accepted": True,
            "user_rating": 4,
            "duration_seconds": pytest.approx(seconds(lone)),
            "metadata_has": {"gen_ai.response.finish_reasons": ["stop"]},
        },
    }


def check_rows(rows: dict[UUID, ExecutionRecord], expected: dict[UUID, dict[str, Any]]) -> None:
    assert set(rows) == set(expected)
    for task_id, fields in expected.items():
        row = rows[task_id]
        for name, value in fields.items():
            if name == "metadata_has":
                for key, kept in value.items():
                    assert row.metadata[key] == kept, (task_id, key)
            else:
                assert getattr(row, name) == value, (task_id, name)
        assert row.metadata["otel.trace_id"] and row.metadata["otel.span_id"]


def stored(path: Path) -> dict[UUID, ExecutionRecord]:
    config = LearningConfig(database_url=f"duckdb:///{path}", embedding_model="hashing")
    with build_repository(None, config) as repository:
        return {row.task_id: row for chunk in repository.iter_chunks() for row in chunk}


class Receiver:
    """`learning-store otlp` in a subprocess on free ports."""

    def __init__(self, tmp_path: Path, join_seconds: float = 30.0) -> None:
        self.database = tmp_path / "otlp.db"
        tier_map = tmp_path / "tiers.toml"
        tier_map.write_text(TIER_MAP)
        self.port, self.metrics_port = free_port(), free_port()
        environment = {
            **os.environ,
            "LEARNING_STORE_EMBEDDING_MODEL": "hashing",
            "LEARNING_STORE_TELEMETRY_SPOOL_DIR": str(tmp_path / "spool"),
            "PYTHONUNBUFFERED": "1",
        }
        command = [sys.executable, "-m", "learning_store.cli", "otlp"]
        command += ["--url", f"duckdb:///{self.database}", "--port", str(self.port)]
        command += ["--metrics-port", str(self.metrics_port), "--tier-map", str(tier_map)]
        command += ["--join-seconds", str(join_seconds)]
        self.process = subprocess.Popen(command, env=environment, stderr=subprocess.PIPE, text=True)
        assert self.process.stderr is not None
        line = self.process.stderr.readline()
        assert "OTLP receiver on" in line, line + self.process.stderr.read()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1/traces"

    def post(self, body: bytes, content_type: str) -> tuple[int, bytes]:
        request = urllib.request.Request(
            self.url, data=body, headers={"Content-Type": content_type}, method="POST"
        )
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return response.status, response.read()
        except HTTPError as error:
            return error.code, error.read()

    def metrics(self) -> dict[str, float]:
        text = urllib.request.urlopen(f"http://127.0.0.1:{self.metrics_port}/metrics").read()
        return {
            sample.name: sample.value
            for family in text_string_to_metric_families(text.decode())
            for sample in family.samples
            if not sample.labels
        }

    def stop(self, how: int = signal.SIGTERM) -> None:
        self.process.send_signal(how)
        self.process.wait(timeout=30)


@pytest.fixture
def receiver(tmp_path: Path) -> Iterator[Receiver]:
    started = Receiver(tmp_path)
    yield started
    if started.process.poll() is None:
        started.stop(signal.SIGKILL)


def test_sdk_spans_over_otlp_http_become_rows_and_survive_a_kill(
    receiver: Receiver, tmp_path: Path
) -> None:
    memory = InMemorySpanExporter()

    class Both(OTLPSpanExporter):
        def export(self, spans: Any) -> SpanExportResult:
            memory.export(spans)
            result = super().export(spans)
            assert result is SpanExportResult.SUCCESS
            return result

    emit(Both(endpoint=receiver.url))
    spans = list(memory.get_finished_spans())
    metrics = receiver.metrics()
    assert metrics["learning_store_telemetry_stored_total"] == 2
    assert metrics["learning_store_rows"] == 2
    receiver.stop(signal.SIGKILL)  # every span was answered 200: nothing may be lost
    check_rows(stored(receiver.database), expected_rows(spans))

    again = Receiver(tmp_path)
    try:
        exporter = OTLPSpanExporter(endpoint=again.url)
        assert exporter.export(spans) is SpanExportResult.SUCCESS  # the same spans again
        assert again.metrics()["learning_store_telemetry_duplicates_total"] == 2
    finally:
        again.stop()
    assert len(stored(receiver.database)) == 2


def test_bad_requests_get_400_or_415_and_the_receiver_keeps_serving(receiver: Receiver) -> None:
    status, body = receiver.post(b"\xff\x00 not protobuf", "application/x-protobuf")
    assert status == 400 and body
    status, body = receiver.post(b'{"resourceSpans": 7}', "application/json")
    assert status == 400 and b"resourceSpans" in body
    status, _ = receiver.post(b"{}", "text/plain")
    assert status == 415
    request = encode_spans(recorded_spans())
    status, body = receiver.post(request.SerializeToString(), "application/x-protobuf")
    assert status == 200
    status, body = receiver.post(json_format.MessageToJson(request).encode(), "application/json")
    assert status == 200 and json.loads(body) == {}  # no partial success: every span taken


def test_waiting_children_survive_a_kill_and_become_rows_when_the_root_never_comes(
    tmp_path: Path,
) -> None:
    first = Receiver(tmp_path, join_seconds=30)
    try:
        emit(OTLPSpanExporter(endpoint=first.url), with_root=False)
        assert first.metrics()["learning_store_rows"] == 1  # the lone chat; the children wait
    finally:
        first.stop(signal.SIGKILL)
    second = Receiver(tmp_path, join_seconds=0.5)
    deadline = time.monotonic() + 20
    while second.metrics()["learning_store_rows"] < 3 and time.monotonic() < deadline:
        time.sleep(0.2)
    second.stop()
    rows = stored(second.database)
    children = {row.metadata["otel.span_name"]: row for row in rows.values()}
    assert set(children) == {"chat", "chat gpt-4o", "chat mystery-7b"}
    failing = children["chat mystery-7b"]
    assert failing.success is False and failing.error_type == "timeout"
    assert failing.error_message == "upstream timed out after 30 s"
    assert failing.model_tier == "mystery-7b" and failing.pool_type == "vllm"
    assert children["chat gpt-4o"].model_tier == "large"
    assert not (tmp_path / "spool" / "otlp-waiting.json").exists()


def otlp_json_line(spans: list[ReadableSpan], hex_ids: bool) -> str:
    """One request as the collector's file exporter writes it (hex ids) or as protobuf's
    JSON mapping does (base64 ids)."""
    document = json_format.MessageToDict(encode_spans(spans))
    if hex_ids:
        for resource in document["resourceSpans"]:
            for scope in resource["scopeSpans"]:
                for span in scope["spans"]:
                    for key in ("traceId", "spanId", "parentSpanId"):
                        if key in span:
                            span[key] = base64.b64decode(span[key]).hex()
    return json.dumps(document)


def test_ingest_reads_the_otlp_json_file_format(tmp_path: Path) -> None:
    spans = recorded_spans()
    children, rest = spans[:2], spans[2:]  # the children's line comes first, as they end first
    source = tmp_path / "traces.json"
    lines = [otlp_json_line(children, hex_ids=True), otlp_json_line(rest, hex_ids=False)]
    source.write_text("\n".join(lines) + "\n")
    database = tmp_path / "ingested.db"
    command = [sys.executable, "-m", "learning_store.cli", "ingest", str(source)]
    command += ["--format", "otlp-json", "--url", f"duckdb:///{database}", "--model", "hashing"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "2 stored" in done.stdout
    rows = stored(database)
    expected = expected_rows(spans)
    # the file carries no tier map: models are tiers, and no prices give no cost
    for fields in expected.values():
        if fields["model_tier"] == "large":
            fields.update(model_tier="gpt-4o", actual_cost=None)
    check_rows(rows, expected)
    again = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert "0 stored, 2 duplicates" in again.stdout


def test_a_malformed_line_is_reported_and_the_others_stored(tmp_path: Path) -> None:
    source = tmp_path / "traces.json"
    source.write_text(
        '{"resourceSpans": [{"scopeSpans": 3}]}\n' + otlp_json_line(recorded_spans(), True)
    )
    database = tmp_path / "ingested.db"
    command = [sys.executable, "-m", "learning_store.cli", "ingest", str(source)]
    command += ["--format", "otlp-json", "--url", f"duckdb:///{database}", "--model", "hashing"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert done.returncode == 3, done.stdout + done.stderr
    assert "2 stored" in done.stdout and "1 rejected" in done.stdout
    rejects = (tmp_path / "traces.json.rejects.jsonl").read_text()
    assert '"line": 1' in rejects
