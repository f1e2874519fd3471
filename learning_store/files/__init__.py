"""Getting executions in and out of a store as files: ingest, export and the Parquet archive."""
