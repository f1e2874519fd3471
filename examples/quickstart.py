"""Store a batch of executions in the embedded DuckDB default and read them back."""

from __future__ import annotations

from uuid import uuid4

from learning_store import ExecutionRecord, create_repository


def main() -> None:
    """Write 100 executions (twice, to show idempotency) and print what is stored."""
    executions = [
        ExecutionRecord(
            task_id=uuid4(),
            task_type="refactor",
            task_description=f"Optimize query {i}",
            repo="mahavishnu",
            file_count=1,
            estimated_tokens=1000,
            model_tier="medium",
            pool_type="mahavishnu",
            routing_confidence=0.85,
            complexity_score=65,
            success=True,
            duration_seconds=45.2,
            cost_estimate=0.003,
            actual_cost=0.0032,
        )
        for i in range(100)
    ]
    with create_repository() as store:  # duckdb:///data/learning.db unless configured
        first = store.add_many(executions)
        again = store.add_many(executions)
        print(f"stored {first.stored}, then {again.stored} new and {again.duplicates} duplicates")
        print(f"{store.count(repo='mahavishnu')} executions for mahavishnu in {store.url}")


if __name__ == "__main__":
    main()
