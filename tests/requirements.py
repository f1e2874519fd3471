"""Skipping a test for a missing capability, unless the run forbids that skip.

`.ci/run` sets `LEARNING_STORE_REQUIRE_<NAME>=1` for every capability CI has (PostgreSQL,
the real model, a mountable tmpfs), so there a missing one fails the run instead of
skipping silently.
"""

from __future__ import annotations

import os
from typing import NoReturn

import pytest


def skip_unless_required(requirement: str, reason: str) -> NoReturn:
    """Skip with `reason`, or fail when LEARNING_STORE_REQUIRE_<requirement>=1."""
    variable = f"LEARNING_STORE_REQUIRE_{requirement}"
    if os.environ.get(variable) == "1":
        pytest.fail(f"{reason}, and {variable}=1 forbids skipping")
    pytest.skip(reason, allow_module_level=True)


def import_or_skip(module: str, requirement: str, reason: str) -> None:
    """Import `module`, or skip (fail where required) when it is not installed."""
    try:
        __import__(module)
    except ImportError:
        skip_unless_required(requirement, reason)
