"""OTLP trace requests, as protobuf or JSON, read into plain spans.

The messages are opentelemetry-proto's; only the conversion to `Span` (ids as lowercase
hex, attribute values as Python values) is ours. JSON comes in two dialects: OTLP/JSON
(the OpenTelemetry file exporter's, and OTLP/HTTP's), whose trace and span ids are hex as
the OTLP spec requires, and protobuf's canonical JSON mapping, whose ids are base64. Both
are read: an id of the hex length is hex, any other is base64.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from google.protobuf import json_format
from google.protobuf.message import DecodeError
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Status

TRACE_ID_HEX = 32
SPAN_ID_HEX = 16
_ID_KEYS = {"traceId": TRACE_ID_HEX, "spanId": SPAN_ID_HEX, "parentSpanId": SPAN_ID_HEX}


class MalformedRequest(ValueError):
    """A request body that is not an ExportTraceServiceRequest (HTTP 400)."""


@dataclass(frozen=True)
class Span:
    """One span, with what the mapping to an execution reads."""

    trace_id: str
    span_id: str
    parent_span_id: str | None
    name: str
    start_ns: int
    end_ns: int
    error: bool
    status_message: str
    attributes: dict[str, Any]
    events: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    resource: dict[str, Any] = field(default_factory=dict)

    @property
    def key(self) -> tuple[str, str]:
        """(trace id, span id): unique across every span."""
        return self.trace_id, self.span_id

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready form (the receiver keeps waiting spans on disk)."""
        return {
            "trace_id": self.trace_id,
            "span_id": self.span_id,
            "parent_span_id": self.parent_span_id,
            "name": self.name,
            "start_ns": self.start_ns,
            "end_ns": self.end_ns,
            "error": self.error,
            "status_message": self.status_message,
            "attributes": self.attributes,
            "events": [[name, attributes] for name, attributes in self.events],
            "resource": self.resource,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Span:
        """The span `to_json` wrote."""
        return cls(
            **{**data, "events": [(name, attributes) for name, attributes in data["events"]]}
        )


def request_from_protobuf(body: bytes) -> ExportTraceServiceRequest:
    """A binary ExportTraceServiceRequest.

    Raises:
        MalformedRequest: the bytes are not one.
    """
    request = ExportTraceServiceRequest()
    try:
        request.ParseFromString(body)
    except (DecodeError, ValueError) as error:
        raise MalformedRequest(f"not an OTLP protobuf trace request: {error}") from None
    return request


def request_from_json(body: bytes | str) -> ExportTraceServiceRequest:
    """An ExportTraceServiceRequest as OTLP/JSON (hex ids) or protobuf JSON (base64 ids).

    Raises:
        MalformedRequest: the text is not one.
    """
    try:
        document = json.loads(body)
    except (ValueError, UnicodeDecodeError) as error:
        raise MalformedRequest(f"not JSON: {error}") from None
    if not isinstance(document, dict):
        raise MalformedRequest("an OTLP JSON trace request is a JSON object")
    try:
        _ids_as_base64(document)
        return json_format.ParseDict(document, ExportTraceServiceRequest())
    except (json_format.ParseError, ValueError, TypeError) as error:
        raise MalformedRequest(f"not an OTLP JSON trace request: {error}") from None


def _ids_as_base64(node: Any) -> None:
    """Turn hex trace and span ids into the base64 protobuf's JSON mapping reads (in place)."""
    if isinstance(node, dict):
        for key, value in node.items():
            width = _ID_KEYS.get(key)
            if width is not None and isinstance(value, str) and len(value) == width:
                try:
                    node[key] = base64.b64encode(bytes.fromhex(value)).decode()
                except ValueError:
                    raise ValueError(f"{key}: {value!r} is not hex") from None
            else:
                _ids_as_base64(value)
    elif isinstance(node, list):
        for item in node:
            _ids_as_base64(item)


def spans_of(request: ExportTraceServiceRequest) -> Iterator[Span]:
    """Every span of a request, with its resource's attributes."""
    for resource_spans in request.resource_spans:
        resource = attributes_of(resource_spans.resource.attributes)
        for scope_spans in resource_spans.scope_spans:
            for span in scope_spans.spans:
                yield Span(
                    trace_id=_hex(span.trace_id, TRACE_ID_HEX),
                    span_id=_hex(span.span_id, SPAN_ID_HEX),
                    parent_span_id=_hex(span.parent_span_id, SPAN_ID_HEX) or None,
                    name=span.name,
                    start_ns=span.start_time_unix_nano,
                    end_ns=span.end_time_unix_nano,
                    error=span.status.code == Status.STATUS_CODE_ERROR,
                    status_message=span.status.message,
                    attributes=attributes_of(span.attributes),
                    events=[(event.name, attributes_of(event.attributes)) for event in span.events],
                    resource=resource,
                )


def count_spans(request: ExportTraceServiceRequest) -> int:
    """How many spans a request holds."""
    return sum(
        len(scope.spans) for resource in request.resource_spans for scope in resource.scope_spans
    )


def _hex(raw: bytes, width: int) -> str:
    if not raw:
        return ""
    if len(raw) * 2 != width:
        raise MalformedRequest(f"an id of {len(raw)} bytes (want {width // 2})")
    return binascii.hexlify(raw).decode()


def attributes_of(pairs: Any) -> dict[str, Any]:
    """OTLP key-value pairs as a dict of Python values."""
    return {pair.key: value_of(pair.value) for pair in pairs if isinstance(pair, KeyValue)}


def value_of(value: AnyValue) -> Any:
    """One OTLP AnyValue as a Python value (lists and dicts for arrays and key-value lists)."""
    kind = value.WhichOneof("value")
    if kind is None:
        return None
    if kind == "array_value":
        return [value_of(item) for item in value.array_value.values]
    if kind == "kvlist_value":
        return attributes_of(value.kvlist_value.values)
    if kind == "bytes_value":
        return base64.b64encode(value.bytes_value).decode()
    return getattr(value, kind)
