"""PostgreSQL specifics on a real server: migrations, concurrent writers, a server that dies."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import pytest
import sqlalchemy as sa
from factories import row, unit_vector
from pg_server import PostgresServer, find_bindir
from requirements import skip_unless_required
from typer.testing import CliRunner

from learning_store import (
    DatabaseUnavailableError,
    ExecutionRecord,
    InMemoryExecutionRepository,
    LearningConfig,
    LearningStoreError,
    create_repository,
    migrations,
)
from learning_store.arrow_codec import records_to_arrow
from learning_store.catalog import postgresql_differences
from learning_store.cli import app
from learning_store.engine import create_engine_for

pytestmark = pytest.mark.postgres


@pytest.fixture
def database(postgres_server: PostgresServer, request) -> str:
    return postgres_server.create_database(f"pg_{request.node.name[:40].lower()}")


def test_types_on_postgresql(database: str) -> None:
    create_repository(database).close()
    engine = create_engine_for(database)
    with engine.connect() as connection:
        types = dict(
            connection.execute(
                sa.text(
                    "SELECT column_name, udt_name FROM information_schema.columns "
                    "WHERE table_name = 'executions'"
                )
            ).all()
        )
    engine.dispose()
    assert (types["embedding"], types["metadata"]) == ("_float4", "jsonb")
    assert types["timestamp"] == types["uploaded_at"] == "timestamptz"
    assert types["task_id"] == "uuid" and len(types) == 27


def test_bulk_writes_stream_through_copy_and_read_back_exactly(database: str, monkeypatch) -> None:
    """Records, plain rows and Arrow each take binary COPY; nothing changes on the way."""
    import learning_store.repository.postgres_copy as copying

    copies: list[int] = []
    real_copy = copying.copy_new_rows
    monkeypatch.setattr(
        copying, "copy_new_rows", lambda c, rows: copies.append(1) or real_copy(c, rows)
    )
    rows = [
        row(
            n,
            embedding=None if n % 3 == 0 else unit_vector(n),
            metadata={"ü ✓": [n, 2**62, {"deep": None}], "text": 'tab\t "quote" \\ new\nline'},
            quality_score=None if n % 4 == 0 else 12.25,
            actual_cost=None if n % 5 == 0 else 0.5,
            swarm_topology=None if n % 2 else "mesh",
            error_type="timeout" if n % 6 == 0 else None,
            error_message="it's \x01 odd" if n % 6 == 0 else None,
            user_rating=n % 5 + 1,
            solution_summary="naïve — ok",
        )
        for n in range(36)
    ]
    reference = InMemoryExecutionRepository()
    reference.add_many(rows)
    with create_repository(database, config=LearningConfig(batch_size=12)) as store:
        records = [ExecutionRecord.model_validate(values) for values in rows[:12]]
        assert store.add_many(records).stored == 12
        assert store.add_many(rows[12:24]).stored == 12
        arrow = records_to_arrow([ExecutionRecord.model_validate(v) for v in rows[20:36]])
        result = store.add_arrow([arrow])
        assert (result.stored, result.duplicates) == (12, 4)
        assert len(copies) == 3
        for values in rows:
            stored = store.get(values["task_id"])
            expected = reference.get(values["task_id"])
            assert stored is not None and expected is not None
            assert stored.model_dump(exclude={"uploaded_at"}) == expected.model_dump(
                exclude={"uploaded_at"}
            )


def test_migrations_up_down_up_and_autogenerate_finds_no_difference(database: str) -> None:
    engine = create_engine_for(database)
    with engine.connect() as connection:
        migrations.upgrade(connection)
        assert migrations.current_revisions(connection) == (migrations.head_revision(),)
        assert postgresql_differences(connection) == []
        migrations.downgrade(connection, "base")
        assert not sa.inspect(connection).has_table("executions")
        migrations.upgrade(connection)
        assert postgresql_differences(connection) == []
    engine.dispose()
    result = CliRunner().invoke(app, ["db", "check", "--url", database])
    assert result.exit_code == 0, result.output


def test_autogenerate_notices_drift(database: str) -> None:
    create_repository(database).close()
    engine = create_engine_for(database)
    with engine.begin() as connection:
        connection.execute(sa.text("ALTER TABLE executions ALTER COLUMN repo DROP NOT NULL"))
    with engine.connect() as connection:
        assert any("repo" in difference for difference in postgresql_differences(connection))
    engine.dispose()


WRITER = textwrap.dedent(
    """
    import sys
    sys.path.insert(0, {tests!r})
    from factories import row, unit_vector
    from learning_store import create_repository
    first = int(sys.argv[1])
    repository = create_repository({url!r})
    result = repository.add_many(row(n) for n in range(first, first + 5000))
    print(result.stored, result.duplicates, len(result.rejected), flush=True)
    repository.close()
    """
)


def test_four_processes_with_overlapping_batches_store_each_record_once(database: str) -> None:
    create_repository(database).close()  # migrate once; writers also race on open
    script = WRITER.format(tests=str(Path(__file__).parent), url=database)
    writers = [
        subprocess.Popen(
            [sys.executable, "-c", script, str(k * 2500)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for k in range(4)
    ]
    outputs = [writer.communicate(timeout=300) for writer in writers]
    assert all(writer.returncode == 0 for writer in writers), [err for _, err in outputs]
    counts = [tuple(map(int, out.split())) for out, _ in outputs]
    distinct = 3 * 2500 + 5000
    assert sum(stored for stored, _, _ in counts) == distinct
    assert sum(duplicates for _, duplicates, _ in counts) == 4 * 5000 - distinct
    with create_repository(database) as repository:
        assert repository.count() == distinct


RANDOM_WRITER = textwrap.dedent(
    """
    import random, sys
    sys.path.insert(0, {tests!r})
    from factories import row, unit_vector
    from learning_store import create_repository
    rng = random.Random(int(sys.argv[1]))
    repository = create_repository({url!r})
    stored, seen = 0, set()
    for _ in range(8):
        numbers = rng.sample(range(3000), 100)
        seen.update(numbers)
        stored += repository.add_many(row(n) for n in numbers).stored
    print(stored, " ".join(map(str, sorted(seen))), flush=True)
    repository.close()
    """
)


def test_processes_with_random_overlapping_ids_store_each_once(database: str) -> None:
    """Six processes, batches drawn at random from one pool of 3,000 ids: no error, no twin."""
    create_repository(database).close()
    script = RANDOM_WRITER.format(tests=str(Path(__file__).parent), url=database)
    writers = [
        subprocess.Popen(
            [sys.executable, "-c", script, str(seed)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for seed in range(6)
    ]
    outputs = [writer.communicate(timeout=300) for writer in writers]
    assert all(writer.returncode == 0 for writer in writers), [err for _, err in outputs]
    stored = sum(int(out.split()[0]) for out, _ in outputs)
    distinct = {int(n) for out, _ in outputs for n in out.split()[1:]}
    with create_repository(database) as repository:
        assert stored == repository.count() == len(distinct)


def test_concurrent_first_open_of_an_empty_database_migrates_once(database: str) -> None:
    errors: list[BaseException] = []

    def open_it() -> None:
        try:
            create_repository(database).close()
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=open_it) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []


@pytest.fixture
def own_server():
    bindir = find_bindir()
    if bindir is None:
        skip_unless_required("POSTGRES", "PostgreSQL server binaries not found")
    server = PostgresServer.start(bindir)
    yield server
    server.destroy()


def test_server_stopped_mid_run_gives_a_clear_error_and_no_partial_chunk(own_server) -> None:
    url = own_server.create_database("dies")
    repository = create_repository(url, config=LearningConfig(batch_size=200))
    repository.add_many(row(n) for n in range(1000))
    failure: list[BaseException] = []

    def write_forever() -> None:
        try:
            repository.add_many(row(n) for n in range(1000, 2_000_000))
        except BaseException as exc:
            failure.append(exc)

    writer = threading.Thread(target=write_forever)
    writer.start()
    while writer.is_alive() and repository.count() < 3000:
        threading.Event().wait(0.01)
    own_server.stop("fast")
    writer.join(timeout=60)
    assert not writer.is_alive()
    assert failure and isinstance(failure[0], LearningStoreError)
    assert "127.0.0.1" in str(failure[0])
    with pytest.raises(DatabaseUnavailableError, match=rf"127\.0\.0\.1:{own_server.port}"):
        repository.count()
    own_server.start_again()
    stored = repository.count()
    assert stored >= 3000 and stored % 200 == 0  # whole chunks only
    repository.close()


def test_unreachable_server_names_host_and_port_and_hides_the_password() -> None:
    url = "postgresql+psycopg://ann:hunter2@127.0.0.1:9/learning"  # nothing listens on port 9
    with pytest.raises(DatabaseUnavailableError) as caught:
        create_repository(url, config=LearningConfig(connect_timeout_seconds=2))
    message = str(caught.value)
    assert "127.0.0.1:9" in message and "hunter2" not in message
    result = CliRunner().invoke(app, ["db", "upgrade", "--url", url])
    assert result.exit_code == 1
    assert "127.0.0.1:9" in result.output and "hunter2" not in result.output
    assert "Traceback" not in result.output
