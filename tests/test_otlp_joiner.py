"""`SpanJoiner`: task spans join their topmost task ancestor across requests, or wait."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from learning_store.otlp.joiner import SpanJoiner, WaitingFile
from learning_store.otlp.mapping import TierMap
from learning_store.otlp.spans import Span

TRACE = "a" * 32


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def span(span_id: str, parent: str | None, operation: str | None, tokens: int = 0) -> Span:
    attributes: dict[str, Any] = {"gen_ai.usage.input_tokens": tokens}
    if operation:
        attributes["gen_ai.operation.name"] = operation
    return Span(
        TRACE, span_id * 16, parent * 16 if parent else None, span_id, 0, 10, False, "", attributes
    )


def joiner(clock: Clock) -> SpanJoiner:
    return SpanJoiner(("invoke_agent", "chat"), TierMap(), join_seconds=30, clock=clock)


def test_children_wait_through_a_plain_span_for_their_task_root() -> None:
    clock = Clock()
    spans = joiner(clock)
    assert spans.add([span("c", "w", "chat", 10), span("d", "w", "chat", 5)]).rows == []
    assert spans.add([span("w", "r", None)]).rows == []  # a workflow span, not a task
    assert spans.waiting == 2
    joined = spans.add([span("r", None, "invoke_agent", 1)])
    assert [row["estimated_tokens"] for row in joined.rows] == [16]
    assert sorted(key for _, key in joined.spans[0]) == ["c" * 16, "d" * 16, "r" * 16]
    assert spans.waiting == 0
    assert spans.add([span("c", "w", "chat", 10)]).rows == []  # sent again: already counted
    late = spans.add([span("e", "r", "chat", 7)])  # after its root's row: a row of its own
    assert [row["estimated_tokens"] for row in late.rows] == [7]


def test_a_root_that_never_comes_leaves_each_child_its_own_row() -> None:
    clock = Clock()
    spans = joiner(clock)
    spans.add([span("c", "x", "chat", 10), span("d", "y", "chat", 5)])
    clock.now += 29
    assert spans.expire().rows == []
    clock.now += 1
    assert sorted(row["estimated_tokens"] for row in spans.expire().rows) == [5, 10]
    clock.now += 31
    spans.expire()
    assert spans.waiting == 0 and not spans.waiting_spans()


def test_non_task_roots_make_each_task_child_a_row_at_once() -> None:
    spans = joiner(Clock())
    joined = spans.add(
        [span("h", None, None), span("c", "h", "chat", 3), span("d", "h", "chat", 4)]
    )
    assert sorted(row["estimated_tokens"] for row in joined.rows) == [3, 4]


def test_waiting_spans_round_trip_through_the_file_with_their_age(tmp_path: Path) -> None:
    clock = Clock()
    spans = joiner(clock)
    spans.add([span("c", "w", "chat", 10), span("w", "r", None)])
    clock.now += 20
    keeper = WaitingFile(tmp_path)
    keeper.save(spans.waiting_spans(), clock)
    later = Clock()
    later.now = 5.0  # a new process: another monotonic origin
    restored = joiner(later)
    assert restored.restore(keeper.load(later)).rows == []
    assert restored.waiting == 1
    later.now += 10  # 20 s waited before, 10 now: the 30 s are up
    assert [row["estimated_tokens"] for row in restored.expire().rows] == [10]
    keeper.save(restored.waiting_spans(), later)
    assert not keeper.path.exists()


def test_a_parent_cycle_from_a_bad_sender_does_not_hang() -> None:
    clock = Clock()
    spans = joiner(clock)
    assert spans.add([span("a", "b", "chat", 1), span("b", "a", "chat", 2)]).rows == []
    clock.now += 30
    assert sum(row["estimated_tokens"] for row in spans.expire().rows) == 3
