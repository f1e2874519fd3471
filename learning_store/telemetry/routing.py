"""`RoutingTelemetry`: a bounded, batching buffer between a live router and the database.

`record()` appends and returns at once while there is room. A background task writes
batches when `batch_size` records are pending or every `flush_interval` seconds. When the
database fails, records stay pending and are retried with exponential backoff; after
`max_retries` failures in a row they are spooled to disk and replayed later. When the
buffer is full, `record()` waits up to `enqueue_timeout` for room, then drops the record,
counting it and logging a warning. Nothing is ever lost silently: see `TelemetryStats`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Self
from uuid import UUID

from learning_store.api import LearningDatabase
from learning_store.config import LearningConfig
from learning_store.errors import NotInitializedError, TelemetryClosedError
from learning_store.models import ExecutionRecord
from learning_store.repository.batching import to_record
from learning_store.results import BatchResult
from learning_store.telemetry.halves import JoinedEntryPoints
from learning_store.telemetry.joiner import DecisionOutcomeJoiner
from learning_store.telemetry.spool import Spool, SpoolFile
from learning_store.telemetry.stats import TelemetryStats
from learning_store.telemetry.waiting_feedback import WaitingFeedback
from learning_store.timings import DurationHistogram

log = logging.getLogger(__name__)

MAX_BACKOFF_SECONDS = 60.0


class RoutingTelemetry(JoinedEntryPoints):
    """Collects execution records from a router and stores them in batches, losing none.

    Settings not given here come from the `LearningConfig` of `learning_db`.
    Invariant, true whenever a caller can observe `stats`:
    `recorded + replayed == stored + duplicates + rejected + dropped + pending + spooled`.
    """

    def __init__(
        self,
        learning_db: LearningDatabase,
        *,
        batch_size: int | None = None,
        auto_flush: bool = True,
        flush_interval: float | None = None,
        max_pending: int | None = None,
        enqueue_timeout: float | None = None,
        max_retries: int | None = None,
        retry_backoff: float | None = None,
        spool_dir: str | Path | None = None,
        shutdown_timeout: float | None = None,
        pending_ttl: float | None = None,
    ) -> None:
        config: LearningConfig = getattr(learning_db, "config", None) or LearningConfig()
        settings = LearningConfig(
            batch_size=_given(batch_size, config.batch_size),
            flush_interval_seconds=_given(flush_interval, config.flush_interval_seconds),
            telemetry_max_pending=_given(max_pending, config.telemetry_max_pending),
            telemetry_enqueue_timeout_seconds=_given(
                enqueue_timeout, config.telemetry_enqueue_timeout_seconds
            ),
            telemetry_max_retries=_given(max_retries, config.telemetry_max_retries),
            telemetry_retry_backoff_seconds=_given(
                retry_backoff, config.telemetry_retry_backoff_seconds
            ),
            telemetry_spool_dir=_given(spool_dir, config.telemetry_spool_dir),
            telemetry_shutdown_timeout_seconds=_given(
                shutdown_timeout, config.telemetry_shutdown_timeout_seconds
            ),
            telemetry_pending_ttl_seconds=_given(pending_ttl, config.telemetry_pending_ttl_seconds),
            database_url=config.database_url,
        )  # validated once, with the same clear errors as the environment gets
        self.learning_db = learning_db
        self.auto_flush = auto_flush
        self.batch_size = settings.batch_size
        self.flush_interval = settings.flush_interval_seconds
        self.max_pending = settings.telemetry_max_pending
        self.enqueue_timeout = settings.telemetry_enqueue_timeout_seconds
        self.max_retries = settings.telemetry_max_retries
        self.retry_backoff = settings.telemetry_retry_backoff_seconds
        self.shutdown_timeout = settings.telemetry_shutdown_timeout_seconds
        self.spool = Spool(settings.telemetry_spool_dir)
        self._joiner = DecisionOutcomeJoiner(
            settings.telemetry_pending_ttl_seconds, self.max_pending
        )

        self._buffer: deque[ExecutionRecord] = deque()
        self._in_flight = 0
        self._counts = dict.fromkeys(
            (
                "recorded",
                "replayed",
                "stored",
                "duplicates",
                "rejected",
                "dropped",
                "spooled",
                "flushes",
                "failed_flushes",
                "orphaned_decisions",
                "orphaned_outcomes",
                "feedback_applied",
            ),
            0,
        )
        self.flush_seconds = DurationHistogram()
        """How long each batch write took, failed ones included (for metrics)."""
        self._own_spool_files: dict[Path, int] = {}
        self._waiting_feedback = WaitingFeedback(self.max_pending)
        self._feedback_lock = asyncio.Lock()
        self._consecutive_failures = 0
        self._wake = asyncio.Event()
        self._stopping = asyncio.Event()
        self._room = asyncio.Condition()
        self._worker: asyncio.Task[None] | None = None
        self._closing = False
        self._shutdown: asyncio.Task[None] | None = None
        self._initialized = False

    # Lifecycle --------------------------------------------------------------------------

    async def initialize(self) -> None:
        """Initialize the database, replay any spooled records, start the background flusher."""
        if self._initialized:
            return
        await self.learning_db.initialize()
        self._initialized = True
        await self.replay_spool()
        if self.auto_flush:
            self._worker = asyncio.create_task(self._run(), name="learning-store-telemetry")

    async def shutdown(self) -> None:
        """Stop the flusher, write everything pending, spool what cannot be written in time.

        Idempotent; returns within `shutdown_timeout` (plus the time to write the spool).
        """
        if self._shutdown is None:
            self._shutdown = asyncio.create_task(self._shut_down())
        await asyncio.shield(self._shutdown)

    async def __aenter__(self) -> Self:
        await self.initialize()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.shutdown()

    # Taking records in ------------------------------------------------------------------

    async def record(self, execution: ExecutionRecord | Mapping[str, Any]) -> bool:
        """Queue one execution; True when queued, False when dropped because the buffer stayed full.

        Raises:
            TelemetryClosedError: after `shutdown()`.
            pydantic.ValidationError: a mapping that is not a valid record.
        """
        if self._closing:
            raise TelemetryClosedError(
                "RoutingTelemetry is shut down: create a new one (or keep it open) to record."
            )
        if not self._initialized:
            raise NotInitializedError(
                "RoutingTelemetry is not initialized: call `await telemetry.initialize()` first "
                "(or use `async with RoutingTelemetry(db) as telemetry`)."
            )
        record = to_record(execution)
        waiting = self._waiting_feedback.take_one(record.task_id)
        if waiting is not None:
            record = record.model_copy(update=waiting.changes())
            self._counts["feedback_applied"] += 1
        if self._in_memory() >= self.max_pending and not await self._wait_for_room():
            self._counts["recorded"] += 1
            self._counts["dropped"] += 1
            log.warning(
                "telemetry buffer full (%d records): dropped task %s; %d dropped so far",
                self.max_pending,
                record.task_id,
                self._counts["dropped"],
            )
            return False
        self._buffer.append(record)
        self._counts["recorded"] += 1
        if self.auto_flush and len(self._buffer) >= self.batch_size:
            self._wake.set()
        return True

    # Writing ----------------------------------------------------------------------------

    async def flush(self) -> int:
        """Write every record pending now in one `store_batch` call; return how many were stored."""
        return await self._write(self._take(len(self._buffer)))

    async def flush_batch(self) -> int:
        """Write everything pending in `batch_size` chunks; return how many were stored."""
        stored = 0
        while self._buffer:
            stored += await self._write(self._take(self.batch_size))
        return stored

    async def flush_or_spool(self) -> int:
        """Write everything pending now; if the database refuses, spool it to disk instead.

        When this returns, every record recorded before the call is stored, rejected or
        spooled: a receiver acknowledges its sender only then. Returns how many were stored.
        """
        try:
            stored = await self.flush()
        except Exception as exc:
            log.warning("telemetry flush failed, spooling instead: %s", exc)
            await self._spool_pending()
            return 0
        if self._own_spool_files:
            with contextlib.suppress(Exception):  # the spool is safe; replay tries again later
                stored += await self.replay_spool()
        return stored

    async def replay_spool(self) -> int:
        """Write records spooled by earlier runs (or by this one); return how many were stored."""
        stored = 0
        for path in await asyncio.to_thread(self.spool.pending_files):
            spooled = await asyncio.to_thread(self.spool.claim, path)
            if spooled is None:
                continue
            try:
                result = await self.learning_db.store_batch(spooled.records)
            except Exception as exc:
                await asyncio.to_thread(self.spool.release, spooled)
                log.warning("spool replay of %s failed, will retry later: %s", path.name, exc)
                break
            await asyncio.to_thread(self.spool.remove, spooled)
            self._settle_replay(path, spooled, result)
            stored += result.stored
            await self._write_waiting_feedback([record.task_id for record in spooled.records])
        return stored

    @property
    def stats(self) -> TelemetryStats:
        """A snapshot of the counters (see the class docstring for the invariant)."""
        return TelemetryStats(
            **self._counts,
            pending=self._in_memory(),
            awaiting_outcome=self._joiner.waiting_decisions,
            awaiting_decision=self._joiner.waiting_outcomes,
            feedback_waiting=len(self._waiting_feedback),
        )

    # Internals --------------------------------------------------------------------------

    def _in_memory(self) -> int:
        return len(self._buffer) + self._in_flight

    def _take(self, count: int) -> list[ExecutionRecord]:
        taken = [self._buffer.popleft() for _ in range(min(count, len(self._buffer)))]
        self._in_flight += len(taken)
        return taken

    async def _write(self, records: list[ExecutionRecord]) -> int:
        """Store taken records; on failure (or cancellation) they go back to the front."""
        if not records:
            return 0
        started = time.perf_counter()
        try:
            result = await self.learning_db.store_batch(records)
        except BaseException:
            self.flush_seconds.observe(time.perf_counter() - started)
            self._in_flight -= len(records)
            self._buffer.extendleft(reversed(records))
            self._counts["failed_flushes"] += 1
            raise
        self.flush_seconds.observe(time.perf_counter() - started)
        self._in_flight -= len(records)
        self._settle(result)
        await self._notify_room()
        await self._write_waiting_feedback([record.task_id for record in records])
        return result.stored

    def _settle(self, result: BatchResult) -> None:
        self._counts["stored"] += result.stored
        self._counts["duplicates"] += result.duplicates
        self._counts["rejected"] += len(result.rejected)
        self._counts["flushes"] += 1
        for rejected in result.rejected:
            log.warning("telemetry record %s rejected: %s", rejected.task_id, rejected.reason)

    def _settle_replay(self, path: Path, spooled: SpoolFile, result: BatchResult) -> None:
        """Count a replayed file: our own spooled records move state; others are taken in."""
        own = self._own_spool_files.pop(path, None)
        if own is not None:
            self._counts["spooled"] -= own
        else:
            self._counts["replayed"] += len(spooled.records)
        self._counts["stored"] += result.stored
        self._counts["duplicates"] += result.duplicates
        self._counts["rejected"] += len(result.rejected)
        log.info("replayed %d spooled records from %s", len(spooled.records), path.name)

    async def _spool_pending(self) -> None:
        """Move everything in the buffer to a spool file on disk."""
        records = list(self._buffer)
        if not records:
            return
        path = await asyncio.to_thread(self.spool.write, records)
        for _ in records:
            self._buffer.popleft()
        self._own_spool_files[path] = len(records)
        self._counts["spooled"] += len(records)
        log.warning("database unavailable: spooled %d records to %s", len(records), path)
        await self._notify_room()

    async def _write_waiting_feedback(self, task_ids: list[UUID]) -> None:
        """Write the waiting feedback of these tasks; what the store does not know waits on.

        One call at a time: a flush that has just written a record checks for its feedback
        only after an attempt under way (which may have missed the record) has put back
        what it could not write, so no feedback is stranded.
        """
        async with self._feedback_lock:
            items = self._waiting_feedback.take(task_ids)
            if not items:
                return
            try:
                result = await self.learning_db.record_feedback_many(items)
            except Exception as exc:
                log.warning("feedback could not be written yet, will retry: %s", exc)
                unknown = {item.task_id for item in items}
            else:
                unknown = set(result.unknown)
                self._counts["feedback_applied"] += result.updated
            for item in items:
                if item.task_id in unknown:
                    self._waiting_feedback.hold(item)

    async def _wait_for_room(self) -> bool:
        async with self._room:
            try:
                await asyncio.wait_for(
                    self._room.wait_for(lambda: self._in_memory() < self.max_pending),
                    self.enqueue_timeout,
                )
            except TimeoutError:
                return False
        return True

    async def _notify_room(self) -> None:
        async with self._room:
            self._room.notify_all()

    async def _run(self) -> None:
        """Background loop: flush on size or interval; back off, then spool, on failures."""
        while not self._closing:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.flush_interval)
            self._wake.clear()
            self._expire_halves()
            if self._closing:
                return
            try:
                await self._flush_with_retries()
            except Exception:  # a bug here must not silently stop all flushing
                log.exception("telemetry flusher hit an unexpected error; continuing")

    async def _flush_with_retries(self) -> None:
        try:
            await self.flush_batch()
        except Exception as exc:
            self._consecutive_failures += 1
            log.warning("telemetry flush failed (%d in a row): %s", self._consecutive_failures, exc)
            if self._consecutive_failures > self.max_retries:
                await self._spool_pending()
                self._consecutive_failures = 0
                return
            delay = min(
                self.retry_backoff * 2 ** (self._consecutive_failures - 1), MAX_BACKOFF_SECONDS
            )
            with contextlib.suppress(TimeoutError):  # shutdown interrupts the backoff
                await asyncio.wait_for(self._stopping.wait(), delay)
            self._wake.set()  # retry promptly after the backoff
            return
        self._consecutive_failures = 0
        if self._own_spool_files:
            await self.replay_spool()

    async def _shut_down(self) -> None:
        self._closing = True
        self._stopping.set()
        self._wake.set()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.shutdown_timeout
        if self._worker is not None:
            try:
                await asyncio.wait_for(asyncio.shield(self._worker), self.shutdown_timeout)
            except TimeoutError:
                self._worker.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await self._worker
        remaining = max(deadline - loop.time(), 0.0)
        try:
            await asyncio.wait_for(self.flush_batch(), remaining)
        except TimeoutError:
            log.warning("shutdown timed out after %.1f s while flushing", self.shutdown_timeout)
        except Exception as exc:
            log.warning("shutdown flush failed: %s", exc)
        await self._spool_pending()
        await self._notify_room()
        if self._waiting_feedback:
            log.warning(
                "shutdown with feedback for %d task(s) whose records never reached the store: %s",
                len(self._waiting_feedback),
                self._waiting_feedback.task_ids(),
            )


def _given(value: Any, default: Any) -> Any:
    return default if value is None else value
