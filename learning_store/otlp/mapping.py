"""OpenTelemetry GenAI spans as executions: which spans are tasks, and their fields.

A span whose `gen_ai.operation.name` is one of the task operations is a task. A task
span under another task span (a chat call inside an agent's run) is not a row of its own:
its tokens and cost are added to its topmost task ancestor's row. The README's "From
OpenTelemetry" table documents every field; `row_of` is that table.
"""

from __future__ import annotations

import fnmatch
import json
import tomllib
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from uuid import uuid5

from learning_store.models import LEARNING_STORE_NAMESPACE
from learning_store.otlp.spans import Span

DEFAULT_ROUTING_CONFIDENCE = 1.0
"""A span records no routing decision: its tier is taken as chosen for certain."""
DEFAULT_COMPLEXITY = 50.0
"""The record's own default: nothing says how hard the task was."""
UNKNOWN = "unknown"
"""The label of a required field that no attribute gives (no model, no provider)."""
_EVALUATION = "gen_ai.evaluation.result"
METADATA_ATTRIBUTES = (
    "gen_ai.request.model",
    "gen_ai.response.model",
    "gen_ai.agent.name",
    "gen_ai.agent.id",
    "gen_ai.conversation.id",
    "gen_ai.response.finish_reasons",
)
"""Span attributes kept in the execution's metadata under their own names."""


@dataclass(frozen=True)
class ModelRule:
    """A model name or glob, the tier it maps to, and prices per 1,000 tokens if known."""

    pattern: str
    tier: str
    input_per_1k: float | None = None
    output_per_1k: float | None = None


@dataclass(frozen=True)
class TierMap:
    """`--tier-map FILE`: model names (or globs) to tiers and prices; exact names win."""

    rules: Sequence[ModelRule] = ()

    @classmethod
    def load(cls, path: Path) -> TierMap:
        """Read a TOML file with a `[models]` table of names or globs to tiers.

        An entry is `"name" = "tier"` or
        `"glob*" = { tier = "large", input_per_1k = 0.0025, output_per_1k = 0.01 }`.

        Raises:
            ValueError: the file is not such a table (the message names the entry).
        """
        try:
            document = tomllib.loads(path.read_text(encoding="utf-8"))
        except (OSError, tomllib.TOMLDecodeError) as error:
            raise ValueError(f"--tier-map {path}: {error}") from None
        models = document.get("models")
        if not isinstance(models, dict):
            raise ValueError(f'--tier-map {path}: give a [models] table, e.g. "gpt-4o" = "large"')
        rules = []
        for pattern, value in models.items():
            if isinstance(value, str):
                rules.append(ModelRule(pattern, value))
            elif isinstance(value, dict) and isinstance(value.get("tier"), str):
                prices = [value.get(name) for name in ("input_per_1k", "output_per_1k")]
                if not all(price is None or isinstance(price, int | float) for price in prices):
                    raise ValueError(f"--tier-map {path}: {pattern}: prices must be numbers")
                rules.append(ModelRule(pattern, value["tier"], *prices))
            else:
                raise ValueError(f"--tier-map {path}: {pattern}: give a tier or {{ tier = ... }}")
        return cls(rules)

    def rule_for(self, model: str) -> ModelRule | None:
        """The rule of this model name: its exact entry, else the first glob that matches."""
        for rule in self.rules:
            if rule.pattern == model:
                return rule
        return next((rule for rule in self.rules if fnmatch.fnmatchcase(model, rule.pattern)), None)


@dataclass
class Usage:
    """Tokens and cost of a task span and the task spans under it."""

    input_tokens: int = 0
    output_tokens: int = 0
    cost: float | None = None
    priced: bool = field(default=False)

    def add(self, other: Usage) -> None:
        """Add a child's usage (costs only where known)."""
        self.input_tokens += other.input_tokens
        self.output_tokens += other.output_tokens
        if other.cost is not None:
            self.cost = (self.cost or 0.0) + other.cost


def is_task(span: Span, operations: Sequence[str]) -> bool:
    """Whether a span is a task (its `gen_ai.operation.name` is one of `operations`)."""
    return span.attributes.get("gen_ai.operation.name") in operations


def task_id_of(span: Span) -> str:
    """The execution's task_id: uuid5 of the trace id and span id (hex, concatenated)."""
    return str(uuid5(LEARNING_STORE_NAMESPACE, span.trace_id + span.span_id))


def usage_of(span: Span, tiers: TierMap) -> Usage:
    """A span's own tokens and cost (`gen_ai.usage.cost`, else tokens x the tier map's prices)."""
    attributes = span.attributes
    usage = Usage(
        _count(attributes.get("gen_ai.usage.input_tokens")),
        _count(attributes.get("gen_ai.usage.output_tokens")),
    )
    cost = attributes.get("gen_ai.usage.cost")
    if isinstance(cost, int | float) and not isinstance(cost, bool):
        usage.cost = float(cost)
        return usage
    rule = tiers.rule_for(_model(span) or "")
    if rule is not None and rule.input_per_1k is not None and rule.output_per_1k is not None:
        usage.cost = (
            usage.input_tokens * rule.input_per_1k + usage.output_tokens * rule.output_per_1k
        ) / 1000
    return usage


def row_of(span: Span, usage: Usage, tiers: TierMap) -> dict[str, Any]:
    """The execution of a task span, with the usage of its task descendants added in."""
    attributes = span.attributes
    model = _model(span)
    rule = tiers.rule_for(model or "")
    tier = rule.tier if rule is not None else (model or UNKNOWN)
    error_type = attributes.get("error.type")
    evaluation = _evaluations(span)
    row: dict[str, Any] = {
        "task_id": task_id_of(span),
        "timestamp": datetime.fromtimestamp(span.start_ns / 1e9, UTC),
        "task_type": _text(attributes.get("learning_store.task_type"))
        or _text(attributes.get("gen_ai.operation.name"))
        or UNKNOWN,
        "task_description": _text(attributes.get("learning_store.task_description"))
        or _first_user_text(attributes.get("gen_ai.input.messages"))
        or span.name,
        "repo": _text(attributes.get("vcs.repository.name"))
        or _text(span.resource.get("service.name"))
        or UNKNOWN,
        "model_tier": tier,
        "pool_type": _text(attributes.get("gen_ai.provider.name"))
        or _text(attributes.get("gen_ai.system"))
        or _text(attributes.get("gen_ai.agent.name"))
        or UNKNOWN,
        "estimated_tokens": usage.input_tokens + usage.output_tokens,
        "routing_confidence": _number(attributes.get("learning_store.routing_confidence"))
        if attributes.get("learning_store.routing_confidence") is not None
        else DEFAULT_ROUTING_CONFIDENCE,
        "complexity_score": _number(attributes.get("learning_store.complexity_score"))
        if attributes.get("learning_store.complexity_score") is not None
        else DEFAULT_COMPLEXITY,
        "success": not span.error and error_type is None,
        "duration_seconds": max(span.end_ns - span.start_ns, 0) / 1e9,
        "error_type": None if error_type is None else str(error_type),
        "error_message": span.status_message or _exception_message(span) or None,
        "actual_cost": usage.cost,
        "metadata": _metadata(span),
        **evaluation,
    }
    return row


def _model(span: Span) -> str | None:
    attributes = span.attributes
    return _text(attributes.get("gen_ai.response.model")) or _text(
        attributes.get("gen_ai.request.model")
    )


def _metadata(span: Span) -> dict[str, Any]:
    attributes = span.attributes
    kept = {
        "otel.trace_id": span.trace_id,
        "otel.span_id": span.span_id,
        "otel.span_name": span.name,
    }
    for name in METADATA_ATTRIBUTES:
        if attributes.get(name) is not None:
            kept[name] = attributes[name]
    return kept


def _evaluations(span: Span) -> dict[str, Any]:
    """Fields from GenAI evaluation events, by `gen_ai.evaluation.name`.

    quality: a score 0-1 or 0-100; acceptance: a score or a label (true/false,
    accepted/rejected); rating: a score 1-5.
    """
    found: dict[str, Any] = {}
    for name, attributes in span.events:
        if name != _EVALUATION:
            continue
        metric = str(attributes.get("gen_ai.evaluation.name", "")).lower()
        score = attributes.get("gen_ai.evaluation.score.value")
        label = str(attributes.get("gen_ai.evaluation.score.label", "")).lower()
        if metric == "quality" and isinstance(score, int | float):
            found["quality_score"] = float(score) * 100 if 0 <= score <= 1 else float(score)
        elif metric in ("acceptance", "user_accepted", "accepted"):
            if label in ("true", "accepted", "yes", "pass"):
                found["user_accepted"] = True
            elif label in ("false", "rejected", "no", "fail"):
                found["user_accepted"] = False
            elif isinstance(score, int | float):
                found["user_accepted"] = score >= 0.5
        elif metric in ("rating", "user_rating") and isinstance(score, int | float):
            found["user_rating"] = round(score)
    return found


def _exception_message(span: Span) -> str:
    for name, attributes in span.events:
        if name == "exception" and attributes.get("exception.message"):
            return str(attributes["exception.message"])
    return ""


def _first_user_text(messages: Any) -> str:
    """The first user message's text in `gen_ai.input.messages` (JSON text or structured)."""
    if isinstance(messages, str):
        try:
            messages = json.loads(messages)
        except ValueError:
            return ""
    if not isinstance(messages, list):
        return ""
    for message in messages:
        if not isinstance(message, dict) or message.get("role") != "user":
            continue
        content = message.get("content")
        if isinstance(content, str) and content.strip():
            return content
        for part in message.get("parts") or []:
            if isinstance(part, dict) and part.get("type") == "text" and part.get("content"):
                return str(part["content"])
    return ""


def _text(value: Any) -> str:
    return value.strip() if isinstance(value, str) else ""


def _count(value: Any) -> int:
    return int(value) if isinstance(value, int | float) and not isinstance(value, bool) else 0


def _number(value: Any) -> Any:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else value
