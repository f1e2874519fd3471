"""`learning-store index`: build the similarity-search index ahead of the first search."""

from __future__ import annotations

import time

import typer

from learning_store.cli.common import UrlOption, console, settings, user_errors

app = typer.Typer(help="The similarity-search index (DuckDB's own, or pgvector's).")


@app.command()
@user_errors
def build(url: UrlOption = None) -> None:
    """Index every stored vector now and save the index (stores keep it on their own).

    DuckDB: the index is rebuilt from every stored vector, trusting neither its saved copy
    (run it when `db check` reports a stale index, after plain-SQL changes) and saved next
    to the database file, so the next process loads it in a second.
    PostgreSQL: pgvector and its HNSW index are installed if the server offers the
    extension and the role may create it.
    Example: learning-store index build --url duckdb:///data/learning.db
    """
    from learning_store.repository import create_repository
    from learning_store.repository.base import KeepsVectorIndex

    config = settings(url)
    store = create_repository(config.database_url, config=config)
    try:
        if not isinstance(store, KeepsVectorIndex):
            raise ValueError(f"{config.database_url}: this store keeps no index (it is exact)")
        started = time.perf_counter()
        status = store.build_vector_index(rebuild=True)
        seconds = time.perf_counter() - started
        if status is None:
            has_index = store.has_vector_index()
            state = "ready" if has_index else "not available on this server (searches stream)"
            console.print(f"pgvector HNSW index: {state} ({seconds:.1f} s)", highlight=False)
            return
        console.print(
            f"indexed {status.ann_rows:,} of {status.rows:,} vectors in {status.lists:,} lists"
            f" in {seconds:.1f} s; saved: {'yes' if status.saved else 'no'}",
            highlight=False,
        )
    finally:
        store.close()
