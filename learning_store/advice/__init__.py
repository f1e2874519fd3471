"""Routing advice: which tier to run a task on, from the history, and how good that advice is."""

from learning_store.advice.evaluation import Evaluation, evaluate
from learning_store.advice.recommend import recommend_tier

__all__ = ["Evaluation", "evaluate", "recommend_tier"]
