"""Routing advice: the estimates, the policy, every backend alike, and the demo's evaluation."""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from factories import row
from typer.testing import CliRunner

from learning_store import (
    ExecutionRepository,
    HashingEmbedder,
    InMemoryExecutionRepository,
    LearningConfig,
    LearningDatabase,
    create_repository,
    demo_data,
)
from learning_store.advice import AdviceFit, AdviceRequest, evaluate, recommend_tier
from learning_store.advice.recommend import choose
from learning_store.cli import app
from learning_store.repository.base import SimilarityQuery
from learning_store.results import TierEstimate
from learning_store.vectors import Vector

EMBEDDER = HashingEmbedder()
NOW = datetime.now(UTC)
# Three topics that differ only in their wording (one task type), each with its best tier.
WORLD = {
    "render the marble statue shader glossy": {"small": 0.35, "medium": 0.55, "large": 0.92},
    "translate invoice footer german wording": {"small": 0.92, "medium": 0.70, "large": 0.65},
    "tune kafka consumer partition rebalance": {"small": 0.20, "medium": 0.88, "large": 0.60},
}
COSTS = {"small": 0.001, "medium": 0.01, "large": 0.05}


def history_row(
    number: int, text: str, tier: str, success: bool, moment: datetime, task_type: str
) -> dict[str, Any]:
    """One past execution of `text` on `tier`, at the tier's cost, with its embedding."""
    return row(
        number,
        task_type=task_type,
        task_description=text,
        model_tier=tier,
        success=success,
        cost_estimate=COSTS[tier],
        actual_cost=COSTS[tier],
        timestamp=moment,
        embedding=EMBEDDER.embed([text])[0],
    )


def world_rows(per_tier: int, seed: int = 3) -> list[dict[str, Any]]:
    """History of the synthetic world: every topic tried on every tier `per_tier` times."""
    rng = random.Random(seed)
    rows = []
    number = 0
    for text, chances in WORLD.items():
        for tier, chance in chances.items():
            for k in range(per_tier):
                moment = NOW - timedelta(hours=rng.uniform(1, 200))
                success = rng.random() < chance
                rows.append(
                    history_row(10_000 + number, f"{text} case {k}", tier, success, moment, "work")
                )
                number += 1
    return rows


def query(text: str) -> Vector:
    return Vector(EMBEDDER.embed([text])[0])


def test_the_best_tier_of_each_topic_wins_once_there_is_history(store: ExecutionRepository) -> None:
    store.add_many(world_rows(per_tier=100))
    for text, chances in WORLD.items():
        advice = recommend_tier(store, query(f"{text} please"))
        assert advice.tier == max(chances, key=chances.get), advice
        for item in advice.estimates:
            assert item.success_low <= item.success_rate <= item.success_high
            assert item.evidence > 0


def test_cheapest_tier_reaching_min_success(store: ExecutionRepository) -> None:
    store.add_many(world_rows(per_tier=100))
    kafka = "tune kafka consumer partition rebalance please"
    assert recommend_tier(store, query(kafka), AdviceRequest(min_success=0.8)).tier == "medium"
    statue = recommend_tier(
        store, query("render the marble statue shader glossy"), AdviceRequest(min_success=0.99)
    )
    assert statue.tier == "large" and "No tier is expected" in statue.reason


def test_one_example_never_reads_as_certainty(store: ExecutionRepository) -> None:
    store.add_many(world_rows(per_tier=20))
    text = "calibrate the telescope mirror actuator"
    store.add(
        row(
            1,
            task_type="work",
            task_description=text,
            model_tier="small",
            success=True,
            embedding=EMBEDDER.embed([text])[0],
        )
    )
    small = recommend_tier(store, query(text)).estimate_for("small")
    assert small.evidence >= 1
    assert small.success_rate < 0.9
    assert small.success_high - small.success_low > 0.3


def test_every_backend_gives_the_fakes_numbers(store: ExecutionRepository) -> None:
    rows = world_rows(per_tier=15)
    for n, values in enumerate(rows):  # outcomes that differ, so each one must be read right
        values["quality_score"] = None if n % 4 == 0 else float(n % 90)
        values["actual_cost"] = None if n % 3 == 0 else values["actual_cost"]
        values["cost_estimate"] *= 1 + n % 5
        values["duration_seconds"] = 1.5 + n % 13
        values["complexity_score"] = n % 100
    reference = InMemoryExecutionRepository()
    reference.add_many(rows)
    store.add_many(rows)
    for text in WORLD:
        ours = recommend_tier(store, query(text), AdviceRequest(complexity_score=60))
        expected = recommend_tier(reference, query(text), AdviceRequest(complexity_score=60))
        assert ours.tier == expected.tier and ours.reason == expected.reason
        for got, want in zip(ours.estimates, expected.estimates, strict=True):
            for name, value in want.to_dict().items():
                assert getattr(got, name) == (
                    pytest.approx(value, rel=1e-6) if isinstance(value, float) else value
                )


def estimate(tier: str, rate: float, cost: float) -> TierEstimate:
    return TierEstimate(tier, rate, rate - 0.1, rate + 0.1, cost, 10.0, None, 5)


def test_the_policy() -> None:
    close = [estimate("large", 0.905, 0.05), estimate("small", 0.90, 0.001)]
    assert choose(close, None).tier == "small"  # within one point: the cheaper
    apart = [estimate("large", 0.95, 0.05), estimate("small", 0.90, 0.001)]
    assert choose(apart, None).tier == "large"
    assert choose(apart, 0.85).tier == "small"
    assert choose(apart, 0.97).tier == "large"
    assert "No tier" in choose(apart, 0.97).reason


def test_comes_closest_is_the_likeliest_and_unknown_cost_is_never_cheapest() -> None:
    close = [estimate("large", 0.905, 0.05), estimate("small", 0.899, 0.001)]
    closest = choose(close, 0.95)
    assert closest.tier == "large" and "comes closest" in closest.reason
    unknown = TierEstimate("new", 0.95, 0.5, 1.0, None, 0.0, None, 0)
    known = [estimate("small", 0.96, 0.001), estimate("large", 0.97, 0.05)]
    assert choose([unknown, *known], 0.9).tier == "small"
    assert choose([unknown, estimate("small", 0.5, 0.001)], 0.9).tier == "new"
    assert "cheapest" not in choose([unknown, estimate("small", 0.5, 0.001)], 0.9).reason


def test_max_cost_and_cost_weight() -> None:
    tiers = [
        estimate("small", 0.70, 0.001),
        estimate("medium", 0.85, 0.01),
        estimate("large", 0.95, 0.05),
        TierEstimate("new", 0.99, 0.5, 1.0, None, 0.0, None, 0),
    ]
    assert choose(tiers, None, max_cost=0.02).tier == "medium"
    assert choose(tiers, 0.9, max_cost=0.02).tier == "medium"  # closest within the budget
    broke = choose(tiers, None, max_cost=0.0001)
    assert broke.tier == "small" and "No tier is known to cost at most" in broke.reason
    assert choose(tiers, None, cost_weight=0.0).tier == "large"  # priced tiers only
    assert choose(tiers, None, cost_weight=5.0).tier == "medium"  # 0.85-0.05 > 0.95-0.25
    assert choose(tiers, None, cost_weight=100.0).tier == "small"
    with pytest.raises(ValueError, match="cost_weight"):
        AdviceRequest(cost_weight=-1)
    with pytest.raises(ValueError, match="not both"):
        AdviceRequest(min_success=0.9, cost_weight=1)


@pytest.mark.parametrize("best", ["small", "medium", "large"])
def test_strong_direct_evidence_wins_over_the_tiers_overall_rates(
    store: ExecutionRepository, best: str
) -> None:
    """60 near-identical past tasks per tier, `best` at 95% and the others at 60%, beside two
    other kinds of task where the other tiers do better: the new task of that wording goes
    to `best`, though its overall rate is the lowest."""
    rng = random.Random(5)
    rows, number = [], 0
    others = [tier for tier in ("small", "medium", "large") if tier != best]

    def add(text: str, tier: str, chance: float, task_type: str) -> None:
        nonlocal number
        moment = NOW - timedelta(days=rng.uniform(0, 20))
        rows.append(
            history_row(20_000 + number, text, tier, rng.random() < chance, moment, task_type)
        )
        number += 1

    for k in range(60):
        for tier in ("small", "medium", "large"):
            add(
                f"Optimise the SQL query of report {k} joining orders",
                tier,
                0.95 if tier == best else 0.6,
                "sql",
            )
    for k in range(120):
        for tier in ("small", "medium", "large"):
            chance = 0.9 if tier in others else 0.3
            add(f"render chart {k} for the quarterly slide deck", tier, chance, "charts")
            add(f"write release notes {k} for the mobile app", tier, chance, "docs")
    store.add_many(rows)
    advice = recommend_tier(store, query("Optimise the SQL query of report 977 joining orders"))
    assert advice.tier == best, advice


def test_no_history_and_bad_input_are_clear(store: ExecutionRepository) -> None:
    with pytest.raises(ValueError, match="nothing to learn from"):
        recommend_tier(store, query("anything"))
    assert recommend_tier(
        store, query("anything"), AdviceRequest(tiers=["small", "large"])
    ).tier in (
        "small",
        "large",
    )
    with pytest.raises(ValueError, match="min_success"):
        recommend_tier(store, query("anything"), AdviceRequest(tiers=["small"], min_success=1.5))


def demo_history(count: int = 5000) -> list:
    records = list(demo_data.generate(count, days=30, seed=7))
    vectors = EMBEDDER.embed([record.embedding_text() for record in records])
    records = [
        r.model_copy(update={"embedding": Vector(v)}) for r, v in zip(records, vectors, strict=True)
    ]
    return sorted(records, key=lambda record: (record.timestamp, record.task_id))


def test_on_the_demo_data_our_estimates_beat_both_baselines_and_are_calibrated() -> None:
    report = evaluate(
        demo_history(), EMBEDDER.embed, true_success=demo_data.true_success_probability
    )
    ours = report.ours.summary()
    assert ours["brier"] < report.tier_baseline.summary()["brier"]
    assert ours["brier"] < report.type_baseline.summary()["brier"]
    assert ours["log_loss"] < report.tier_baseline.summary()["log_loss"]
    for item in report.calibration:
        if item.count >= 100:
            assert abs(item.observed - item.predicted) <= 0.05, item
    assert report.regret is not None and report.regret < 0.02


async def test_through_learning_database(tmp_path: Path) -> None:
    url = f"duckdb:///{tmp_path / 'advice.db'}"
    config = LearningConfig(database_url=url, embedding_model="hashing")
    async with LearningDatabase(config=config) as db:
        await db.store_executions_batch(world_rows(per_tier=20))
        advice = await db.recommend_tier("tune kafka consumer partition rebalance", min_success=0.8)
        assert advice.tier == "medium"
        report = await db.evaluate_advice(days=30)
        assert report.executions == 180 and report.regret is None  # not the demo's data


def test_the_recommend_and_evaluate_commands(tmp_path: Path) -> None:
    url = f"duckdb:///{tmp_path / 'advice.db'}"
    with create_repository(url) as store:
        store.add_many(world_rows(per_tier=20))
    runner = CliRunner()
    shown = runner.invoke(
        app,
        [
            "recommend",
            "render the marble statue shader glossy",
            "--url",
            url,
            "--model",
            "hashing",
            "--format",
            "json",
        ],
    )
    assert shown.exit_code == 0, shown.output
    assert json.loads(shown.output)["tier"] == "large"
    table = runner.invoke(
        app, ["recommend", "render the marble statue", "--url", url, "--model", "hashing"]
    )
    assert table.exit_code == 0 and "➜ large" in table.output
    scored = runner.invoke(
        app, ["evaluate", "--url", url, "--model", "hashing", "--format", "json"]
    )
    assert scored.exit_code == 0, scored.output
    curve = runner.invoke(app, ["evaluate", "--url", url, "--model", "hashing", "--curve", "--fit"])
    assert curve.exit_code == 0, curve.output
    assert "Success against mean cost" in curve.output and "always large" in curve.output
    assert "Fitted on" in curve.output
    assert set(json.loads(scored.output)) >= {
        "ours",
        "tier_baseline",
        "task_type_baseline",
        "calibration",
    }


def test_per_tier_search_is_the_overall_ranking_filtered_by_tier(
    store: ExecutionRepository,
) -> None:
    store.add_many(world_rows(per_tier=12))
    probe = query("tune kafka consumer partition")
    everything = store.find_similar(probe, limit=1000, threshold=-1, days_back=365)
    per_tier = store.search_per_tier(SimilarityQuery(probe, limit=5, threshold=-1, days_back=365))
    assert set(per_tier) == {"small", "medium", "large"}
    for tier, found in per_tier.items():
        expected = [m for m in everything if m.record.model_tier == tier][:5]
        assert [(m.record.task_id, m.similarity) for m in found] == [
            (m.record.task_id, m.similarity) for m in expected
        ]


def test_the_fit_is_kept_in_the_store_and_used(store: ExecutionRepository) -> None:
    from learning_store.advice import fit_advice, fitted_parameters
    from learning_store.advice.fitting import FIT_SETTING, _cache

    store.add_many(world_rows(per_tier=20))
    assert fitted_parameters(store) == AdviceFit()  # never fitted: the defaults
    report = fit_advice(store, EMBEDDER.embed)
    assert report is not None and report.executions == 180
    assert report.log_loss <= report.default_log_loss  # the defaults are on the grid
    _cache.clear()  # as a new process would
    assert fitted_parameters(store) == report.fit
    assert json.loads(store.read_setting(FIT_SETTING))["log_loss"] == report.log_loss
    store.write_setting(FIT_SETTING, "not json")  # another tool's mess: the defaults
    _cache.clear()
    assert fitted_parameters(store) == AdviceFit()


def test_the_cost_curve_trades_success_for_cost_and_the_oracle_bounds_it() -> None:
    report = evaluate(
        demo_history(800),
        EMBEDDER.embed,
        true_success=demo_data.true_success_probability,
        curve=True,
    )
    curve = report.curve
    assert curve is not None and curve.policy and curve.oracle
    costs = [point.mean_cost for point in curve.policy]
    assert costs == sorted(costs, reverse=True)  # a heavier cost weight never costs more
    assert curve.policy[0].expected_success >= curve.policy[-1].expected_success
    weights = [float(point.label.removeprefix("w=")) for point in curve.policy]
    for weight, ours, best in zip(weights, curve.policy, curve.oracle, strict=True):
        assert ours.true_success is not None and best.true_success is not None
        assert best.true_success - weight * best.mean_cost >= (
            ours.true_success - weight * ours.mean_cost - 1e-9
        )
    assert {point.label for point in curve.tiers} == {
        "always small",
        "always medium",
        "always large",
    }
    assert "curve" in report.to_dict()
