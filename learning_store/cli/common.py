"""Shared CLI plumbing: the --url option, consoles, and turning errors into one-line exits."""

from __future__ import annotations

import functools
import re
import sys
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Annotated, ParamSpec, TypeVar

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeElapsedColumn

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


MetricsPortOption = Annotated[
    int | None,
    typer.Option(
        min=1,
        max=65535,
        help="Also serve Prometheus /metrics on this port (needs the 'metrics' extra).",
        show_default=False,
    ),
]
ModelOption = Annotated[
    str | None,
    typer.Option(
        "--model",
        help="Embedding model name or folder; 'hashing' needs no ML stack "
        "(default: LEARNING_STORE_EMBEDDING_MODEL or all-MiniLM-L6-v2).",
        show_default=False,
    ),
]

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def parse_age(text: str) -> timedelta:
    """'90d', '12h', '30m', '2w' or '45s' as a timedelta; ValueError says the accepted form."""
    match = _DURATION.match(text)
    if not match:
        raise ValueError(
            f"Cannot read the age {text!r}: write a number and a unit, e.g. 90d, 12h, 2w"
        )
    return timedelta(**{_UNITS[match.group(2)]: float(match.group(1))})


def parse_moment(text: str | None, option: str) -> datetime | None:
    """An ISO date or date-time (UTC when no zone is given); ValueError names the option."""
    if text is None:
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(
            f"{option} {text!r} is not a date: use ISO form, e.g. 2026-11-01 or 2026-11-01T12:00"
        ) from None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment


def rows_progress() -> Progress:
    """A progress bar with rows done and rows/s (ingest, reembed, adopt)."""
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        TaskProgressColumn(),
        TextColumn("{task.fields[rows]:,} rows"),
        TextColumn("{task.fields[rate]:,.0f} rows/s"),
        TimeElapsedColumn(),
        console=console,
        transient=False,
    )


def settings(url: str | None, model: str | None = None) -> LearningConfig:
    """The configuration with command-line overrides applied."""
    overrides: dict[str, object] = {}
    if url:
        overrides["database_url"] = url
    if model:
        overrides["embedding_model"] = model
    return LearningConfig(**overrides)


def database_url(url: str | None) -> str:
    """The URL a command works on: --url, else the configured one."""
    return url or LearningConfig().database_url


def fail(message: str, code: int = 1) -> typer.Exit:
    """Print a one-line error and return the Exit to raise."""
    errors.print(f"[bold red]error:[/] {escape(message)}", highlight=False, soft_wrap=True)
    return typer.Exit(code)


def user_errors(command: Callable[P, R]) -> Callable[P, R]:
    """Report our errors and bad input as one line with exit code 1, never a traceback."""

    @functools.wraps(command)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return command(*args, **kwargs)
        except Exception as exc:
            if not _is_user_error(exc):
                raise
            raise fail(str(exc).replace("\n", " ")) from None

    return wrapper


def _is_user_error(error: Exception) -> bool:
    """Ours, bad input, a missing file, or Alembic refusing a revision (if it was loaded).

    Alembic is imported only by commands that migrate, so its error type is looked up
    only when it is there to raise one.
    """
    if isinstance(error, LearningStoreError | ValidationError | FileNotFoundError | ValueError):
        return True
    alembic_errors = sys.modules.get("alembic.util.exc")
    return alembic_errors is not None and isinstance(error, alembic_errors.CommandError)
