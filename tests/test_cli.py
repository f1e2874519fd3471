"""Every learning-store command through the real entry point, including its error exits."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from factories import row
from typer.testing import CliRunner

from learning_store import create_repository
from learning_store.cli import app

runner = CliRunner()
COMMANDS = ["demo", "report", "similar", "stats", "ingest", "export", "prune", "db"]


def invoke(*args: str):
    return runner.invoke(app, [str(a) for a in args])


@pytest.fixture
def url(tmp_path: Path) -> str:
    return f"duckdb:///{tmp_path / 'cli.db'}"


@pytest.fixture
def demo_url(url: str) -> str:
    result = invoke("demo", "--records", 400, "--days", 10, "--model", "hashing", "--url", url)
    assert result.exit_code == 0, result.output
    return url


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_has_help_with_an_example(command: str) -> None:
    result = invoke(command, "--help")
    assert result.exit_code == 0
    assert "Example" in result.output or command == "db"


def test_index_build_indexes_and_saves_next_to_the_database(
    demo_url: str, tmp_path: Path, monkeypatch
) -> None:
    monkeypatch.setenv("LEARNING_STORE_ANN_MIN_ROWS", "100")
    result = invoke("index", "build", "--url", demo_url)
    assert result.exit_code == 0, result.output
    assert "indexed 400 of 400 vectors" in result.output and "saved: yes" in result.output
    assert (tmp_path / "cli.db.vectors" / "stamp.json").is_file()
    assert (
        invoke("similar", "fix the login flow", "--model", "hashing", "--url", demo_url).exit_code
        == 0
    )


def test_demo_stores_reports_searches_and_is_idempotent(demo_url: str) -> None:
    with create_repository(demo_url) as store:
        assert store.count() == 400
    again = invoke("demo", "--records", 400, "--days", 10, "--model", "hashing", "--url", demo_url)
    assert again.exit_code == 0
    assert "0 stored, 400 already there" in again.output
    assert "Model tiers" in again.output and "Worker pools" in again.output
    assert "Past executions like" in again.output and "Try next" in again.output
    with create_repository(demo_url) as store:
        assert store.count() == 400


def test_report_table_json_and_chart(demo_url: str, tmp_path: Path) -> None:
    table = invoke("report", "--days", 10, "--url", demo_url)
    assert table.exit_code == 0 and "Model tiers" in table.output
    data = json.loads(invoke("report", "--days", 10, "--format", "json", "--url", demo_url).output)
    assert sum(r["total"] for r in data["tiers"]) == 400
    assert {"tiers", "pools"} == set(data)
    filtered = json.loads(
        invoke("report", "--repo", "mobile-app", "--format", "json", "--url", demo_url).output
    )
    assert {r["repo"] for r in filtered["tiers"]} == {"mobile-app"}
    chart = tmp_path / "charts" / "tiers.png"
    drawn = invoke("report", "--chart", chart, "--url", demo_url)
    assert drawn.exit_code == 0 and chart.read_bytes()[:4] == b"\x89PNG"


def test_similar_and_stats(demo_url: str) -> None:
    found = invoke(
        "similar",
        "speed up the slow orders query index",
        "--limit",
        2,
        "--model",
        "hashing",
        "--url",
        demo_url,
    )
    assert found.exit_code == 0, found.output
    assert "orders" in found.output
    nothing = invoke(
        "similar", "zzz qqq", "--threshold", 0.99, "--model", "hashing", "--url", demo_url
    )
    assert nothing.exit_code == 0 and "lower --threshold" in nothing.output
    stats = invoke("stats", "--url", demo_url)
    assert stats.exit_code == 0 and "400" in stats.output


@pytest.mark.parametrize("fmt", ["parquet", "jsonl", "csv"])
def test_export_then_ingest_round_trip(demo_url: str, tmp_path: Path, fmt: str) -> None:
    out = tmp_path / f"all.{fmt}"
    exported = invoke("export", out, "--url", demo_url)
    assert exported.exit_code == 0 and "wrote 400" in exported.output
    target = f"duckdb:///{tmp_path / f'copy-{fmt}.db'}"
    ingested = invoke("ingest", out, "--model", "hashing", "--url", target)
    assert ingested.exit_code == 0, ingested.output
    assert "400 stored, 0 duplicates, 0 rejected" in ingested.output
    again = invoke("ingest", out, "--model", "hashing", "--url", target)
    assert "0 stored, 400 duplicates" in again.output
    with create_repository(demo_url) as a, create_repository(target) as b:
        assert [r.stored_fields() for r in a.list(limit=500)] == [
            r.stored_fields() for r in b.list(limit=500)
        ]


def test_ingest_with_bad_rows_exits_3_after_storing_the_good_ones(tmp_path: Path, url: str) -> None:
    path = tmp_path / "mixed.jsonl"
    path.write_text(json.dumps(row(1), default=str) + "\n{oops\n")
    result = invoke("ingest", path, "--model", "hashing", "--url", url)
    assert result.exit_code == 3
    assert "1 stored" in result.output and "1 rejected" in result.output
    assert "mixed.jsonl.rejects.jsonl" in result.output.replace("\n", "")


def test_prune_with_archive(demo_url: str, tmp_path: Path) -> None:
    result = invoke(
        "prune", "--older-than", "5d", "--archive", tmp_path / "arch", "--url", demo_url
    )
    assert result.exit_code == 0, result.output
    deleted = int(result.output.split()[1].replace(",", ""))
    assert 0 < deleted < 400
    assert list((tmp_path / "arch").glob("date=*/*.parquet"))
    with create_repository(demo_url) as store:
        assert store.count() == 400 - deleted


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["ingest", "/nonexistent/file.jsonl"], "No such file"),
        (["ingest", "notes.txt"], "No such file"),
        (["export", "out.xml"], "--format"),
        (["report", "--url", "mysql://u:secret@h/db"], "Unsupported database URL"),
        (["report", "--format", "yaml"], "--format 'yaml'"),
        (["prune", "--older-than", "soon"], "Cannot read the age"),
        (["export", "x.csv", "--since", "yesterday"], "--since 'yesterday' is not a date"),
        (
            ["similar", "text", "--model", "/no/such/model-dir", "--url", "memory://"],
            "learning-store[embeddings]",
        ),
    ],
)
def test_user_errors_are_one_line_with_exit_1(args: list[str], expected: str) -> None:
    result = invoke(*args)
    assert result.exit_code == 1, result.output
    assert expected in result.output
    assert "Traceback" not in result.output and "secret" not in result.output


def test_the_installed_console_script_runs() -> None:
    script = Path(sys.executable).with_name("learning-store")
    done = subprocess.run(
        [str(script), "db", "history"], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0 and "0001" in done.stdout
    bad = subprocess.run(
        [str(script), "ingest", "missing.csv"], capture_output=True, text=True, timeout=120
    )
    assert bad.returncode == 1 and "No such file" in bad.stderr and "Traceback" not in bad.stderr
