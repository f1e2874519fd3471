"""`ingest --format otlp-json`: the OpenTelemetry file exporter's output as rows.

One `ExportTraceServiceRequest` as OTLP/JSON per line. Spans are joined across the whole
file (a child's line usually comes before its parent's); spans whose parent is not in the
file become rows at the end. A line that is not a request is reported by its number.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path

from learning_store.files.readers import ProgressCounter, SourceRow
from learning_store.otlp import DEFAULT_TASK_OPERATIONS
from learning_store.otlp.joiner import Joined, SpanJoiner
from learning_store.otlp.mapping import TierMap
from learning_store.otlp.spans import MalformedRequest, request_from_json, spans_of


def otlp_json_rows(
    path: Path,
    counter: ProgressCounter,
    task_operations: Sequence[str] = DEFAULT_TASK_OPERATIONS,
    tiers: TierMap | None = None,
) -> Iterator[SourceRow]:
    """The rows of a file of OTLP/JSON trace requests, each with the line of its span."""
    joiner = SpanJoiner(task_operations, tiers or TierMap(), join_seconds=0.0)
    lines: dict[tuple[str, str], int] = {}
    with path.open("rb") as handle:
        for number, raw in enumerate(handle, start=1):
            counter.consumed += len(raw)
            if not raw.strip():
                continue
            try:
                spans = list(spans_of(request_from_json(raw)))
            except MalformedRequest as error:
                yield SourceRow(number, None, str(error))
                continue
            lines.update((span.key, number) for span in spans)
            yield from _rows(joiner.add(spans), lines)
    yield from _rows(joiner.expire(), lines)


def _rows(joined: Joined, lines: dict[tuple[str, str], int]) -> Iterator[SourceRow]:
    for row, spans in zip(joined.rows, joined.spans, strict=True):
        yield SourceRow(max(lines[key] for key in spans), row)
