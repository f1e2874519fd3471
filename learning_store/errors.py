"""Exceptions raised by learning_store; every one derives from `LearningStoreError`."""

from __future__ import annotations


class LearningStoreError(RuntimeError):
    """Base class: catch this to handle any failure of the store itself.

    It derives from `RuntimeError` because the system learning_store replaces documented
    `RuntimeError` for its failures, and code written for it catches that.
    """


class ConfigurationError(LearningStoreError, ValueError):
    """A setting has a value outside what it allows; the message names the variable."""


class StorageError(LearningStoreError):
    """The database failed while reading or writing (not a problem with one record)."""


class DatabaseUnavailableError(StorageError):
    """The database server cannot be reached."""


class DatabaseLockedError(StorageError):
    """A DuckDB file is held by another process (DuckDB allows one writer process)."""


class SchemaError(LearningStoreError):
    """The database schema is not one this version of learning_store can use."""


class SchemaOutOfDateError(SchemaError):
    """The database is at an older migration; the message gives the upgrade command."""


class UnknownSchemaRevisionError(SchemaError):
    """The database is at a migration this version of learning_store does not know."""


class EmbeddingsUnavailableError(LearningStoreError):
    """Semantic search was asked for but embeddings are disabled or cannot be loaded."""


class EmbeddingModelMismatchError(EmbeddingsUnavailableError):
    """The stored vectors were made by another model (or a re-embed is under way)."""


class TelemetryClosedError(LearningStoreError):
    """A record arrived after `RoutingTelemetry.shutdown()`."""


class InitializationError(LearningStoreError):
    """`LearningDatabase.initialize()` failed for a reason that is not already ours."""


class NotInitializedError(LearningStoreError):
    """A `LearningDatabase` was used before `await initialize()` or after `close()`."""
