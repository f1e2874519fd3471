"""`LearningConfig`: every setting, read from `LEARNING_STORE_*` variables or a `.env` file."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import annotated_types
from pydantic import Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from learning_store.errors import ConfigurationError
from learning_store.urls import backend_name, redact

ENV_PREFIX = "LEARNING_STORE_"
DEFAULT_DATABASE_URL = "duckdb:///data/learning.db"


_MEMORY_SIZE = re.compile(r"[0-9]+(\.[0-9]+)? ?(B|KB|MB|GB|TB|KiB|MiB|GiB|TiB)")


class LearningConfig(BaseSettings):
    """Settings for the store, the service, embeddings and telemetry.

    Every field can be set as `LEARNING_STORE_<FIELD>` in the environment or a `.env` file;
    keyword arguments win over both. An invalid value raises `ConfigurationError` naming the
    variable and the values it allows.
    """

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX, env_file=".env", extra="ignore", validate_default=True
    )

    database_url: str = Field(
        default=DEFAULT_DATABASE_URL,
        repr=False,  # may hold a password; `redacted_url` is safe to show
        description="Where executions live: duckdb:///file.db, postgresql+psycopg://..., memory://",
    )
    batch_size: int = Field(
        default=100, ge=1, le=1000, description="Rows per write transaction in batch inserts"
    )
    flush_interval_seconds: float = Field(
        default=5.0, gt=0, le=3600, description="Telemetry flushes at least this often"
    )
    embeddings_enabled: bool = Field(
        default=True, description="Compute embeddings for semantic search"
    )
    embedding_model: str = Field(
        default="all-MiniLM-L6-v2",
        min_length=1,
        description="Model name or local path; 'hashing' for the dependency-free embedder",
    )
    embedding_batch_size: int = Field(
        default=64, ge=1, le=4096, description="Texts per model encode call"
    )
    embedding_cache_size: int = Field(
        default=10_000, ge=0, le=10_000_000, description="Texts kept in the LRU vector cache"
    )
    retention_days: int = Field(
        default=90, ge=1, le=36_500, description="Default age at which prune deletes rows"
    )

    duckdb_memory_limit: str | None = Field(
        default=None,
        description="Cap on DuckDB's memory, its cache included (e.g. 1GB); unset: 80% of RAM",
    )
    ann_min_rows: int = Field(
        default=20_000,
        ge=1,
        le=1_000_000_000,
        description="DuckDB: rows from which similarity search uses an ANN index (exact below)",
    )
    ann_probes: int = Field(
        default=8,
        ge=1,
        le=65_536,
        description="DuckDB: ANN lists scanned per search; more finds more of the true best",
    )
    pgvector_ef_search: int = Field(
        default=200,
        ge=1,
        le=1000,
        description="PostgreSQL + pgvector: HNSW candidates per search; more is slower, surer",
    )
    pool_size: int = Field(
        default=5, ge=1, le=1000, description="PostgreSQL connections kept open per process"
    )
    pool_timeout_seconds: float = Field(
        default=30.0, gt=0, le=3600, description="Wait this long for a free pooled connection"
    )
    connect_timeout_seconds: int = Field(
        default=10, ge=1, le=600, description="Give up connecting to PostgreSQL after this long"
    )
    telemetry_max_pending: int = Field(
        default=10_000, ge=1, le=10_000_000, description="Records held in memory at most"
    )
    telemetry_enqueue_timeout_seconds: float = Field(
        default=1.0, ge=0, le=600, description="How long record() waits for room before dropping"
    )
    telemetry_max_retries: int = Field(
        default=5, ge=0, le=1000, description="Failed flushes in a row before spooling to disk"
    )
    telemetry_retry_backoff_seconds: float = Field(
        default=0.5, ge=0, le=600, description="First retry delay; doubles per failure, max 60 s"
    )
    telemetry_spool_dir: Path = Field(
        default=Path("data/telemetry-spool"),
        description="Where records go when the database stays down (JSON lines, fsynced)",
    )
    telemetry_shutdown_timeout_seconds: float = Field(
        default=30.0, gt=0, le=3600, description="shutdown() returns within this, spooling the rest"
    )
    telemetry_pending_ttl_seconds: float = Field(
        default=600.0,
        gt=0,
        le=86_400,
        description="A decision or outcome waits this long for its pair",
    )

    @property
    def redacted_url(self) -> str:
        """`database_url` with any password replaced by ***."""
        return redact(self.database_url)

    def __init__(self, **values: Any) -> None:
        try:
            super().__init__(**values)
        except ValidationError as exc:
            raise ConfigurationError(describe_validation_error(exc, type(self))) from None

    @field_validator("duckdb_memory_limit")
    @classmethod
    def _memory_size(cls, size: str | None) -> str | None:
        if size is not None and not _MEMORY_SIZE.fullmatch(size):
            raise ValueError("use a size such as 512MB or 2GB (units: B, KB, MB, GB, TB, KiB...)")
        return size

    @field_validator("database_url")
    @classmethod
    def _known_backend(cls, url: str) -> str:
        backend_name(url)  # raises ConfigurationError (a ValueError) with the accepted forms
        return url


def describe_validation_error(exc: ValidationError, settings: type[BaseSettings]) -> str:
    """Turn a settings validation error into one line per bad variable, with allowed values."""
    lines = []
    for error in exc.errors():
        field = str(error["loc"][0]) if error["loc"] else "?"
        variable = f"{ENV_PREFIX}{field.upper()}"
        allowed = _allowed_range(settings, field)
        got = error.get("input")
        if field == "database_url" and isinstance(got, str):
            got = redact(got)
        message = error["msg"].removeprefix("Value error, ")
        line = f"{variable} (field {field!r}) = {got!r} is invalid: {message}"
        lines.append(f"{line}; allowed: {allowed}" if allowed else line)
    return "Invalid learning_store configuration:\n  " + "\n  ".join(lines)


def _allowed_range(settings: type[BaseSettings], field: str) -> str:
    """Describe a field's numeric bounds from its Field constraints, e.g. '1 to 1000'."""
    info = settings.model_fields.get(field)
    if info is None:
        return ""
    low: object = None
    high: object = None
    low_text = high_text = ""
    for item in info.metadata:
        if isinstance(item, annotated_types.Ge):
            low, low_text = item.ge, f"at least {item.ge}"
        elif isinstance(item, annotated_types.Gt):
            low, low_text = item.gt, f"greater than {item.gt}"
        elif isinstance(item, annotated_types.Le):
            high, high_text = item.le, f"at most {item.le}"
        elif isinstance(item, annotated_types.Lt):
            high, high_text = item.lt, f"less than {item.lt}"
    if low is not None and high is not None:
        return f"{low_text} and {high_text}"
    return low_text or high_text
