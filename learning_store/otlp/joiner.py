"""Which task spans become rows: each joins its topmost task ancestor, or waits for it.

Spans of one trace arrive in any order and in several requests (a child ends, and is
exported, before its parent). A task span is *resolved* once its chain of parents is known
up to the trace's root; then it is either the topmost task of its chain (a row, with the
usage of its task descendants added) or counted into that topmost task's row. A span whose
chain has a gap waits up to `join_seconds` for the missing parent; when the wait ends, the
topmost task of the part that is known becomes the row.

The waiting spans are acknowledged to the sender before they are rows, so they are kept
on disk (`WaitingFile`) until their row is stored or spooled: a restart loses none.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from learning_store.durability import ensure_folder, fsync_path
from learning_store.otlp.mapping import TierMap, Usage, is_task, row_of, usage_of
from learning_store.otlp.spans import Span

DEFAULT_JOIN_SECONDS = 30.0
MAX_WAITING_SPANS = 100_000
"""Past this many waiting spans the oldest stop waiting (memory stays bounded)."""


@dataclass
class _Trace:
    """What is known of one trace: every span seen (task spans whole, others as links)."""

    spans: dict[str, Span] = field(default_factory=dict)
    waiting: dict[str, float] = field(default_factory=dict)
    """Task spans not yet in a row, and when each arrived (monotonic seconds)."""
    counted: dict[str, set[str]] = field(default_factory=dict)
    """Rows made: the topmost task's span id -> the task spans counted into it."""
    touched: float = 0.0


@dataclass(frozen=True)
class Joined:
    """Rows ready to store, and the key of every task span each one stands for."""

    rows: list[dict[str, Any]]
    spans: list[list[tuple[str, str]]]


class SpanJoiner:
    """Groups task spans under their topmost task ancestor, across requests."""

    def __init__(
        self,
        task_operations: Sequence[str],
        tiers: TierMap,
        join_seconds: float = DEFAULT_JOIN_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.task_operations = tuple(task_operations)
        self.tiers = tiers
        self.join_seconds = join_seconds
        self.clock = clock
        self._traces: dict[str, _Trace] = {}

    @property
    def waiting(self) -> int:
        """Task spans acknowledged but not yet in a row."""
        return sum(len(trace.waiting) for trace in self._traces.values())

    def add(self, spans: Iterable[Span]) -> Joined:
        """Take spans in; return the rows that are now complete."""
        now = self.clock()
        return self._take_in((span, now) for span in spans)

    def restore(self, waiting: Iterable[tuple[Span, float]]) -> Joined:
        """Take back the spans a previous run left waiting (`WaitingFile.load`)."""
        return self._take_in(waiting)

    def _take_in(self, arrivals: Iterable[tuple[Span, float]]) -> Joined:
        touched: set[str] = set()
        for span, arrived in arrivals:
            trace = self._traces.setdefault(span.trace_id, _Trace())
            trace.touched = max(trace.touched, arrived)
            touched.add(span.trace_id)
            task = is_task(span, self.task_operations)
            trace.spans[span.span_id] = span if task else _link(span)
            if task and not _already_counted(trace, span.span_id):
                trace.waiting.setdefault(span.span_id, arrived)
        joined = Joined([], [])
        for trace_id in touched:
            self._resolve(self._traces[trace_id], joined, give_up=False)
        self._bound()
        return joined

    def expire(self) -> Joined:
        """Rows of spans that waited `join_seconds` for a parent that never came."""
        now = self.clock()
        joined = Joined([], [])
        for trace_id, trace in list(self._traces.items()):
            if any(now - since >= self.join_seconds for since in trace.waiting.values()):
                self._resolve(trace, joined, give_up=True)
            if not trace.waiting and now - trace.touched >= self.join_seconds:
                del self._traces[trace_id]  # late duplicates of it now count as new spans
        return joined

    def waiting_spans(self) -> list[tuple[Span, float]]:
        """Every span a waiting span's row may need (to keep on disk), with its arrival."""
        kept: list[tuple[Span, float]] = []
        for trace in self._traces.values():
            if trace.waiting:
                since = min(trace.waiting.values())
                kept.extend(
                    (span, trace.waiting.get(span.span_id, since)) for span in trace.spans.values()
                )
        return kept

    def _resolve(self, trace: _Trace, joined: Joined, give_up: bool) -> None:
        """Make the rows whose chains are complete (or, giving up, as complete as known)."""
        groups: dict[str, list[str]] = {}
        for span_id in trace.waiting:
            top, complete = self._topmost_task(trace, span_id)
            if complete or give_up:
                groups.setdefault(top, []).append(span_id)
        for top, members in groups.items():
            counted = trace.counted.get(top)
            if counted is not None and top not in members:
                # the row of `top` is stored; a descendant arriving late is a row of its own
                for span_id in members:
                    self._emit(trace, span_id, [span_id], joined)
                continue
            self._emit(trace, top, members, joined)

    def _emit(self, trace: _Trace, top: str, members: list[str], joined: Joined) -> None:
        usage = Usage()
        for span_id in members:
            usage.add(usage_of(trace.spans[span_id], self.tiers))
            trace.waiting.pop(span_id, None)
        trace.counted.setdefault(top, set()).update(members)
        joined.rows.append(row_of(trace.spans[top], usage, self.tiers))
        joined.spans.append([(trace.spans[top].trace_id, span_id) for span_id in members])

    def _topmost_task(self, trace: _Trace, span_id: str) -> tuple[str, bool]:
        """The topmost task span above (or at) `span_id`, and whether its chain is whole."""
        top = span_id
        seen = {span_id}
        parent = trace.spans[span_id].parent_span_id
        while parent is not None:
            span = trace.spans.get(parent)
            if span is None or parent in seen:  # a gap (or a cycle, which a bad sender can make)
                return top, False
            seen.add(parent)
            if is_task(span, self.task_operations):
                top = parent
            parent = span.parent_span_id
        return top, True

    def _bound(self) -> None:
        """Stop the oldest waits when too many spans wait (they become rows at next expiry)."""
        excess = self.waiting - MAX_WAITING_SPANS
        if excess <= 0:
            return
        arrivals = sorted(
            (since, trace_id, span_id)
            for trace_id, trace in self._traces.items()
            for span_id, since in trace.waiting.items()
        )
        for since, trace_id, span_id in arrivals[:excess]:
            self._traces[trace_id].waiting[span_id] = since - self.join_seconds


def _already_counted(trace: _Trace, span_id: str) -> bool:
    return any(span_id in members for members in trace.counted.values())


def _link(span: Span) -> Span:
    """A span that is not a task, kept only as a link of the parent chain."""
    return Span(span.trace_id, span.span_id, span.parent_span_id, span.name, 0, 0, False, "", {})


class WaitingFile:
    """The waiting spans on disk: rewritten whole (temporary file, fsync, rename) on change."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.path = folder / "otlp-waiting.json"

    def save(self, spans: list[tuple[Span, float]], clock: Callable[[], float]) -> None:
        """Keep these spans, each with how many seconds it has waited."""
        if not spans:
            self.path.unlink(missing_ok=True)
            return
        now = clock()
        document = [{"waited_s": now - since, "span": span.to_json()} for span, since in spans]
        ensure_folder(self.folder, "LEARNING_STORE_TELEMETRY_SPOOL_DIR")
        temporary = self.path.with_suffix(".tmp")
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with open(descriptor, "w", encoding="utf-8") as handle:
            json.dump(document, handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, self.path)
        fsync_path(self.folder)

    def load(self, clock: Callable[[], float]) -> list[tuple[Span, float]]:
        """The spans a previous run left waiting, with their arrival on `clock`'s scale."""
        try:
            document = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return []
        now = clock()
        return [(Span.from_json(item["span"]), now - float(item["waited_s"])) for item in document]
