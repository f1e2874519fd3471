"""Routing advice: which tier to run a task on, from the history, and how good that advice is."""

from learning_store.advice.estimator import AdviceFit
from learning_store.advice.evaluation import Evaluation, evaluate
from learning_store.advice.fitting import FitReport, fitted_parameters
from learning_store.advice.recommend import AdviceRequest, fit_advice, recommend_tier

__all__ = [
    "AdviceFit",
    "AdviceRequest",
    "Evaluation",
    "FitReport",
    "evaluate",
    "fit_advice",
    "fitted_parameters",
    "recommend_tier",
]
