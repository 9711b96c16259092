"""Regularized evolution (aging evolution), Real et al., AAAI 2019.

A composition of three small operators over a FIFO population: tournament
*select* (the best of ``sample_size`` members drawn uniformly with
replacement), *mutate* (one choice changed), and *replace* the oldest member.
The first ``population_size`` proposals are random.

Options beyond the paper's two sizes:

* ``mutation_rate``: None (the default) changes one choice per child, the
  space's ``mutate``; a rate ``p`` in (0, 1] changes each of the parent's
  ``n`` choices with probability ``p`` (at least one): ``max(1, Binomial(n, p))``
  applications of the space's ``mutate`` (one more while the child equals the
  parent), so the space's own rules (validity, conditional choices) hold for
  every child.
* ``unique``: when true, a proposal is never an architecture already told or
  pending (by ``space.key``): a mutation that gives one is drawn again (up to
  32 times, then an unseen random architecture takes its place), random
  proposals are drawn among the unseen ones, and only when the space is used
  up is a repeat proposed. Off by default, as in the paper; on a
  benchmark that charges repeats (NB201's protocol) it buys new architectures
  with the queries a repeat would spend.
"""

from __future__ import annotations

from collections import deque

import numpy as np

from nasforge.options import check_int, check_number
from nasforge.results import Result
from nasforge.spaces.base import Architecture, SearchSpace, sample_distinct
from nasforge.strategies.base import Strategy

#: mutations drawn again when ``unique`` finds the child seen
_TRIES = 32


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
                 sample_size: int = 3, mutation_rate: float | None = None, unique: bool = False) -> None:
        super().__init__(space, seed)
        self.population_size = check_int("population_size", population_size, 1)
        self.sample_size = check_int("sample_size", sample_size, 1)
        if self.sample_size > self.population_size:
            raise ValueError(f"sample_size ({sample_size}) must not exceed population_size ({population_size})")
        self.mutation_rate = None if mutation_rate is None else check_number(
            "mutation_rate", mutation_rate, 0.0, 1.0, low_open=True)
        if not isinstance(unique, bool):
            raise ValueError(f"unique must be true or false, got {unique!r}")
        self.unique = unique
        self.population: deque[tuple[Architecture, float]] = deque()
        self._filled = 0
        self._seen: set[str] = set()

    def _ask(self, rng: np.random.Generator) -> Architecture:
        if self._filled < self.population_size or not self.population:
            if not self.unique:
                return self.space.sample(rng)
            new = sample_distinct(self.space, 1, rng, exclude=self._seen | set(self.pending))
            return new[0] if new else self.space.sample(rng)
        parent = tournament(list(self.population), self.sample_size, rng)
        child = self._mutate(parent, rng)
        if not self.unique:
            return child
        for _ in range(_TRIES):
            key = self.space.key(child)
            if key not in self._seen and key not in self.pending:
                return child
            child = self._mutate(parent, rng)
        # every mutation drawn was seen (the parent's neighbourhood is used up): an unseen random one
        new = sample_distinct(self.space, 1, rng, exclude=self._seen | set(self.pending))
        return new[0] if new else child

    def _mutate(self, parent: Architecture, rng: np.random.Generator) -> Architecture:
        if self.mutation_rate is None:
            return self.space.mutate(parent, rng)
        child = parent
        for _ in range(max(1, int(rng.binomial(len(parent.choices), self.mutation_rate)))):
            child = self.space.mutate(child, rng)
        parent_key = self.space.key(parent)
        for _ in range(_TRIES):  # later changes may have undone the earlier ones: never return the parent
            if self.space.key(child) != parent_key:
                break
            child = self.space.mutate(child, rng)
        return child

    def _tell(self, arch: Architecture, result: Result) -> None:
        if self.unique:
            self._seen.add(self.space.key(arch))
        if result.value is None:  # failed: not a member of the population
            return
        self.population.append((arch, float(result.value)))
        self._filled += 1
        if len(self.population) > self.population_size:
            self.population.popleft()
