"""NSGA-II, Deb et al., "A fast and elitist multiobjective genetic algorithm: NSGA-II" (IEEE TEC 2002).

A generational, elitist genetic algorithm for one or several objectives. The
first ``population_size`` proposals are random; after that each generation's
offspring come from parents chosen by binary tournament on (non-domination
rank, crowding distance), recombined by ``space.crossover`` with probability
``crossover_prob`` and changed by ``space.mutate`` with probability
``mutation_prob`` (a child identical to a parent is always mutated). When
``population_size`` results have come back since the last selection, the
parents and those results are merged and the next parents are chosen by
non-dominated sorting and crowding distance. Failed results are counted but
never selected.

Objectives are ``'metric:max'`` / ``'metric:min'`` specs read from
``result.metrics`` (see :mod:`nasforge.pareto`); the name ``objective`` means
``result.value``, the study's single objective, which is the default. So
on one objective NSGA-II is a (mu + lambda) genetic algorithm with
tournament selection.

The defaults (population 10, crossover 0.9, mutation 1.0) suit budgets of
about a hundred evaluations; larger budgets and fronts want larger
populations.

Ask/tell: a generation's offspring wait in a queue and are proposed one by
one; when the queue is empty while results are outstanding (parallel
workers), another batch is bred from the current parents; a selection drops
offspring still queued from the old parents. Proposals avoid architectures
already told or pending when a fresh one can be found.

:meth:`NSGA2.pareto_set` is the non-dominated set of everything told. (A
study's ``best_trial()`` still ranks by the study objective;
:func:`nasforge.pareto.pareto_front` gives the front of a study's trials.)
"""

from __future__ import annotations

from typing import Callable, Sequence

import numpy as np

from nasforge.pareto import crowding_distance, non_dominated_sort, objective_matrix, parse_objectives
from nasforge.options import check_int, check_probability
from nasforge.results import Result
from nasforge.spaces.base import Architecture, SearchSpace
from nasforge.strategies.base import Strategy

#: the objective name that means ``result.value`` rather than a metric
STUDY_OBJECTIVE = "objective"
#: attempts at breeding an architecture not seen before, before accepting a repeat
FRESH_TRIES = 20


def result_values(result: Result, objectives: Sequence[tuple[str, float]]) -> np.ndarray:
    """The signed objective row of a complete result (larger is better in every column)."""
    metrics = {**result.metrics, STUDY_OBJECTIVE: result.value}
    try:
        return objective_matrix([metrics], objectives)[0]
    except KeyError as exc:  # a configuration error: say which metric and what there is
        raise ValueError(f"{exc.args[0]}; the name {STUDY_OBJECTIVE!r} means the study's objective") from None


class NSGA2(Strategy):
    """NSGA-II: non-dominated sorting genetic algorithm (``nsga2``)."""

    name = "nsga2"

    def __init__(self, space: SearchSpace, seed: int | None = None,
                 objectives: str | Sequence[str] | None = None, population_size: int = 10,
                 crossover_prob: float = 0.9, mutation_prob: float = 1.0) -> None:
        super().__init__(space, seed)
        self.objectives = objectives
        if objectives is None:
            self._objectives = [(STUDY_OBJECTIVE, 1.0)]
        elif isinstance(objectives, (str, list, tuple)):
            self._objectives = parse_objectives(objectives)
        else:
            raise ValueError(f"objectives must be a list or comma-separated string of 'metric:max' / "
                             f"'metric:min' specs, got {objectives!r}")
        self.population_size = check_int("population_size", population_size, 1)
        self.crossover_prob = check_probability("crossover_prob", crossover_prob)
        self.mutation_prob = check_probability("mutation_prob", mutation_prob)
        # every complete result told: architecture, key, signed objective row
        self._archs: list[Architecture] = []
        self._keys: list[str] = []
        self._values: list[np.ndarray] = []
        self._seen: set[str] = set()
        self._parents: list[int] = []          # indices into the told records
        self._rank: list[int] = []             # per parent: its front
        self._crowd: list[float] = []          # per parent: crowding distance within its front
        self._pool: list[int] = []             # complete results told since the last selection
        self._pool_told = 0                    # results (complete or failed) told since then
        self._queue: list[Architecture] = []   # bred offspring not yet proposed

    # -- ask ------------------------------------------------------------------------
    def _ask(self, rng: np.random.Generator) -> Architecture:
        if not self._queue:
            if not self._parents:  # the initial population (or everything so far failed)
                return self._fresh(lambda: self.space.sample(rng))
            self._queue = self._breed(rng, self.population_size)[::-1]
        return self._queue.pop()

    def _taken(self) -> set[str]:
        return self._seen | set(self.pending) | {self.space.key(a) for a in self._queue}

    def _fresh(self, make: Callable[[], Architecture], taken: set[str] | None = None) -> Architecture:
        """``make()`` again (up to FRESH_TRIES times) while it returns an architecture in ``taken``."""
        taken = self._taken() if taken is None else taken
        arch = make()
        for _ in range(FRESH_TRIES - 1):
            if self.space.key(arch) not in taken:
                break
            arch = make()
        return arch

    def _tournament(self, rng: np.random.Generator) -> int:
        """Binary tournament on (lower rank, larger crowding distance); a position in ``_parents``."""
        n = len(self._parents)
        if n == 1:
            return 0
        i, j = (int(x) for x in rng.choice(n, size=2, replace=False))
        if (self._rank[j], -self._crowd[j]) < (self._rank[i], -self._crowd[i]):
            return j
        return i

    def _child(self, rng: np.random.Generator) -> Architecture:
        a = self._archs[self._parents[self._tournament(rng)]]
        child = a
        parents = {a}
        if len(self._parents) > 1 and rng.random() < self.crossover_prob:
            b = self._archs[self._parents[self._tournament(rng)]]
            parents.add(b)
            child = self.space.crossover(a, b, rng)
        if child in parents or rng.random() < self.mutation_prob:
            child = self.space.mutate(child, rng)
        return child

    def _breed(self, rng: np.random.Generator, n: int) -> list[Architecture]:
        taken = self._taken()
        out = []
        for _ in range(n):
            child = self._fresh(lambda: self._child(rng), taken)
            taken.add(self.space.key(child))
            out.append(child)
        return out

    # -- tell -----------------------------------------------------------------------
    def _tell(self, arch: Architecture, result: Result) -> None:
        key = self.space.key(arch)
        self._seen.add(key)
        if result.value is not None:
            self._values.append(result_values(result, self._objectives))
            self._archs.append(arch)
            self._keys.append(key)
            self._pool.append(len(self._archs) - 1)
        self._pool_told += 1
        if self._pool_told >= self.population_size:
            self._select()

    def _select(self) -> None:
        """Environmental selection: the best ``population_size`` of parents + new results by
        (front, crowding distance), one per architecture; a new generation is bred next ask."""
        keys, cand = set(), []
        for i in self._parents + self._pool:
            if self._keys[i] not in keys:
                keys.add(self._keys[i])
                cand.append(i)
        self._pool, self._pool_told, self._queue = [], 0, []
        if not cand:
            return
        vals = np.stack([self._values[i] for i in cand])
        parents, rank, crowd = [], [], []
        for r, front in enumerate(non_dominated_sort(vals)):
            dist = crowding_distance(vals[front])
            room = self.population_size - len(parents)
            order = np.argsort(-dist, kind="stable")[:room] if len(front) > room else range(len(front))
            for k in order:
                parents.append(cand[front[int(k)]])
                rank.append(r)
                crowd.append(float(dist[int(k)]))
            if len(parents) >= self.population_size:
                break
        self._parents, self._rank, self._crowd = parents, rank, crowd

    # -- results --------------------------------------------------------------------
    def pareto_set(self) -> list[tuple[Architecture, tuple[float, ...]]]:
        """The non-dominated architectures among every complete result told, one per architecture,
        with their objective values (unsigned, in the order of the objectives), best first by
        the first objective."""
        first: dict[str, int] = {}
        for i, key in enumerate(self._keys):
            first.setdefault(key, i)
        idx = list(first.values())
        if not idx:
            return []
        vals = np.stack([self._values[i] for i in idx])
        signs = np.array([s for _, s in self._objectives])
        front = sorted(non_dominated_sort(vals)[0], key=lambda k: (-vals[k, 0], k))
        return [(self._archs[idx[k]], tuple(float(v) for v in vals[k] * signs)) for k in front]

    def population(self) -> list[tuple[Architecture, tuple[float, ...]]]:
        """The current parents with their objective values (unsigned)."""
        signs = np.array([s for _, s in self._objectives])
        return [(self._archs[i], tuple(float(v) for v in self._values[i] * signs)) for i in self._parents]
