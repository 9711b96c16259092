"""NNI 3 NAS strategies on a nasforge space, in this process (no web server, no experiment manager).

The pieces are NNI's public NAS API: a ``RawFormatModelSpace`` whose model
space is a ``MutableDict`` of one ``Categorical`` per choice, a
``FunctionalEvaluator`` whose function looks the sample up and calls
``nni.report_final_result``, and a ``SequentialExecutionEngine`` (runs each
submitted model at once, in this process) whose ``budget_available`` is the
nasforge budget. NNI strategies check ``budget_available`` before every
submission (``Strategy.wait_for_resource``), which is Study's rule.
"""

from __future__ import annotations

import logging
import random
import warnings
from typing import Any

import numpy as np

with warnings.catch_warnings():  # importing nni.nas warns about torch classes it does not know
    warnings.simplefilter("ignore")
    import nni
    from nni.mutable import Categorical, MutableDict
    from nni.nas.evaluator import FunctionalEvaluator
    from nni.nas.execution import SequentialExecutionEngine
    from nni.nas.space import RawFormatModelSpace
    from nni.nas.strategy import Random, RegularizedEvolution
    from nni.nas.strategy.base import Strategy

from nasforge.peers import PeerRun

WORST = float("-inf")


class _Sample(dict):  # type: ignore[type-arg]
    """A frozen sample; a dict subclass because RawFormatModelSpace keeps a weak reference to it."""


class ChoiceDict(MutableDict):
    """NNI's MutableDict, freezing to a weak-referenceable dict of choice values."""

    def freeze(self, sample: Any) -> _Sample:
        return _Sample(super().freeze(sample))


class BudgetEngine(SequentialExecutionEngine):
    """NNI's in-process sequential engine with nasforge's trial and simulated-seconds budgets."""

    def __init__(self, run: PeerRun) -> None:
        super().__init__()
        self.run = run

    def budget_available(self) -> bool:
        return self.run.may_start()


def make_strategy(name: str, seed: int) -> Strategy:
    if name == "nni-random":
        return Random(seed=seed)
    if name == "nni-rea":
        return RegularizedEvolution(population_size=10, sample_size=3, seed=seed)
    raise ValueError(f"not an NNI peer: {name!r}")


def run(name: str, run: PeerRun, seed: int) -> None:
    def lookup(model: dict[str, Any]) -> None:
        objective = run.evaluate(run.active_values(model))
        nni.report_final_result(WORST if objective is None else objective)

    space = ChoiceDict({c.name: Categorical(list(c.options), label=c.name) for c in run.space.choices})
    model_space = RawFormatModelSpace(space, FunctionalEvaluator(lookup))
    nni_logger = logging.getLogger("nni")
    old_level = nni_logger.level
    nni_logger.setLevel(logging.ERROR)
    py_state, np_state = random.getstate(), np.random.get_state()
    random.seed(seed)
    np.random.seed(seed % 2**32)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            strategy = make_strategy(name, seed)
            strategy(model_space, BudgetEngine(run))
    finally:
        random.setstate(py_state)
        np.random.set_state(np_state)
        nni_logger.setLevel(old_level)
