"""`learning-store mcp`: the store as Model Context Protocol tools, for agents.

An interface beside the CLI: `tools` builds the server over one `LearningDatabase`
(search, advice, analytics, recording, feedback), `schemas` types every result so the
tools return structured content with a JSON schema, and `serve` runs it over stdio or
HTTP (a bearer token guards any bind beyond the loopback).
"""
