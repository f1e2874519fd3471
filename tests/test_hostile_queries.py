"""Filter values full of SQL metacharacters match literally and change nothing; no SQL in the
package is built from strings."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from factories import row

from learning_store import ExecutionRepository

HOSTILE = [
    "o'brien",
    "'; DROP TABLE executions; --",
    "a--b",
    "50%",
    "under_score",
    "%",
    "_",
    "back\\slash",
    'double"quote',
    "semi;colon",
    "ünïcødé ✓ 漢字",
    "emoji 🚀",
    "' OR '1'='1",
    "$1",
    "?",
    ":name",
    "%(x)s",
]


def test_hostile_filter_values_match_literally_and_change_nothing(
    store: ExecutionRepository,
) -> None:
    rows = [
        row(n, repo=value, task_type=value, model_tier=value, pool_type=value)
        for n, value in enumerate(HOSTILE)
    ]
    rows.append(row(100, repo="plain"))
    assert store.add_many(rows).stored == len(rows)
    for n, value in enumerate(HOSTILE):
        for field in ("repo", "task_type", "model_tier", "pool_type"):
            found = store.list(**{field: value})
            assert [str(r.task_id) for r in found] == [rows[n]["task_id"]]
            assert store.count(**{field: value}) == 1
        assert store.find_similar([1.0] * 384, repo=value, threshold=-1) == []  # no embeddings
        assert [p.repo for p in store.solution_patterns(repo=value, min_usage=1)] == []
    assert store.list(repo="%")[0].repo == "%"
    assert store.count(repo="does-not-exist") == 0
    assert store.count() == len(rows)  # nothing was changed or dropped
    assert store.delete_older_than(row(0)["timestamp"].replace(year=2000)) == 0
    assert store.count() == len(rows)


def test_nul_in_a_filter_value_matches_nothing(store: ExecutionRepository) -> None:
    store.add(row(1, solution_summary="s"))
    assert store.count(repo="mahavishnu\x00") == 0
    assert store.list(task_type="\x00") == []
    assert store.tier_performance(repo="\x00mahavishnu") == []
    assert store.solution_patterns(repo="mahavishnu\x00", min_usage=1) == []
    assert store.count(repo="mahavishnu") == 1


STRING_SQL = [
    re.compile(r"""\b(execute|exec_driver_sql|text|sql)\(\s*f["']"""),
    re.compile(r"""f["'][^"'\n]*\b(SELECT|INSERT|UPDATE|DELETE|CREATE|DROP|ALTER|WHERE) """),
    re.compile(
        r"""["'][^"'\n]*\b(SELECT|INSERT|UPDATE|DELETE)\b[^"'\n]*["']\s*(%|\+|\.format\()"""
    ),
]


def test_no_sql_in_the_package_is_built_from_strings() -> None:
    package = Path(__file__).resolve().parents[1] / "learning_store"
    offenders = []
    for path in sorted(package.rglob("*.py")):
        for number, line in enumerate(path.read_text().splitlines(), start=1):
            if any(pattern.search(line) for pattern in STRING_SQL):
                offenders.append(f"{path.relative_to(package.parent)}:{number}: {line.strip()}")
    assert offenders == []


@pytest.mark.parametrize(
    "line",
    [
        'connection.execute(f"SELECT * FROM t WHERE a = {value}")',
        "cursor.execute(\"SELECT * FROM t WHERE a = '%s'\" % value)",
        'sa.text(f"DELETE FROM executions WHERE repo = {repo}")',
    ],
)
def test_the_grep_catches_string_built_sql(line: str) -> None:
    assert any(pattern.search(line) for pattern in STRING_SQL)
