"""The wheel carries the migration scripts, so the CLI migrates from a non-editable install."""

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
