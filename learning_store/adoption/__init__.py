"""Adopting a database the original system wrote: survey, convert in SQL, swap safely."""

from learning_store.adoption.adopt import ORIGINAL_MODEL, adopt
from learning_store.adoption.survey import AdoptionReport

__all__ = ["ORIGINAL_MODEL", "AdoptionReport", "adopt"]
