"""Packaging: the wheel carries the migration scripts; the DuckDB path needs no psycopg."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_wheel_ships_the_alembic_scripts(tmp_path: Path) -> None:
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--quiet",
            "--no-deps",
            "-w",
            str(tmp_path),
            str(ROOT),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    wheel = next(tmp_path.glob("learning_store-*.whl"))
    names = set(zipfile.ZipFile(wheel).namelist())
    migrations = {
        path.relative_to(ROOT / "alembic").as_posix() for path in (ROOT / "alembic").rglob("*.py")
    }
    assert {f"learning_store/_alembic/{name}" for name in migrations} <= names
    assert "learning_store/_alembic/script.py.mako" in names


WITHOUT_POSTGRES_DRIVER = """
import sys
sys.modules["psycopg"] = None  # as if the postgres extra were not installed
sys.path.insert(0, sys.argv[2])
from factories import row, unit_vector
from learning_store import create_repository
from learning_store.advice import recommend_tier
store = create_repository("duckdb:///" + sys.argv[1])
assert store.add_many([row(n, embedding=unit_vector(n)) for n in range(30)]).stored == 30
assert str(store.find_similar(unit_vector(4), threshold=0.99)[0].record.task_id) == row(4)["task_id"]
recommend_tier(store, unit_vector(4))
store.close()
print("ok")
"""


def test_the_duckdb_store_needs_no_postgresql_driver(tmp_path: Path) -> None:
    """`pip install learning-store` has no psycopg: nothing on the DuckDB path may import it."""
    tests = str(Path(__file__).parent)
    done = subprocess.run(
        [sys.executable, "-c", WITHOUT_POSTGRES_DRIVER, str(tmp_path / "s.db"), tests],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr[-2000:]
