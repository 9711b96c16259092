"""Evaluators: how a candidate architecture is scored."""

from nasforge.evaluators.base import Evaluator, FunctionEvaluator

__all__ = ["Evaluator", "FunctionEvaluator"]
