"""OTLP/HTTP for traces: `POST /v1/traces` as the OTLP specification words it.

A plain ASGI application (served by uvicorn): protobuf or JSON bodies, gzip or not; 200
with an `ExportTraceServiceResponse` (in the request's encoding) once the rows are safe,
`partial_success` naming spans whose rows were rejected; 400 with a `google.rpc.Status`
for a malformed body, 415 for another content type, 404/405 elsewhere, 503 (retryable)
when neither the database nor the spool took the rows.
"""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import io
import logging
import zlib
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from google.protobuf import json_format
from google.rpc.status_pb2 import Status
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse

from learning_store.otlp.receiver import Receipt, TraceReceiver
from learning_store.otlp.spans import MalformedRequest, request_from_json, request_from_protobuf

log = logging.getLogger(__name__)

TRACES_PATH = "/v1/traces"
PROTOBUF = "application/x-protobuf"
JSON = "application/json"
MAX_BODY_BYTES = 64 << 20
"""A larger request is refused (413): OTLP exporters send batches of a few MB at most."""
INVALID_ARGUMENT = 3
UNAVAILABLE = 14
"""google.rpc.Code values of the Status in an error body."""

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]


class TracesApp:
    """The ASGI application; its lifespan starts the receiver and its expiry loop."""

    def __init__(self, receiver: TraceReceiver, expiry_interval: float = 1.0) -> None:
        self.receiver = receiver
        self.expiry_interval = expiry_interval
        self._expiry: asyncio.Task[None] | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve one ASGI connection: the lifespan, or an HTTP request."""
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
        elif scope["type"] == "http":
            await self._http(scope, receive, send)

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                try:
                    await self.receiver.start()
                except Exception as error:  # the store cannot open: say why and do not serve
                    await send({"type": "lifespan.startup.failed", "message": str(error)})
                    return
                self._expiry = asyncio.create_task(self._expire_forever())
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                if self._expiry is not None:
                    self._expiry.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await self._expiry
                await self.receiver.close()
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def _expire_forever(self) -> None:
        while True:
            await asyncio.sleep(self.expiry_interval)
            try:
                await self.receiver.expire()
            except Exception:  # a failing store must not stop the loop; the spans stay waiting
                log.exception("storing the rows of expired waits failed; retrying")

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["path"] != TRACES_PATH:
            await _respond(send, 404, JSON, b'{"message": "only POST /v1/traces is served"}')
            return
        if scope["method"] != "POST":
            await _respond(send, 405, JSON, b'{"message": "use POST"}')
            return
        headers = {
            key.decode("latin-1").lower(): value.decode("latin-1")
            for key, value in scope["headers"]
        }
        content_type = headers.get("content-type", "").split(";")[0].strip().lower()
        if content_type not in (PROTOBUF, JSON):
            message = f"content type {content_type or 'missing'}: send {PROTOBUF} or {JSON}"
            await _respond(send, 415, JSON, _status_body(JSON, INVALID_ARGUMENT, message))
            return
        try:
            body = await _body(receive, headers.get("content-encoding", "").strip().lower())
            request = (
                request_from_protobuf(body) if content_type == PROTOBUF else request_from_json(body)
            )
        except _TooLarge:
            message = f"the body is over {MAX_BODY_BYTES} bytes: send smaller batches"
            await _respond(
                send, 413, content_type, _status_body(content_type, INVALID_ARGUMENT, message)
            )
            return
        except MalformedRequest as error:
            await _respond(
                send, 400, content_type, _status_body(content_type, INVALID_ARGUMENT, str(error))
            )
            return
        try:
            receipt = await self.receiver.receive(request)
        except Exception as error:  # neither stored nor spooled: the sender must retry
            log.exception("could not store or spool a trace request")
            body = _status_body(content_type, UNAVAILABLE, f"could not store the spans: {error}")
            await _respond(send, 503, content_type, body)
            return
        await _respond(send, 200, content_type, _response_body(content_type, receipt))


class _TooLarge(Exception):
    pass


async def _body(receive: Receive, encoding: str) -> bytes:
    """The whole request body, gunzipped when `Content-Encoding: gzip`."""
    chunks, size = [], 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise MalformedRequest("the client went away before sending the whole body")
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise _TooLarge
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    body = b"".join(chunks)
    if encoding in ("", "identity"):
        return body
    if encoding != "gzip":
        raise MalformedRequest(f"content encoding {encoding}: send gzip or none")
    try:
        with gzip.GzipFile(fileobj=io.BytesIO(body)) as unpacked:
            inflated = unpacked.read(MAX_BODY_BYTES + 1)
    except (OSError, EOFError, zlib.error) as error:
        raise MalformedRequest(f"not gzip: {error}") from None
    if len(inflated) > MAX_BODY_BYTES:
        raise _TooLarge
    return inflated


def _response_body(content_type: str, receipt: Receipt) -> bytes:
    response = ExportTraceServiceResponse()
    if receipt.rejected_spans:
        response.partial_success.rejected_spans = receipt.rejected_spans
        response.partial_success.error_message = receipt.message
    if content_type == PROTOBUF:
        return response.SerializeToString()
    return json_format.MessageToJson(response, indent=None).encode()


def _status_body(content_type: str, code: int, message: str) -> bytes:
    status = Status(code=code, message=message)
    if content_type == PROTOBUF:
        return status.SerializeToString()
    return json_format.MessageToJson(status, indent=None).encode()


async def _respond(send: Send, code: int, content_type: str, body: bytes) -> None:
    headers = [
        (b"content-type", content_type.encode()),
        (b"content-length", str(len(body)).encode()),
    ]
    await send({"type": "http.response.start", "status": code, "headers": headers})
    await send({"type": "http.response.body", "body": body})
