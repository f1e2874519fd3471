"""`learning-store bench` at tiny sizes: every key is there and positive (no timing asserts)."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from learning_store.bench import TARGETS
from learning_store.cli import app

MODEL_KEYS = {"model_batch_vs_single", "storage_overhead_share", "cache_hit_speedup"}


def test_bench_smoke_writes_every_key(tmp_path: Path) -> None:
    out = tmp_path / "bench.json"
    result = CliRunner().invoke(
        app,
        [
            "bench",
            "--records",
            "60",
            "--similar-rows",
            "500",
            "--scale-rows",
            "300",
            "--telemetry-records",
            "300",
            "--ingest-rows",
            "300",
            "--jsonl-rows",
            "200",
            "--skip-model",
            "--json",
            str(out),
        ],
    )
    assert result.exit_code == 0, result.output
    data = json.loads(out.read_text())
    expected = set(TARGETS) - MODEL_KEYS
    assert expected <= set(data)
    for key in expected:
        assert isinstance(data[key], float) and data[key] > 0, key
    assert data["rates"]["batch_records_per_s"] > 0
    assert "batch_vs_single" in result.output
