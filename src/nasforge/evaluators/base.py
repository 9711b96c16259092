"""The evaluator contract: ``evaluate(arch, fidelity) -> Result``.

An evaluator scores one architecture and never chooses architectures. It
names the metric strategies maximise (``objective``) and the metric a search
reports at the end (``report``), which differ under a sound protocol
(select on validation accuracy, report test accuracy).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any, Callable, Mapping

import numpy as np

from nasforge.results import Result
from nasforge.spaces.base import Architecture


@dataclass(frozen=True)
class FidelityRange:
    """The budgets an evaluator accepts as ``fidelity``: ``name`` (e.g. ``epochs``) from ``low`` to ``high``.

    ``default`` is used when ``evaluate`` gets ``fidelity=None``; ``integer`` says the
    budget is a whole number (epochs), so a multi-fidelity strategy rounds its rungs.
    """

    name: str
    low: float
    high: float
    default: float
    integer: bool = True

    def __post_init__(self) -> None:
        if not (0 < self.low <= self.default <= self.high):
            raise ValueError(f"fidelity range {self.name!r} needs 0 < low <= default <= high, got "
                             f"low={self.low!r}, default={self.default!r}, high={self.high!r}")


@dataclass(frozen=True)
class Capabilities:
    """What an evaluator can do, declared rather than guessed.

    ``fidelity`` is None when every evaluation has one fidelity (a tabular lookup that answers
    the same row whatever budget is asked); ``reports_cost`` says whether ``Result.cost`` is
    meaningful (so a seconds budget can be used); ``metrics`` names the metrics every complete
    result holds (objectives and constraints may use them; empty: not declared). Multi-fidelity strategies read
    ``fidelity`` (:meth:`~nasforge.strategies.base.Strategy.adapt`), the study checks budgets,
    objectives and constraints against the rest.
    """

    fidelity: FidelityRange | None = None
    reports_cost: bool = False
    metrics: tuple[str, ...] = ()
    #: whether the cost is simulated (a tabular benchmark's recorded training time) rather than measured
    simulated_cost: bool = False


class Evaluator(ABC):
    """Scores architectures. Subclasses set ``objective`` and ``report`` and implement :meth:`evaluate`.

    ``objective`` names the metric strategies maximise by default (a study may choose other
    objectives among ``capabilities().metrics``); :meth:`capabilities` declares fidelities,
    cost and metrics.
    """

    #: the metric strategies maximise (feedback)
    objective: str = "objective"
    #: the metric reported for the final choice
    report: str = "objective"
    #: whether ``Result.cost`` is meaningful, so a seconds budget can be used
    provides_cost: bool = False
    #: a caveat every output of a search using this evaluator must show (or None)
    warning: str | None = None

    @abstractmethod
    def evaluate(self, arch: Architecture, fidelity: float | None = None) -> Result:
        """Evaluate one architecture. May raise; the study records the error as a failed trial."""

    def capabilities(self) -> Capabilities:
        """What this evaluator can do. The default: one fidelity, cost as ``provides_cost`` says,
        the ``objective`` and ``report`` metrics."""
        return Capabilities(None, bool(self.provides_cost), tuple(dict.fromkeys((self.objective, self.report))))

    def prepare(self) -> None:
        """Called once when a study starts: load data, raise configuration errors early. No-op by default."""

    def describe(self) -> dict[str, Any]:
        """Plain configuration (stored with a study so a resume can check it)."""
        return {"evaluator": type(self).__name__, "objective": self.objective, "report": self.report}


def check_buildable(space: Any, build: Callable[[Any], Any], tries: int = 5, seed: int = 0) -> None:
    """Build sampled architectures with ``build(arch)`` until one succeeds, so a space that cannot serve a
    task fails before any trial; raises the first error only when all ``tries`` fail (a space may hold
    some architectures that cannot be built: their trials fail, the search goes on)."""
    rng = np.random.default_rng(seed)
    first: BaseException | None = None
    for _ in range(tries):
        try:
            build(space.sample(rng))
            return
        except Exception as exc:  # noqa: PERF203 - a few tries at most
            first = first or exc
    assert first is not None
    raise first


class FunctionEvaluator(Evaluator):
    """Wraps a plain function ``fn(arch) -> float | dict`` (handy in notebooks and tests).

    A float is the objective; a dict must hold the ``objective`` metric.
    ``cost`` is a number or a function of the architecture. ``metrics`` declares
    the metrics the function returns (so a study can check objectives and
    constraints before the first trial); None leaves them undeclared.
    """

    def __init__(self, fn: Callable[[Architecture], float | Mapping[str, float]], objective: str = "objective",
                 report: str | None = None, cost: float | Callable[[Architecture], float] = 0.0,
                 metrics: tuple[str, ...] | list[str] | None = None) -> None:
        self.fn = fn
        self.objective = objective
        self.report = report or objective
        self.cost = cost
        self.metrics = metrics
        self.provides_cost = callable(cost) or cost > 0

    def capabilities(self) -> Capabilities:
        return Capabilities(None, bool(self.provides_cost), tuple(self.metrics or ()))

    def evaluate(self, arch: Architecture, fidelity: float | None = None) -> Result:
        out = self.fn(arch)
        metrics = dict(out) if isinstance(out, Mapping) else {self.objective: float(out)}
        if self.objective not in metrics:
            raise KeyError(f"evaluation function returned {sorted(metrics)}, without the objective {self.objective!r}")
        cost = self.cost(arch) if callable(self.cost) else self.cost
        return Result(metrics=metrics, value=float(metrics[self.objective]), cost=float(cost), fidelity=fidelity)
