"""Routing advice: which tier to run a task on, from the history, and how good that advice is."""

from learning_store.advice.evaluation import Evaluation, evaluate
from learning_store.advice.recommend import AdviceRequest, recommend_tier

__all__ = ["AdviceRequest", "Evaluation", "evaluate", "recommend_tier"]
