"""`learning-store replay`: the protocol end to end, on a temporary store.

The history goes into a real DuckDB store (in a temporary folder) and our advice is asked
through `recommend_tier`, as a router would; the baselines see the same history and the
same embeddings (each question's own, also stored with its execution, so every router
compares like with like).
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np

from learning_store.config import LearningConfig
from learning_store.replay.curves import RouterResult, router_result
from learning_store.replay.protocol import EvalSet, Split, split
from learning_store.replay.routers import (
    advice_scores,
    group_oracle_scores,
    knn_scores,
    logistic_scores,
    random_scores,
)
from learning_store.repository import create_repository

CONSTANT_TASK_TYPE = "question"
REPO = "replay"
Progress = Callable[[str, int, int], None]
"""(stage, done, total)."""


@dataclass
class ReplayReport:
    """Every router's numbers on one split, with what the split was."""

    questions: int
    history: int
    scored: int
    tiers: tuple[str, str]
    task_type: str
    seed: int
    weak_accuracy: float
    strong_accuracy: float
    routers: list[RouterResult] = field(default_factory=list)

    def router(self, name: str) -> RouterResult:
        """The result of the router of this name."""
        return next(result for result in self.routers if result.name == name)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return {
            "questions": self.questions,
            "history": self.history,
            "scored": self.scored,
            "tiers": list(self.tiers),
            "task_type": self.task_type,
            "seed": self.seed,
            "weak_accuracy": self.weak_accuracy,
            "strong_accuracy": self.strong_accuracy,
            "routers": [result.to_dict() for result in self.routers],
        }


def replay(
    questions: EvalSet,
    embed: Callable[[Sequence[str]], Any],
    *,
    seed: int = 7,
    history_share: float = 0.6,
    scored: int = 1500,
    costs: Mapping[str, float] | None = None,
    group_as_task_type: bool = False,
    progress: Progress | None = None,
) -> ReplayReport:
    """Run the protocol: split, store the history, score every router on the test rows."""
    parts = split(questions, seed, history_share, scored)
    report = _progress(progress)
    used = np.concatenate([parts.history, parts.test])
    report("embedding the questions", 0, len(used))
    vectors = _unit(np.asarray(embed([questions.prompts[row] for row in used]), np.float32))
    history_vectors, test_vectors = vectors[: len(parts.history)], vectors[len(parts.history) :]
    task_types = [
        questions.groups[row] if group_as_task_type else CONSTANT_TASK_TYPE for row in parts.test
    ]
    ours = _advice(
        questions,
        parts,
        history_vectors,
        test_vectors,
        task_types,
        costs or {},
        group_as_task_type,
        report,
    )
    weak, strong = questions.weak[parts.test], questions.strong[parts.test]
    on_strong, success = parts.history_strong, parts.history_success
    scores = {
        "learning_store": ours,
        f"knn-{100}": knn_scores(history_vectors, on_strong, success, test_vectors),
        "logistic": logistic_scores(history_vectors, on_strong, success, test_vectors),
        "random": random_scores(len(parts.test), seed),
    }
    if len(set(questions.groups)) > 1:
        scores["group oracle"] = group_oracle_scores(
            questions.groups, questions.weak, questions.strong, parts.test
        )
    result = ReplayReport(
        len(questions.prompts),
        len(parts.history),
        len(parts.test),
        questions.tiers,
        "the group" if group_as_task_type else "constant",
        seed,
        float(weak.mean()),
        float(strong.mean()),
    )
    result.routers = [router_result(name, value, weak, strong) for name, value in scores.items()]
    return result


def _advice(
    questions: EvalSet,
    parts: Split,
    history_vectors: np.ndarray,
    test_vectors: np.ndarray,
    task_types: list[str],
    costs: Mapping[str, float],
    group_as_task_type: bool,
    report: Progress,
) -> np.ndarray:
    """Our scores: the history stored in a temporary DuckDB store, advice asked per question."""
    weak_tier, strong_tier = questions.tiers
    now = datetime.now(UTC)
    rows = []
    for position, (row, on_strong, success) in enumerate(
        zip(parts.history, parts.history_strong, parts.history_success, strict=True)
    ):
        tier = strong_tier if on_strong else weak_tier
        rows.append(
            {
                "task_id": f"replay-{row}",
                "timestamp": now - timedelta(minutes=len(parts.history) - position),
                "task_type": questions.groups[row] if group_as_task_type else CONSTANT_TASK_TYPE,
                "task_description": questions.prompts[row],
                "repo": REPO,
                "model_tier": tier,
                "pool_type": tier,
                "routing_confidence": 0.5,
                "complexity_score": 50.0,
                "success": bool(success),
                "duration_seconds": 1.0,
                "cost_estimate": costs.get(tier, 0.0),
                "actual_cost": costs.get(tier),
                "embedding": history_vectors[position],
            }
        )
    with tempfile.TemporaryDirectory(prefix="learning-store-replay-") as folder:
        url = f"duckdb:///{Path(folder) / 'replay.db'}"
        repository = create_repository(url, config=LearningConfig(database_url=url))
        try:
            report("storing the history", 0, len(rows))
            result = repository.add_many(rows)
            if result.rejected:
                raise ValueError(f"history row rejected: {result.rejected[0].reason}")
            total = len(test_vectors)
            return advice_scores(
                repository,
                test_vectors,
                questions.tiers,
                task_types,
                lambda done: report("asking the advice", done, total),
            )
        finally:
            repository.close()


def _unit(vectors: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors / np.maximum(norms, 1e-12)


def _progress(progress: Progress | None) -> Progress:
    return progress or (lambda _stage, _done, _total: None)
