"""Shared CLI plumbing: the --url option, consoles, and turning errors into one-line exits."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Annotated, ParamSpec, TypeVar

import typer
from alembic.util.exc import CommandError
from pydantic import ValidationError
from rich.console import Console

from learning_store.config import LearningConfig
from learning_store.errors import LearningStoreError

console = Console()
errors = Console(stderr=True)

P = ParamSpec("P")
R = TypeVar("R")

UrlOption = Annotated[
    str | None,
    typer.Option(
        "--url",
        help="Database URL (default: LEARNING_STORE_DATABASE_URL or duckdb:///data/learning.db).",
        show_default=False,
    ),
]


def database_url(url: str | None) -> str:
    """The URL a command works on: --url, else the configured one."""
    return url or LearningConfig().database_url


def fail(message: str, code: int = 1) -> typer.Exit:
    """Print a one-line error and return the Exit to raise."""
    errors.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    return typer.Exit(code)


def user_errors(command: Callable[P, R]) -> Callable[P, R]:
    """Report our errors and bad input as one line with exit code 1, never a traceback."""

    @functools.wraps(command)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return command(*args, **kwargs)
        except (
            LearningStoreError,
            CommandError,
            ValidationError,
            FileNotFoundError,
            ValueError,
        ) as exc:
            raise fail(str(exc).replace("\n", " ")) from None

    return wrapper
