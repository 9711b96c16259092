"""Regularized evolution (aging evolution), Real et al., AAAI 2019.

A composition of three small operators over a FIFO population: tournament
*select* (the best of ``sample_size`` members drawn uniformly with
replacement), *mutate* (one choice changed), and *replace* the oldest member.
The first ``population_size`` proposals are random.
"""

from __future__ import annotations

from collections import deque

import numpy as np

from nasforge.options import check_int
from nasforge.results import Result
from nasforge.spaces.base import Architecture, SearchSpace
from nasforge.strategies.base import Strategy


def tournament(population: list[tuple[Architecture, float]], sample_size: int,
               rng: np.random.Generator) -> Architecture:
    """The best of ``sample_size`` members drawn uniformly with replacement."""
    picks = rng.integers(len(population), size=sample_size)
    best = max(picks, key=lambda i: population[int(i)][1])
    return population[int(best)][0]


class RegularizedEvolution(Strategy):
    """Aging evolution with tournament selection (``rea``)."""

    name = "rea"

    def __init__(self, space: SearchSpace, seed: int | None = None, population_size: int = 10,
                 sample_size: int = 3) -> None:
        super().__init__(space, seed)
        self.population_size = check_int("population_size", population_size, 1)
        self.sample_size = check_int("sample_size", sample_size, 1)
        if self.sample_size > self.population_size:
            raise ValueError(f"sample_size ({sample_size}) must not exceed population_size ({population_size})")
        self.population: deque[tuple[Architecture, float]] = deque()
        self._filled = 0

    def _ask(self, rng: np.random.Generator) -> Architecture:
        if self._filled < self.population_size or not self.population:
            return self.space.sample(rng)
        parent = tournament(list(self.population), self.sample_size, rng)
        return self.space.mutate(parent, rng)

    def _tell(self, arch: Architecture, result: Result) -> None:
        if result.value is None:  # failed: not a member of the population
            return
        self.population.append((arch, float(result.value)))
        self._filled += 1
        if len(self.population) > self.population_size:
            self.population.popleft()
