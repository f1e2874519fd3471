"""The DuckDB store's vector index: an ANN index (faiss IVF-SQ8) plus exact search of new rows.

`rows` keeps each row's id and filter columns, `pending` the vectors not yet indexed,
`clusters` the ANN index, `index` combines them into candidates, and `files` saves them
next to the database. Nothing here reads the database: the repository does that.
"""
