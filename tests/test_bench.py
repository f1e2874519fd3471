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


def test_scale_bench_reports_exact_recall_for_the_exact_search(tmp_path: Path) -> None:
    """A tiny `--scale` run: every measurement present; the exact search finds the truth."""
    out = tmp_path / "scale.json"
    result = CliRunner().invoke(
        app, ["bench", "--scale", "1000", "--skip-model", "--json", str(out)]
    )
    assert result.exit_code == 0, result.output
    data = json.loads(out.read_text())
    assert [(item["store"], item["dataset"]) for item in data] == [
        ("duckdb", "clustered"),
        ("duckdb", "random"),
    ]
    for item in data:
        assert item["rows"] == 1000
        for name in ("unfiltered", "repo", "last_7_days"):
            assert item[f"{name}_recall_at_10"] == 1.0, (item["dataset"], name)
            assert 0 < item[f"{name}_p50_ms"] <= item[f"{name}_p95_ms"]
        assert item["fresh_first_search_s"] > 0 and item["fresh_recall_at_10"] == 1.0
        assert item["build_rows_per_s"] > 0 and item["index_ready_after_fill_s"] >= 0
        assert 0 < item["while_writing_p50_ms"] <= item["while_writing_p99_ms"]
        assert item["while_writing_rows_per_s"] > 0
        assert item["during_rebuild_p50_ms"] > 0 and item["during_rebuild_numpy_p50_ms"] > 0
