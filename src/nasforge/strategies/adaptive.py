"""Aging evolution whose variation operator is chosen by Q-learning (``adaptive-ea``).

The idea of HHNAS-AM (Tripathi et al., "Hierarchical Hybrid Neural
Architecture Search using Adaptive Mutation Policies", arXiv 2508.14946,
2025): instead of one fixed mutation, keep several and learn from the
search's own feedback which of them to apply.

The search is regularized (aging) evolution: the first ``population_size``
proposals are random, then each proposal is a child of the best of
``sample_size`` members drawn from a FIFO population, and each result joins
the population, pushing out the oldest. The child is made by one operator
from a set built generically from the space's choices:

* ``mutate``: ``space.mutate`` (one choice changed);
* ``mutate-2``: two distinct choices changed;
* ``crossover``: ``space.crossover`` with a second tournament winner
  (mutated when it equals a parent);
* ``group:<g>``: one choice changed inside group ``g``, where groups are the
  first part of the choice names (``s0`` of ``s0.b1.kernel``, the node ``2``
  of NB201's edge ``2<-1``), when there are 2 to ``MAX_GROUPS`` of them;
* ``resample-group``: every choice of one group drawn afresh ("re-sample one
  stage"), when some group has several choices.

Operators are chosen epsilon-greedily from Q values: with probability
``epsilon`` uniformly, otherwise one with the largest Q (ties at random;
every operator is tried once first). When a child's result comes back, the
reward of its operator is the child's improvement over its parent,
``max(0, child - parent)`` (0 when it failed), and

    Q(s, a) += alpha * (reward + gamma * max_b Q(s', b) - Q(s, a))

(no bootstrap after a failure). With ``state='none'`` (the default) there is
one state, so s = s' and the operators' values are learned from every
application; with ``state='parent-operator'`` the state is the operator that
made the parent (``random`` for a random sample) and s' is the operator just
applied, so the method can learn which operator to follow which, at the
price of a table (operators + 1) times larger to fill. Which operator made
which pending child is kept until the child is told, so results may come back
in any order.

On NAS-Bench-201 (6 choices of 5 ops) the operators are much alike and the
learned choice does no better than a uniform one (``epsilon=1``). It helps
where operators differ: on a synthetic space where only one group of 6 of 18
choices matters, the mean best score after 100 trials was 49.8 against 48.9
with ``epsilon=1`` (100 seeds, standard errors about 0.25).
"""

from __future__ import annotations

import re
from collections import deque
from dataclasses import dataclass
from typing import Hashable

import numpy as np

from nasforge.options import check_choice, check_int, check_number
from nasforge.results import Result
from nasforge.spaces.base import Architecture, InvalidArchitectureError, SearchSpace, sample_distinct
from nasforge.strategies.base import Strategy

#: attempts at making an architecture not seen before, before accepting a repeat
FRESH_TRIES = 20
#: a name splits into groups at its first '.', '<-', '->', '/', ':' or '['
_GROUP_SEP = re.compile(r"\.|<-|->|/|:|\[")
MAX_GROUPS = 8
STATES = ("none", "parent-operator")


@dataclass(frozen=True)
class Operator:
    """One way of making a child: ``kind`` with the choice names (or groups) it works on."""

    name: str
    kind: str  # mutate | mutate-k | crossover | group | resample
    names: tuple[str, ...] = ()
    groups: tuple[tuple[str, ...], ...] = ()
    k: int = 1


def choice_groups(space: SearchSpace) -> dict[str, tuple[str, ...]]:
    """Choice names grouped by the first part of their name, in space order."""
    groups: dict[str, list[str]] = {}
    for c in space.choices:
        groups.setdefault(_GROUP_SEP.split(c.name, maxsplit=1)[0], []).append(c.name)
    return {g: tuple(names) for g, names in groups.items()}


def build_operators(space: SearchSpace) -> list[Operator]:
    """The operator set of a space (see the module docstring)."""
    mutable = tuple(c.name for c in space.choices if len(c.options) > 1)
    ops = [Operator("mutate", "mutate")]
    if len(mutable) > 1:
        ops.append(Operator("mutate-2", "mutate-k", mutable, k=2))
    ops.append(Operator("crossover", "crossover"))
    groups = {g: tuple(n for n in names if n in mutable) for g, names in choice_groups(space).items()}
    groups = {g: names for g, names in groups.items() if names}
    if 2 <= len(groups) <= MAX_GROUPS:
        ops += [Operator(f"group:{g}", "group", names) for g, names in groups.items()]
        if any(len(names) > 1 for names in groups.values()):  # else it is just "mutate"
            ops.append(Operator("resample-group", "resample", groups=tuple(groups.values())))
    return ops


def _make(space: SearchSpace, values: dict[str, Hashable]) -> Architecture | None:
    try:
        return space.make(values)
    except InvalidArchitectureError:
        return None


class AdaptiveEvolution(Strategy):
    """Aging evolution with operators chosen by epsilon-greedy Q-learning (``adaptive-ea``)."""

    name = "adaptive-ea"

    def __init__(self, space: SearchSpace, seed: int | None = None, population_size: int = 30,
                 sample_size: int = 20, epsilon: float = 0.2, alpha: float = 0.3, gamma: float = 0.5,
                 state: str = "none") -> None:
        super().__init__(space, seed)
        self.population_size = check_int("population_size", population_size, 1)
        self.sample_size = check_int("sample_size", sample_size, 1)
        if self.sample_size > self.population_size:
            raise ValueError(f"sample_size ({sample_size}) must not exceed population_size ({population_size})")
        self.epsilon = check_number("epsilon", epsilon, 0.0, 1.0)
        self.alpha = check_number("alpha", alpha, 0.0, 1.0, low_open=True)
        self.gamma = check_number("gamma", gamma, 0.0, 1.0, high_open=True)
        self.state = check_choice("state", state, STATES)
        self.operators = build_operators(space)
        n = len(self.operators)
        self._random = n  # the origin of a random sample
        self._q = np.zeros((1 if state == "none" else n + 1, n))
        self._uses = np.zeros_like(self._q, dtype=int)
        # members: (arch, objective, origin = the operator that made it, or _random)
        self.population: deque[tuple[Architecture, float, int]] = deque()
        self._filled = 0
        self._seen: set[str] = set()
        self._made: dict[str, deque[tuple[int, int, float]]] = {}  # key -> (operator, Q row, parent objective)

    @property
    def operator_names(self) -> list[str]:
        return [op.name for op in self.operators]

    # -- ask ------------------------------------------------------------------------
    def _ask(self, rng: np.random.Generator) -> Architecture:
        taken = self._seen | set(self.pending)
        if self._filled < self.population_size or not self.population:
            new = sample_distinct(self.space, 1, rng, taken, tries=FRESH_TRIES)
            return new[0] if new else self.space.sample(rng)
        parent, parent_obj, origin = self._tournament(rng)
        row = self._row(origin)
        a = self._choose(row, rng)
        child = self._fresh(a, parent, taken, rng)
        if child is None and a != 0:  # the operator finds nothing new here: plain mutation instead
            a = 0
            child = self._fresh(a, parent, taken, rng)
        if child is None:
            child = self.space.mutate(parent, rng)
        self._made.setdefault(self.space.key(child), deque()).append((a, row, parent_obj))
        return child

    def _fresh(self, a: int, parent: Architecture, taken: set[str],
               rng: np.random.Generator) -> Architecture | None:
        for _ in range(FRESH_TRIES):
            child = self._apply(self.operators[a], parent, rng)
            if child is not None and self.space.key(child) not in taken:
                return child
        return None

    def _tournament(self, rng: np.random.Generator) -> tuple[Architecture, float, int]:
        picks = rng.integers(len(self.population), size=self.sample_size)
        return self.population[int(max(picks, key=lambda i: self.population[int(i)][1]))]

    def _row(self, origin: int) -> int:
        """The Q-table row (state) of a parent with this origin."""
        return 0 if self.state == "none" else origin

    def _choose(self, row: int, rng: np.random.Generator) -> int:
        """Epsilon-greedy on Q(state, .), ties broken at random."""
        n = len(self.operators)
        if rng.random() < self.epsilon:
            return int(rng.integers(n))
        untried = np.flatnonzero(self._uses[row] == 0)
        if len(untried):  # try every operator once before trusting the Q values
            return int(untried[int(rng.integers(len(untried)))])
        q = self._q[row]
        best = np.flatnonzero(q == q.max())
        return int(best[int(rng.integers(len(best)))])

    def _apply(self, op: Operator, parent: Architecture, rng: np.random.Generator) -> Architecture | None:
        """One application of ``op`` to ``parent``; None when it could not make a different architecture."""
        space = self.space
        if op.kind == "mutate":
            child = space.mutate(parent, rng)
        elif op.kind == "crossover":
            other = self._tournament(rng)[0]
            child = space.crossover(parent, other, rng)
            if child in (parent, other):
                child = space.mutate(child, rng)
        else:
            values = parent.as_dict()
            if op.kind == "resample":
                names = op.groups[int(rng.integers(len(op.groups)))]
                new = {k: v for k, v in values.items() if k not in names}
            else:
                names = tuple(n for n in op.names if n in values)
                if not names:
                    return None
                new = dict(values)
                for i in rng.choice(len(names), size=min(op.k, len(names)), replace=False):
                    name = names[int(i)]
                    others = [o for o in space.layout.choice(name).options if o != new[name]]
                    new[name] = others[int(rng.integers(len(others)))]
            child = _make(space, space.layout.complete(new, rng))
        return None if child is None or child == parent else child

    def _discard(self, arch: Architecture) -> None:
        """Forget which operator made a withdrawn child (its result will never come)."""
        key = self.space.key(arch)
        made = self._made.get(key)
        if made:
            made.pop()
            if not made:
                del self._made[key]

    # -- tell -----------------------------------------------------------------------
    def _tell(self, arch: Architecture, result: Result) -> None:
        key = self.space.key(arch)
        self._seen.add(key)
        made = self._made.get(key)
        origin = self._random
        if made:
            a, s, parent_obj = made.popleft()
            if not made:
                del self._made[key]
            if result.value is None:
                target = 0.0
            else:
                target = (max(0.0, float(result.value) - parent_obj)
                          + self.gamma * float(self._q[self._row(a)].max()))
            self._q[s, a] += self.alpha * (target - self._q[s, a])
            self._uses[s, a] += 1
            origin = a
        if result.value is None:  # failed: not a member of the population
            return
        self.population.append((arch, float(result.value), origin))
        self._filled += 1
        if len(self.population) > self.population_size:
            self.population.popleft()

    # -- inspection -----------------------------------------------------------------
    def q_values(self) -> dict[str, dict[str, float]]:
        """Q(state, operator) by names. States: ``'any'`` when ``state='none'``; else the operator
        that made the parent, or ``'random'``."""
        states = ["any"] if self.state == "none" else self.operator_names + ["random"]
        return {s: dict(zip(self.operator_names, map(float, self._q[i]))) for i, s in enumerate(states)}

    def pending_operators(self) -> dict[str, list[str]]:
        """For each pending child (by key), the operator(s) that made it, oldest first."""
        return {key: [self.operators[a].name for a, _, _ in made] for key, made in self._made.items()
                if key in self.pending}

    def operator_uses(self) -> dict[str, int]:
        """How often each operator's children have been told."""
        return dict(zip(self.operator_names, map(int, self._uses.sum(axis=0))))
