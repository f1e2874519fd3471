"""`learning-store replay` and its curves: RouteLLM's protocol on a small synthetic eval set."""

from __future__ import annotations

import csv
import json
import random
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from learning_store.cli import app
from learning_store.replay.curves import router_result
from learning_store.replay.protocol import read_eval_set, split

runner = CliRunner()


def write_eval_set(folder: Path) -> list[Path]:
    """Two subjects: on soups the weak model mostly fails and the strong one succeeds;
    on capitals both succeed. A router that learns the wording sends soups first."""
    rng = random.Random(1)
    files = []
    for name, weak, strong, template in (
        ("soups", 0.2, 0.9, "Give the recipe for {} soup with {} and {}"),
        ("capitals", 0.9, 0.92, "What is the capital city of the {} region near {} and {}"),
    ):
        path = folder / f"{name}.csv"
        with path.open("w", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(["prompt", "weak-model", "strong-model"])
            words = ["leek", "tomato", "onion", "carrot", "pepper", "garlic", "bean", "pea"]
            for n in range(300):
                prompt = template.format(n, rng.choice(words), rng.choice(words))
                writer.writerow([prompt, rng.random() < weak, rng.random() < strong])
        files.append(path)
    return files


def test_replay_routes_the_hard_subject_first_and_reports_every_router(tmp_path: Path) -> None:
    files = write_eval_set(tmp_path)
    chart = tmp_path / "replay.png"
    arguments = [
        "replay",
        *map(str, files),
        "--tiers",
        "small=weak-model,large=strong-model",
        "--cost",
        "small=0.0006,large=0.03",
        "--scored",
        "200",
        "--model",
        "hashing",
        "--chart",
        str(chart),
        "--format",
        "json",
    ]
    result = runner.invoke(app, arguments)
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert (report["history"], report["scored"], report["tiers"]) == (360, 200, ["small", "large"])
    routers = {router["name"]: router for router in report["routers"]}
    assert set(routers) == {"learning_store", "knn-100", "logistic", "random", "group oracle"}
    assert routers["learning_store"]["apgr"] > routers["random"]["apgr"] + 0.1
    assert routers["group oracle"]["apgr"] > 0.6
    for router in routers.values():
        assert len(router["accuracy"]) == 101
        assert router["accuracy"][0] == pytest.approx(report["weak_accuracy"])
        assert router["accuracy"][-1] == pytest.approx(report["strong_accuracy"])
    assert chart.stat().st_size > 10_000
    table = runner.invoke(app, [*arguments[:-4], "--seed", "3"])
    assert table.exit_code == 0 and "APGR" in table.output and "CPT(80%)" in table.output


def test_the_protocol_records_one_outcome_per_history_question(tmp_path: Path) -> None:
    questions = read_eval_set(write_eval_set(tmp_path), "small=weak-model,large=strong-model")
    parts = split(questions, seed=7, history_share=0.6, scored=100)
    assert len(parts.history) == 360 and len(parts.test) == 100
    assert not set(parts.history) & set(parts.test)
    expected = np.where(
        parts.history_strong, questions.strong[parts.history], questions.weak[parts.history]
    )
    assert (parts.history_success == expected).all()
    assert 0.4 < parts.history_strong.mean() < 0.6  # a fair coin per question
    again = split(questions, seed=7, history_share=0.6, scored=100)
    assert (again.test == parts.test).all()  # a fixed seed is a fixed split


def test_curves_reward_the_right_order() -> None:
    weak = np.array([0, 0, 1, 1, 0, 1, 0, 1], dtype=bool)
    strong = np.array([1, 1, 1, 0, 1, 1, 0, 1], dtype=bool)
    gain = strong.astype(float) - weak.astype(float)
    best, worst = (
        router_result("best", gain, weak, strong),
        router_result("worst", -gain, weak, strong),
    )
    assert best.apgr > 0.9 > worst.apgr
    assert best.cpt_80 is not None and worst.cpt_80 is not None and best.cpt_80 < worst.cpt_80
    assert best.accuracy[0] == weak.mean() and best.accuracy[-1] == strong.mean()
    assert max(best.accuracy) == pytest.approx((weak | strong).mean())


def test_bad_eval_sets_are_named(tmp_path: Path) -> None:
    files = write_eval_set(tmp_path)
    missing = runner.invoke(app, ["replay", str(files[0]), "--model", "hashing"])
    assert missing.exit_code != 0 and "--tiers" in missing.output
    wrong = runner.invoke(
        app,
        ["replay", str(files[0]), "--tiers", "small=nope,large=strong-model", "--model", "hashing"],
    )
    assert wrong.exit_code != 0 and "no column 'nope'" in wrong.output
    broken = tmp_path / "broken.csv"
    broken.write_text("prompt,a,b\nhello,maybe,True\n")
    bad = runner.invoke(
        app, ["replay", str(broken), "--tiers", "small=a,large=b", "--model", "hashing"]
    )
    assert bad.exit_code != 0 and "broken.csv:2" in bad.output and "True or False" in bad.output
