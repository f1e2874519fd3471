"""`learning-store bench`: the measurements behind every speed claim.

`run` orders them; `writes`, `search` and `bulk` measure against the engine or numpy alone;
`scale` is `bench --scale N` (similarity at millions of rows, on the user's path);
`common` holds the options, results, test data and targets they share.
"""

from learning_store.bench.common import (
    TARGETS,
    BenchOptions,
    BenchResult,
    make_records,
    meets_target,
)
from learning_store.bench.run import run_benchmark

__all__ = [
    "TARGETS",
    "BenchOptions",
    "BenchResult",
    "make_records",
    "meets_target",
    "run_benchmark",
]
