"""Evaluators: how a candidate architecture is scored.

``base`` holds the contract (:class:`Evaluator`, :class:`Capabilities`,
:class:`FidelityRange`) and :class:`FunctionEvaluator`; ``training`` trains
networks (:class:`~nasforge.evaluators.training.TrainingEvaluator`);
``hardware`` measures them (parameters, FLOPs, latency) and reports those
without training (:class:`~nasforge.evaluators.hardware.HardwareEvaluator`);
``zero_cost`` and ``proxy_study`` score untrained networks. The training and
hardware evaluators are loaded on first use.
"""

from typing import Any

from nasforge.evaluators.base import Capabilities, Evaluator, FidelityRange, FunctionEvaluator

_LAZY = {"TrainingEvaluator": "nasforge.evaluators.training", "HardwareEvaluator": "nasforge.evaluators.hardware"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'nasforge.evaluators' has no attribute {name!r}")


__all__ = ["Evaluator", "FunctionEvaluator", "Capabilities", "FidelityRange", "TrainingEvaluator",
           "HardwareEvaluator"]
