"""User feedback that arrives after an execution: accepted or rejected, and a 1-5 rating.

Feedback updates only the two feedback columns of a stored row (`user_accepted`,
`user_rating`); a value left as None is not changed, so sending the same feedback twice
is harmless. Every store validates it here, with the same messages.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any
from uuid import UUID

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from learning_store.models import rejection_reason, task_id_of, task_uuid
from learning_store.results import RejectedRecord


class Feedback(BaseModel):
    """One user's verdict on one execution; None leaves that column as it is."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    task_id: UUID
    accepted: bool | None = None
    rating: int | None = Field(default=None, ge=1, le=5)

    @field_validator("task_id", mode="before")
    @classmethod
    def _any_task_id(cls, value: Any) -> Any:
        """A string id that is not a UUID names the row stored under its uuid5 (`task_key`)."""
        return task_uuid(value) if isinstance(value, str) else value

    @model_validator(mode="after")
    def _says_something(self) -> Feedback:
        if self.accepted is None and self.rating is None:
            raise ValueError("give accepted (True/False), a rating (1-5), or both")
        return self

    def changes(self) -> dict[str, Any]:
        """The column values this feedback sets."""
        values: dict[str, Any] = {}
        if self.accepted is not None:
            values["user_accepted"] = self.accepted
        if self.rating is not None:
            values["user_rating"] = self.rating
        return values


def feedback_of(task_id: UUID | str, accepted: bool | None, rating: int | None) -> Feedback:
    """A validated `Feedback`; ValueError names the field and what it allows."""
    try:
        return Feedback(task_id=task_id, accepted=accepted, rating=rating)  # type: ignore[arg-type]
    except ValidationError as exc:
        raise ValueError(f"Invalid feedback: {rejection_reason(exc)}") from None


def validated(items: Iterable[Any]) -> tuple[list[Feedback], list[RejectedRecord]]:
    """Valid feedback, merged per task_id (later values win), and rejected items by index."""
    latest: dict[UUID, Feedback] = {}
    rejected = []
    for index, item in enumerate(items):
        try:
            feedback = item if isinstance(item, Feedback) else Feedback.model_validate(item)
        except ValidationError as exc:
            task_id = task_id_of(item) if isinstance(item, Mapping) else None
            rejected.append(RejectedRecord(index, task_id, rejection_reason(exc)))
            continue
        earlier = latest.get(feedback.task_id)
        if earlier is not None:
            feedback = earlier.model_copy(update=feedback.model_dump(exclude_none=True))
        latest[feedback.task_id] = feedback
    return list(latest.values()), rejected
