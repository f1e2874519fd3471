"""Feedback that arrived before its record reached the store, held until it does."""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Iterable
from uuid import UUID

from learning_store.feedback import Feedback

log = logging.getLogger("learning_store.telemetry")


class WaitingFeedback:
    """Feedback per task_id, merged (later values win), at most `limit` tasks (oldest go)."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._items: OrderedDict[UUID, Feedback] = OrderedDict()

    def __len__(self) -> int:
        return len(self._items)

    def task_ids(self) -> list[UUID]:
        """The tasks whose feedback is waiting, oldest first."""
        return list(self._items)

    def hold(self, feedback: Feedback) -> None:
        """Keep feedback, merged with any already waiting for the same task."""
        earlier = self._items.pop(feedback.task_id, None)
        if earlier is not None:
            feedback = earlier.model_copy(update=feedback.model_dump(exclude_none=True))
        self._items[feedback.task_id] = feedback
        while len(self._items) > self.limit:
            task_id, _ = self._items.popitem(last=False)
            log.warning("feedback for task %s dropped: its record never arrived", task_id)

    def take(self, task_ids: Iterable[UUID]) -> list[Feedback]:
        """Remove and return the feedback waiting for these tasks."""
        return [self._items.pop(key) for key in task_ids if key in self._items]

    def take_one(self, task_id: UUID) -> Feedback | None:
        """Remove and return the feedback waiting for one task, if any."""
        return self._items.pop(task_id, None)
