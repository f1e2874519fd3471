"""From a router's scores to RouteLLM's numbers: accuracy against the share of strong calls.

The top-k scored test questions go to the strong tier, k = 0..n; the curve is taken at
101 evenly spaced shares. APGR is the area under it above the weak tier's accuracy, over
the strong tier's gain; CPT(x) the smallest share of strong calls that recovers x of it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

SHARES = np.linspace(0.0, 1.0, 101)


@dataclass(frozen=True)
class RouterResult:
    """One router's curve and the numbers read off it."""

    name: str
    accuracy: list[float] = field(repr=False)
    apgr: float
    cpt_50: float | None
    cpt_80: float | None
    accuracy_at: dict[str, float]

    def to_dict(self) -> dict[str, object]:
        """JSON-ready (the curve as 101 accuracies, shares 0.00 to 1.00)."""
        return {
            "name": self.name,
            "apgr": self.apgr,
            "cpt_50": self.cpt_50,
            "cpt_80": self.cpt_80,
            "accuracy_at": self.accuracy_at,
            "accuracy": self.accuracy,
        }


def router_result(
    name: str, scores: np.ndarray, weak: np.ndarray, strong: np.ndarray
) -> RouterResult:
    """Score one router: `scores` rank the test questions, highest to the strong tier first."""
    order = np.argsort(-np.asarray(scores, dtype=np.float64), kind="stable")
    gain = (strong.astype(np.float64) - weak.astype(np.float64))[order]
    base = float(weak.mean())
    cumulative = np.concatenate([[0.0], np.cumsum(gain)])
    count = len(order)
    accuracy = base + cumulative[np.rint(SHARES * count).astype(int)] / count
    low, high = base, float(strong.mean())
    span = high - low
    area = float(np.sum((accuracy[1:] + accuracy[:-1]) / 2) * (SHARES[1] - SHARES[0]))
    apgr = (area - low) / span if span > 0 else float("nan")
    return RouterResult(
        name,
        accuracy.tolist(),
        apgr,
        _cost_to_reach(accuracy, low, span, 0.5),
        _cost_to_reach(accuracy, low, span, 0.8),
        {f"{int(share * 100)}%": float(accuracy[int(share * 100)]) for share in (0.25, 0.5, 0.75)},
    )


def _cost_to_reach(accuracy: np.ndarray, low: float, span: float, part: float) -> float | None:
    """The smallest share of strong calls whose accuracy recovers `part` of the gap."""
    if span <= 0:
        return None
    reached = np.flatnonzero(accuracy >= low + part * span - 1e-12)
    return float(SHARES[reached[0]]) if reached.size else None
