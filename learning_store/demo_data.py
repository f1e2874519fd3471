"""A realistic, seeded set of executions for the demo: topics cluster, outcomes are plausible.

Task ids come from the seed, so generating the same set again (even a day later, when the
timestamps have moved) yields the same ids and stores nothing new.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from learning_store.models import ErrorType, ExecutionRecord


@dataclass(frozen=True)
class Topic:
    """A kind of work: its task type, description templates and the solutions that recur."""

    task_type: str
    descriptions: tuple[str, ...]
    solutions: tuple[str, ...]
    difficulty: float  # 0 easy .. 1 hard: lowers success, raises duration and complexity


TOPICS = (
    Topic(
        "performance",
        (
            "Speed up the slow {entity} query by adding the right index",
            "Fix the N+1 queries when loading {entity} in the admin view",
            "Reduce database lock contention on the {entity} table",
            "Cache the expensive {entity} aggregation that runs on every request",
            "Analyze the query plan of the {entity} report and remove the sequential scan",
        ),
        (
            "added a composite index",
            "rewrote N+1 queries as one join",
            "cached the result in Redis",
            "batched the writes in one transaction",
        ),
        0.6,
    ),
    Topic(
        "ui",
        (
            "Make the {entity} page layout responsive on mobile screens",
            "Fix the dropdown that overlaps the header on the {entity} form",
            "Add a dark mode toggle to the {entity} settings",
            "Align the buttons and fix the CSS padding on the {entity} dialog",
            "Improve keyboard focus styles on the {entity} sidebar links",
        ),
        (
            "switched to a CSS grid layout",
            "fixed z-index stacking",
            "extracted a shared button style",
            "added media query breakpoints",
        ),
        0.3,
    ),
    Topic(
        "tests",
        (
            "Write unit tests for the {entity} total calculation",
            "Add integration tests for the {entity} API endpoints",
            "Fix the flaky end-to-end test for {entity} that fails on CI",
            "Raise test coverage of the {entity} validation helpers",
            "Add property-based tests for the {entity} parser",
        ),
        (
            "parametrised pytest cases",
            "replaced sleeps with explicit waits",
            "added fixtures for test data",
            "mocked the external service",
        ),
        0.35,
    ),
    Topic(
        "dependencies",
        (
            "Upgrade the web framework and fix deprecation warnings in {entity}",
            "Bump numpy and pandas in the {entity} pipeline",
            "Resolve the version conflict between requests and urllib3 in {entity}",
            "Replace the deprecated date library used by {entity}",
            "Apply the security patch release for the {entity} service's TLS library",
        ),
        (
            "pinned compatible versions",
            "migrated deprecated calls",
            "regenerated the lockfile",
            "vendored a patched release",
        ),
        0.45,
    ),
    Topic(
        "bugfix",
        (
            "Fix the crash when {entity} has no items",
            "Handle the timezone bug in {entity} timestamps",
            "Stop duplicate {entity} emails from being sent twice",
            "Fix the off-by-one error in {entity} pagination",
            "Repair the broken retry logic in the {entity} webhook",
        ),
        (
            "added a guard for the empty case",
            "stored timestamps in UTC",
            "made the handler idempotent",
            "fixed the loop bounds",
        ),
        0.5,
    ),
    Topic(
        "docs",
        (
            "Document the {entity} API with examples",
            "Write a runbook for {entity} incidents",
            "Update the README section about {entity} configuration",
        ),
        ("generated reference docs from docstrings", "added copy-paste examples"),
        0.15,
    ),
)
ENTITIES = (
    "orders",
    "invoices",
    "users",
    "sessions",
    "payments",
    "inventory",
    "shipments",
    "reports",
)
REPOS = ("checkout-service", "web-frontend", "data-pipeline", "mobile-app")
TIERS = {  # base success, seconds per unit of difficulty, cost per call
    "small": (0.78, 20.0, 0.002),
    "medium": (0.88, 45.0, 0.012),
    "large": (0.95, 90.0, 0.060),
}
CAPABILITY = {"small": 0.35, "medium": 0.65, "large": 0.95}
"""The skill requirement each tier meets without losing success."""
POOLS = {"local-workers": 1.25, "cloud-standard": 1.0, "cloud-burst": 0.8}  # duration factor
TOPOLOGIES = ("single", "pipeline", "mesh", "hierarchical")
FAILURES = {
    "small": (
        ErrorType.QUALITY_GATE,
        ErrorType.VALIDATION,
        ErrorType.QUALITY_GATE,
        ErrorType.CRASH,
    ),
    "medium": (ErrorType.QUALITY_GATE, ErrorType.TIMEOUT, ErrorType.VALIDATION, ErrorType.UNKNOWN),
    "large": (ErrorType.TIMEOUT, ErrorType.TIMEOUT, ErrorType.CRASH, ErrorType.UNKNOWN),
}
MESSAGES = {
    ErrorType.TIMEOUT: "model call exceeded the {limit}s budget",
    ErrorType.QUALITY_GATE: "output failed the quality gate (score {score:.0f} < 70)",
    ErrorType.CRASH: "worker process exited with signal 9",
    ErrorType.VALIDATION: "generated patch did not apply cleanly",
    ErrorType.UNKNOWN: "unexpected error from the model provider",
}


def generate(
    count: int = 5000, *, days: int = 30, seed: int = 7, now: datetime | None = None
) -> Iterator[ExecutionRecord]:
    """`count` executions spread over the last `days` days, the same for the same seed."""
    rng = random.Random(seed)
    end = (now or datetime.now(UTC)).replace(microsecond=0)
    for _ in range(count):
        yield _execution(rng, end, days)


def _execution(rng: random.Random, end: datetime, days: int) -> ExecutionRecord:
    task_id = uuid.UUID(int=rng.getrandbits(128), version=4)
    topic = rng.choice(TOPICS)
    repo = rng.choice(REPOS)
    template = rng.choice(topic.descriptions)
    description = template.format(entity=rng.choice(ENTITIES))
    requirement = skill_requirement(template)
    complexity = min(100.0, max(0.0, rng.gauss(100 * topic.difficulty, 15)))
    tier = "large" if complexity > 70 else "medium" if complexity > 40 else "small"
    if rng.random() < 0.15:  # the router sometimes picks another tier
        tier = rng.choice(tuple(TIERS))
    _, seconds, cost = TIERS[tier]
    pool = rng.choice(tuple(POOLS))
    success = rng.random() < _success_probability(tier, complexity, requirement)
    duration = max(
        1.0, rng.lognormvariate(0, 0.5) * seconds * (0.5 + complexity / 100) * POOLS[pool]
    )
    quality = min(100.0, max(0.0, rng.gauss(85 if success else 55, 10)))
    error_type = None if success else rng.choice(FAILURES[tier])
    accepted = None if rng.random() < 0.4 else (success and quality > 70 and rng.random() < 0.9)
    return ExecutionRecord(
        task_id=task_id,
        timestamp=end - timedelta(seconds=rng.uniform(0, days * 86_400)),
        task_type=topic.task_type,
        task_description=description,
        repo=repo,
        file_count=max(1, int(rng.expovariate(1 / (2 + complexity / 10)))),
        estimated_tokens=int(500 + complexity * rng.uniform(40, 120)),
        model_tier=tier,
        pool_type=pool,
        swarm_topology=rng.choice(TOPOLOGIES),
        routing_confidence=round(min(1.0, max(0.05, rng.gauss(0.8, 0.12))), 3),
        complexity_score=round(complexity, 1),
        success=success,
        duration_seconds=round(duration, 2),
        quality_score=round(quality, 1) if rng.random() < 0.85 else None,
        cost_estimate=round(cost * (1 + complexity / 50), 5),
        actual_cost=round(cost * (1 + complexity / 50) * rng.uniform(0.7, 1.4), 5),
        error_type=error_type,
        error_message=None
        if error_type is None
        else MESSAGES[error_type].format(limit=int(seconds * 4), score=quality),
        user_accepted=accepted,
        user_rating=None
        if accepted is None
        else max(1, min(5, round(quality / 20 + rng.gauss(0, 0.6)))),
        peak_memory_mb=round(rng.uniform(200, 1200) * (1.5 if tier == "large" else 1.0), 1),
        cpu_time_seconds=round(duration * rng.uniform(0.2, 0.8), 2),
        solution_summary=rng.choice(topic.solutions) if success else None,
        metadata={"demo": True, "router_version": "2.3", "skill_requirement": requirement},
    )


def skill_requirement(template: str) -> float:
    """How capable a model a kind of task needs (0 to 1), fixed per description template.

    Hidden from the router: it is what history can teach, since tasks worded alike need
    alike skill, while their task type alone does not tell.
    """
    return round(random.Random(template).uniform(0.0, 1.0), 3)


def true_success_probability(record: ExecutionRecord, tier: str) -> float:
    """The probability the generator gave a task like `record` of succeeding on `tier`."""
    requirement = float(record.metadata.get("skill_requirement", 0.0))
    return _success_probability(tier, record.complexity_score, requirement)


def _success_probability(tier: str, complexity: float, requirement: float) -> float:
    """A tier's chance of success on a task.

    Its base rate, less up to 25 points for complexity above 50, less 0.7 per unit of
    skill the task needs beyond the tier's capability.
    """
    missing_skill = max(0.0, requirement - CAPABILITY[tier])
    return TIERS[tier][0] - 0.25 * max(0.0, complexity - 50) / 50 - 0.7 * missing_skill
