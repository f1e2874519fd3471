"""`TraceReceiver`: OTLP trace requests in, executions stored, the sender answered.

Spans are joined into rows (`SpanJoiner`), the rows go through a `RoutingTelemetry`
(validation, batching, the spool when the database is down), and a request is
acknowledged only once its rows are stored, rejected or spooled and the spans still
waiting for a parent are on disk: a crash after the answer loses nothing.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

from pydantic import ValidationError

from learning_store.models import rejection_reason
from learning_store.otlp.joiner import Joined, SpanJoiner, WaitingFile
from learning_store.otlp.spans import count_spans, spans_of
from learning_store.telemetry import RoutingTelemetry

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Receipt:
    """What the sender is told: spans whose rows were rejected, and why."""

    rejected_spans: int = 0
    message: str = ""


class TraceReceiver:
    """Turns trace requests into stored executions, one request at a time."""

    def __init__(self, telemetry: RoutingTelemetry, joiner: SpanJoiner) -> None:
        self.telemetry = telemetry
        self.joiner = joiner
        self.waiting_file = WaitingFile(telemetry.spool.directory)
        self.spans_received = 0
        self._lock = asyncio.Lock()

    async def start(self) -> None:
        """Open the store, replay its spool, and take back the spans a last run left waiting."""
        await self.telemetry.initialize()
        loaded = await asyncio.to_thread(self.waiting_file.load, self.joiner.clock)
        if loaded:
            log.info("%d spans waiting for their parents since the last run", len(loaded))
            async with self._lock:
                await self._settle(self.joiner.restore(loaded))

    async def receive(self, request: object) -> Receipt:
        """Store the rows of one ExportTraceServiceRequest; answer once they are safe."""
        async with self._lock:
            spans = list(spans_of(request))  # type: ignore[arg-type]
            self.spans_received += count_spans(request)  # type: ignore[arg-type]
            return await self._settle(self.joiner.add(spans))

    async def expire(self) -> None:
        """Store the rows of spans whose parents did not come in time."""
        async with self._lock:
            if self.joiner.waiting:
                await self._settle(self.joiner.expire())
            else:
                self.joiner.expire()  # forget finished traces

    async def close(self) -> None:
        """Write what is pending; spans still waiting stay on disk for the next run."""
        async with self._lock:
            await self.telemetry.shutdown()

    async def _settle(self, joined: Joined) -> Receipt:
        rejected_spans, reasons = 0, []
        rejected_before = self.telemetry.stats.rejected
        taken = 0  # rows recorded since the last flush (the buffer holds only ours)
        for row, spans in zip(joined.rows, joined.spans, strict=True):
            try:
                await self.telemetry.record(row)
            except ValidationError as error:
                rejected_spans += len(spans)
                reasons.append(f"span {spans[0][1]}: {rejection_reason(error)}")
                continue
            taken += 1
            if taken >= self.telemetry.batch_size:
                await self.telemetry.flush_or_spool()
                taken = 0
        await self.telemetry.flush_or_spool()
        rejected_spans += self.telemetry.stats.rejected - rejected_before
        await asyncio.to_thread(
            self.waiting_file.save, self.joiner.waiting_spans(), self.joiner.clock
        )
        if reasons:
            log.warning("rejected %d spans: %s", rejected_spans, "; ".join(reasons[:5]))
        return Receipt(rejected_spans, "; ".join(reasons[:20]))
