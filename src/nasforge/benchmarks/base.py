"""Tabular benchmarks: evaluators that look results up instead of training.

A :class:`TabularBenchmark` holds one row of metrics per canonical
architecture string and answers ``evaluate`` by lookup. Which metric is the
feedback, which is reported and which (if any) is the simulated cost is what
a benchmark's *protocol* decides.
"""

from __future__ import annotations

from abc import abstractmethod
from typing import Any, Mapping

import numpy as np

from nasforge.evaluators.base import Evaluator
from nasforge.results import Result
from nasforge.spaces.base import Architecture, SearchSpace


def check_option(kind: str, value: Any, accepted: Any) -> Any:
    """Raise ``ValueError: unknown <kind> 'x'; accepted: a, b`` unless ``value`` is accepted."""
    if value not in accepted:
        raise ValueError(f"unknown {kind} {value!r}; accepted: {', '.join(map(str, accepted))}")
    return value


class TabularBenchmark(Evaluator):
    """Answers evaluations from a table keyed by the space's canonical string."""

    #: name of the registered space whose architectures the table covers
    space_name: str = ""
    #: the metric charged as cost (simulated seconds), or None
    cost_metric: str | None = None
    #: the fidelity (epochs) the feedback metric was measured at, if known
    fidelity: float | None = None

    def __init__(self) -> None:
        self._space: SearchSpace | None = None

    @abstractmethod
    def table(self) -> Mapping[str, Mapping[str, float]]:
        """Canonical architecture string -> metrics (loaded lazily, cached)."""

    def prepare(self) -> None:
        """Load the table now, so a missing data file stops the search before its first trial."""
        self.table()

    def make_space(self) -> SearchSpace:
        from nasforge.registry import create_space

        return create_space(self.space_name)

    @property
    def space(self) -> SearchSpace:
        if self._space is None:
            self._space = self.make_space()
        return self._space

    @property
    def provides_cost(self) -> bool:  # type: ignore[override]
        return self.cost_metric is not None

    def evaluate(self, arch: Architecture, fidelity: float | None = None) -> Result:
        key = self.space.key(arch)
        row = self.table().get(key)
        if row is None:
            return Result.failure(f"{key!r} is not in the {self.describe()['benchmark']} table")
        cost = float(row[self.cost_metric]) if self.cost_metric else 0.0
        return Result(metrics=dict(row), value=float(row[self.objective]), cost=cost,
                      fidelity=self.fidelity if fidelity is None else fidelity)

    def column(self, metric: str) -> np.ndarray:
        """All values of one metric over the table (for averages and optima)."""
        return np.array([row[metric] for row in self.table().values()], dtype=float)

    def random_average(self) -> float:
        """Mean reported metric over every architecture: the "average random architecture"."""
        return float(np.mean(self.column(self.report)))

    def best_possible(self) -> float:
        """The best reported metric any architecture in the table reaches."""
        return float(np.max(self.column(self.report)))
