"""Telemetry: batch records from a live router into the store without losing any."""

from learning_store.telemetry.capture import MessageBus, TelemetryCapture
from learning_store.telemetry.routing import RoutingTelemetry
from learning_store.telemetry.spool import Spool
from learning_store.telemetry.stats import TelemetryStats

__all__ = ["MessageBus", "RoutingTelemetry", "Spool", "TelemetryCapture", "TelemetryStats"]
