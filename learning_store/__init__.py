"""learning_store: record and learn from every task execution of an LLM orchestrator.

Importing the package is cheap: each public name is imported on first use (PEP 562), so
a CLI command pays only for what it runs, no model is loaded and torch is never imported.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from learning_store.api import LearningDatabase
    from learning_store.config import LearningConfig
    from learning_store.embeddings import (
        CachingEmbedder,
        Embedder,
        HashingEmbedder,
        SentenceTransformerEmbedder,
    )
    from learning_store.errors import (
        ConfigurationError,
        DatabaseLockedError,
        DatabaseUnavailableError,
        EmbeddingsUnavailableError,
        InitializationError,
        LearningStoreError,
        NotInitializedError,
        SchemaError,
        SchemaOutOfDateError,
        StorageError,
        TelemetryClosedError,
        UnknownSchemaRevisionError,
    )
    from learning_store.feedback import Feedback
    from learning_store.models import EMBEDDING_DIMENSION, ErrorType, ExecutionRecord
    from learning_store.repository import (
        ExecutionRepository,
        InMemoryExecutionRepository,
        SqlExecutionRepository,
        create_repository,
    )
    from learning_store.results import (
        BatchResult,
        FeedbackResult,
        PoolPerformance,
        RejectedRecord,
        SimilarExecution,
        SolutionPattern,
        StoreStats,
        TierPerformance,
    )
    from learning_store.telemetry import (
        MessageBus,
        RoutingTelemetry,
        TelemetryCapture,
        TelemetryStats,
    )

_HOMES = {
    "BatchResult": "learning_store.results",
    "CachingEmbedder": "learning_store.embeddings",
    "ConfigurationError": "learning_store.errors",
    "DatabaseLockedError": "learning_store.errors",
    "DatabaseUnavailableError": "learning_store.errors",
    "EMBEDDING_DIMENSION": "learning_store.models",
    "Embedder": "learning_store.embeddings",
    "EmbeddingsUnavailableError": "learning_store.errors",
    "ErrorType": "learning_store.models",
    "ExecutionRecord": "learning_store.models",
    "ExecutionRepository": "learning_store.repository",
    "Feedback": "learning_store.feedback",
    "FeedbackResult": "learning_store.results",
    "HashingEmbedder": "learning_store.embeddings",
    "InMemoryExecutionRepository": "learning_store.repository",
    "InitializationError": "learning_store.errors",
    "LearningConfig": "learning_store.config",
    "LearningDatabase": "learning_store.api",
    "LearningStoreError": "learning_store.errors",
    "MessageBus": "learning_store.telemetry",
    "NotInitializedError": "learning_store.errors",
    "PoolPerformance": "learning_store.results",
    "RejectedRecord": "learning_store.results",
    "RoutingTelemetry": "learning_store.telemetry",
    "SchemaError": "learning_store.errors",
    "SchemaOutOfDateError": "learning_store.errors",
    "SentenceTransformerEmbedder": "learning_store.embeddings",
    "SimilarExecution": "learning_store.results",
    "SolutionPattern": "learning_store.results",
    "SqlExecutionRepository": "learning_store.repository",
    "StorageError": "learning_store.errors",
    "StoreStats": "learning_store.results",
    "TelemetryCapture": "learning_store.telemetry",
    "TelemetryClosedError": "learning_store.errors",
    "TelemetryStats": "learning_store.telemetry",
    "TierPerformance": "learning_store.results",
    "UnknownSchemaRevisionError": "learning_store.errors",
    "create_repository": "learning_store.repository",
}
"""Where each public name lives; imported when first asked for."""


def __getattr__(name: str) -> Any:
    """Import a public name from its home on first use, then keep it here."""
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'learning_store' has no attribute {name!r}")
    value = getattr(importlib.import_module(home), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_HOMES])


__all__ = [
    "EMBEDDING_DIMENSION",
    "BatchResult",
    "CachingEmbedder",
    "ConfigurationError",
    "DatabaseLockedError",
    "DatabaseUnavailableError",
    "Embedder",
    "EmbeddingsUnavailableError",
    "ErrorType",
    "ExecutionRecord",
    "ExecutionRepository",
    "Feedback",
    "FeedbackResult",
    "HashingEmbedder",
    "InMemoryExecutionRepository",
    "InitializationError",
    "LearningConfig",
    "LearningDatabase",
    "LearningStoreError",
    "MessageBus",
    "NotInitializedError",
    "PoolPerformance",
    "RejectedRecord",
    "RoutingTelemetry",
    "SchemaError",
    "SchemaOutOfDateError",
    "SentenceTransformerEmbedder",
    "SimilarExecution",
    "SolutionPattern",
    "SqlExecutionRepository",
    "StorageError",
    "StoreStats",
    "TelemetryCapture",
    "TelemetryClosedError",
    "TelemetryStats",
    "TierPerformance",
    "UnknownSchemaRevisionError",
    "create_repository",
]
__version__ = "0.1.0"
