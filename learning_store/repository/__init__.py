"""Execution stores: one protocol, SQL stores for DuckDB and PostgreSQL, an in-memory fake."""

from learning_store.repository.base import ExecutionFilter, ExecutionRepository, RecordInput
from learning_store.repository.factory import create_repository
from learning_store.repository.memory import InMemoryExecutionRepository
from learning_store.repository.sql import SqlExecutionRepository

__all__ = [
    "ExecutionFilter",
    "ExecutionRepository",
    "InMemoryExecutionRepository",
    "RecordInput",
    "SqlExecutionRepository",
    "create_repository",
]
