"""The one ranking rule every backend shares, checked against a brute-force reference."""

from __future__ import annotations

from uuid import UUID

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from learning_store.similarity import SCORE_DECIMALS, top_matches


def reference(scores: np.ndarray, task_ids: list[UUID], limit: int, threshold: float):
    """Round every score, drop those under the threshold, sort all, take the first `limit`."""
    rounded = [float(np.round(np.float64(score), SCORE_DECIMALS)) for score in scores]
    rows = [row for row in range(len(scores)) if rounded[row] >= threshold]
    rows.sort(key=lambda row: (-rounded[row], -task_ids[row].int))
    return [(row, float(scores[row])) for row in rows[:limit]]


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.integers(-2_000_000, 2_000_000) | st.just(None), min_size=0, max_size=60
    ),  # scores in millionths, with excluded rows (None)
    st.integers(0, 12),
    st.sampled_from([-1.0, -0.5, 0.0, 0.3, 0.7]),
    st.sampled_from([0.0, 4e-7, -4e-7, 2.5e-7]),
    st.randoms(use_true_random=False),
)
def test_top_matches_equals_sorting_everything(
    millionths: list[int | None], limit: int, threshold: float, jitter: float, random
) -> None:
    """Near-ties straddle every rounding boundary: jitter moves scores less than half a unit."""
    scores = np.array(
        [-np.inf if value is None else value / 2_000_000 + jitter for value in millionths],
        dtype=np.float32,
    )
    task_ids = [UUID(int=random.getrandbits(128)) for _ in millionths]
    assert top_matches(scores, task_ids, limit, threshold) == reference(
        scores, task_ids, limit, threshold
    )


def test_ties_at_the_limit_go_to_the_larger_task_id() -> None:
    scores = np.array([0.9, 0.8, 0.8, 0.8, 0.1], dtype=np.float32)
    task_ids = [UUID(int=n) for n in (5, 1, 3, 2, 9)]
    assert [row for row, _ in top_matches(scores, task_ids, 2, 0.0)] == [0, 2]
