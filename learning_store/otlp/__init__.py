"""OpenTelemetry in: GenAI spans (OTLP/HTTP or the file exporter's JSON) become executions.

`spans` reads OTLP requests, `mapping` turns a task span into a row, `joiner` groups
spans under their topmost task, `receiver` stores rows safely, `http` and `serve` are the
`learning-store otlp` server, `files` the `ingest --format otlp-json` reader. Only this
module is light: the others need the 'otlp' extra (opentelemetry-proto, uvicorn).
"""

DEFAULT_TASK_OPERATIONS = (
    "invoke_agent",
    "chat",
    "text_completion",
    "generate_content",
    "execute_tool",
)
"""`gen_ai.operation.name` values whose spans are tasks unless told otherwise."""
