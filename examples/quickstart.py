"""Store executions in the embedded DuckDB default, then ask what similar tasks did before."""

from __future__ import annotations

import asyncio
from uuid import uuid4

from learning_store import ExecutionRecord, LearningDatabase

PAST_TASKS = [
    ("Add an index to the slow orders query", "composite index on (customer_id, created_at)"),
    ("Fix the N+1 queries in the invoice report", "prefetch line items in one join"),
    ("Make the settings page responsive on phones", "CSS grid with a mobile breakpoint"),
    ("Write unit tests for the tax calculator", "parametrised pytest cases per region"),
    ("Upgrade Django to 5.0", "fixed deprecated url() calls"),
]


async def main() -> None:
    """Store a batch (twice: the second run stores nothing new) and run a semantic search."""
    async with LearningDatabase(database_path="data/learning.db") as db:
        executions = [
            ExecutionRecord(
                task_id=uuid4(),
                task_type="refactor",
                task_description=description,
                repo="mahavishnu",
                model_tier="medium",
                pool_type="mahavishnu",
                routing_confidence=0.85,
                success=True,
                duration_seconds=45.2,
                cost_estimate=0.003,
                solution_summary=solution,
            )
            for description, solution in PAST_TASKS
        ]
        stored = await db.store_executions_batch(executions)
        again = await db.store_batch(executions)
        print(f"stored {stored}; storing the same batch again: {again.duplicates} duplicates")

        query = "database query is too slow"
        print(f"\nPast executions similar to {query!r}:")
        for match in await db.find_similar_executions(query, limit=3, threshold=0.2):
            summary = match["solution_summary"]
            print(f"  {match['similarity']:.2f}  {match['task_description']}  ->  {summary}")


if __name__ == "__main__":
    asyncio.run(main())
