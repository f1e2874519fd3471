"""learning_store: record and learn from every task execution of an LLM orchestrator.

Importing the package is cheap: no model is loaded and torch is never imported here.
"""

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
from learning_store.models import (
    EMBEDDING_DIMENSION,
    BatchResult,
    ErrorType,
    ExecutionRecord,
    FeedbackResult,
    PoolPerformance,
    RejectedRecord,
    SimilarExecution,
    SolutionPattern,
    StoreStats,
    TierPerformance,
)
from learning_store.repository import (
    ExecutionRepository,
    InMemoryExecutionRepository,
    SqlExecutionRepository,
    create_repository,
)
from learning_store.service import LearningDatabase
from learning_store.telemetry import MessageBus, RoutingTelemetry, TelemetryCapture, TelemetryStats

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
