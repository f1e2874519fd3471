"""SIGKILL a real writer process at random moments: every acknowledged batch survives whole.

The child stores numbered batches (each exactly one chunk, so one transaction) into a DuckDB
file and prints "committed K" after each one returns. The parent kills it with SIGKILL at a
seeded random moment, then checks the file. A kill can land after a commit but before its
"committed" line, so the batch in flight is either entirely stored or entirely absent;
every batch the child acknowledged is stored, and no batch is ever partly stored.
"""

from __future__ import annotations

import logging
import os
import random
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

from typer.testing import CliRunner

from learning_store import LearningConfig, create_repository
from learning_store.cli import app

log = logging.getLogger(__name__)
BATCH = 200
SEED = 20261129
KILLS = 6

WRITER = textwrap.dedent(
    """
    import sys
    sys.path.insert(0, {tests!r})
    from factories import row, unit_vector
    from learning_store import LearningConfig, create_repository
    store = create_repository({url!r}, config=LearningConfig(batch_size={batch}))
    first = store.count() // {batch}
    print("ready", first, flush=True)
    for k in range(first, first + 1000):
        store.add_many(row(k * {batch} + n, embedding=unit_vector(n)) for n in range({batch}))
        print("committed", k, flush=True)
    """
)


def batch_ids(k: int) -> set:
    from factories import task_uuid

    return {task_uuid(k * BATCH + n) for n in range(BATCH)}


def test_sigkill_at_random_moments_loses_no_acknowledged_batch(tmp_path: Path) -> None:
    url = f"duckdb:///{tmp_path / 'crash.db'}"
    script = WRITER.format(tests=str(Path(__file__).parent), url=url, batch=BATCH)
    rng = random.Random(SEED)
    acknowledged = 0  # batches the child reported as committed, over all runs
    started = time.monotonic()
    for kill in range(KILLS):
        child = subprocess.Popen(
            [sys.executable, "-c", script],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        ready = child.stdout.readline().split()
        assert ready[:1] == ["ready"], child.stderr.read()
        first = int(ready[1])
        delay = rng.uniform(0.05, 0.6)
        log.info(
            "kill %d: child %d resumes at batch %d, SIGKILL after %.3f s",
            kill,
            child.pid,
            first,
            delay,
        )
        print(f"kill {kill}: seed {SEED}, batch {first}, SIGKILL after {delay:.3f}s")
        time.sleep(delay)
        os.kill(child.pid, signal.SIGKILL)
        child.wait(timeout=30)
        lines = child.stdout.read().split("\n")
        reported = [int(line.split()[1]) for line in lines if line.startswith("committed")]
        acknowledged = first + len(reported)

        check = CliRunner().invoke(app, ["db", "check", "--url", url])
        assert check.exit_code == 0, check.output
        with create_repository(url, config=LearningConfig(batch_size=BATCH)) as store:
            stored = {
                record.task_id for chunk in store.iter_chunks(chunk_size=5000) for record in chunk
            }
        batches_stored, remainder = divmod(len(stored), BATCH)
        assert remainder == 0, "a batch was partly stored"
        assert batches_stored in (acknowledged, acknowledged + 1)  # the in-flight one: all or none
        expected = (
            set().union(*(batch_ids(k) for k in range(batches_stored))) if batches_stored else set()
        )
        assert stored == expected  # exactly the first batches, none missing, nothing else
    assert acknowledged > 0
    assert time.monotonic() - started < 120
