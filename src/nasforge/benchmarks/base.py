"""Tabular benchmarks: evaluators that look results up instead of training.

A :class:`TabularBenchmark` holds one row of metrics per canonical
architecture string and answers ``evaluate`` by lookup. Which metric is the
feedback, which is reported and which (if any) is the simulated cost is what
a benchmark's *protocol* decides.

A benchmark is given its space (``space=``) or builds its default space
class directly (never through the registry); spaces never import benchmarks.
"""

from __future__ import annotations

from abc import abstractmethod
from typing import Mapping

import numpy as np

from nasforge.errors import ConfigError
from nasforge.evaluators.base import Capabilities, Evaluator
from nasforge.results import Result
from nasforge.spaces.base import Architecture, SearchSpace


class TabularBenchmark(Evaluator):
    """Answers evaluations from a table keyed by the space's canonical string.

    ``space`` is the space whose architectures are looked up; it must be an
    instance of :attr:`space_type` (None: :meth:`make_space` builds the default).
    """

    #: registered name of the space kind the table covers (what the CLI matches ``--space`` against)
    space_name: str = ""
    #: the class a given space must be an instance of
    space_type: type[SearchSpace] = SearchSpace
    #: the metric charged as cost (simulated seconds), or None
    cost_metric: str | None = None
    #: the fidelity (epochs) the feedback metric was measured at, if known
    fidelity: float | None = None

    def __init__(self, space: SearchSpace | None = None) -> None:
        self._space: SearchSpace | None = None if space is None else self.check_space(space)

    @abstractmethod
    def table(self) -> Mapping[str, Mapping[str, float]]:
        """Canonical architecture string -> metrics (loaded lazily, cached)."""

    def columns(self) -> tuple[str, ...]:
        """The metric columns of the table (every row holds them). By default read from the first row;
        benchmarks that know their columns override this so that it needs no data."""
        first = next(iter(self.table().values()), None)
        return tuple(first) if first is not None else ()

    def prepare(self) -> None:
        """Load the table now, so a missing data file stops the search before its first trial."""
        self.table()

    def check_space(self, space: SearchSpace) -> SearchSpace:
        """``space`` if the table covers its architectures, else a ConfigError saying what is needed."""
        if not isinstance(space, self.space_type):
            raise ConfigError(
                f"{type(self).__name__} looks up architectures of a {self.space_type.__name__} "
                f"(space {self.space_name!r}); got {type(space).__name__} {getattr(space, 'name', None)!r}")
        return space

    def make_space(self) -> SearchSpace:
        """The default space, when none was given: ``space_type()``."""
        return self.space_type()

    @property
    def space(self) -> SearchSpace:
        if self._space is None:
            self._space = self.make_space()
        return self._space

    @property
    def provides_cost(self) -> bool:  # type: ignore[override]
        return self.cost_metric is not None

    def capabilities(self) -> Capabilities:
        """One fidelity (a table answers the same row whatever fidelity is asked), cost when the
        protocol charges a column (simulated: the recorded training time), and the table's metric columns."""
        charged = self.cost_metric is not None
        return Capabilities(fidelity=None, reports_cost=charged, metrics=self.columns(), simulated_cost=charged)

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
