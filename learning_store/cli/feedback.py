"""`learning-store feedback`: record a user's verdict on an execution after the fact."""

from __future__ import annotations

from typing import Annotated

import typer

from learning_store.cli.common import UrlOption, console, fail, settings, user_errors


@user_errors
def feedback(
    task_id: Annotated[str, typer.Argument(help="The execution's task_id.")],
    accepted: Annotated[
        bool | None,
        typer.Option("--accepted/--rejected", help="Whether the user accepted the result."),
    ] = None,
    rating: Annotated[int | None, typer.Option(help="The user's rating, 1 to 5.")] = None,
    url: UrlOption = None,
) -> None:
    """Set the user feedback (accepted or rejected, and a 1-5 rating) of a stored execution.

    Only the two feedback columns change; sending the same feedback again changes nothing.
    Example: learning-store feedback 5f0c...e1 --accepted --rating 4
    """
    from learning_store.bootstrap import build_repository

    with build_repository(None, settings(url)) as repository:
        found = repository.record_feedback(task_id, accepted=accepted, rating=rating)
    if not found:
        raise fail(f"No execution with task_id {task_id} is stored; nothing was changed.")
    said = [] if accepted is None else ["accepted" if accepted else "rejected"]
    said += [] if rating is None else [f"rated {rating}"]
    console.print(f"feedback recorded for {task_id}: {', '.join(said)}", highlight=False)
