"""`TelemetryStats`: where every record a `RoutingTelemetry` took in is now."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class TelemetryStats:
    """A consistent snapshot of the telemetry counters.

    Every record taken in (`recorded` by this instance, or `replayed` from a spool) is in
    exactly one state: stored, duplicate, rejected, dropped, pending (in memory, including
    a write under way) or spooled (on disk), so `balanced` is always true.
    """

    recorded: int = 0
    replayed: int = 0
    stored: int = 0
    duplicates: int = 0
    rejected: int = 0
    dropped: int = 0
    pending: int = 0
    spooled: int = 0
    flushes: int = 0
    failed_flushes: int = 0
    orphaned_decisions: int = 0
    orphaned_outcomes: int = 0
    awaiting_outcome: int = 0
    awaiting_decision: int = 0
    feedback_applied: int = 0
    """Feedback items written (to a buffered record or to the store)."""
    feedback_waiting: int = 0
    """Feedback held until its record is recorded or written (not in the balance)."""

    @property
    def balanced(self) -> bool:
        """Recorded + replayed == stored + duplicates + rejected + dropped + pending + spooled."""
        taken_in = self.recorded + self.replayed
        accounted = (
            self.stored
            + self.duplicates
            + self.rejected
            + self.dropped
            + self.pending
            + self.spooled
        )
        return taken_in == accounted
