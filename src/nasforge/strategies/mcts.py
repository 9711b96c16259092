"""Monte Carlo tree search over the tree of choices (as in DeepArchitect, Negrinho & Gordon 2017).

Level ``d`` of the tree is the ``d``-th *active* choice of the space, in the
space's order (a conditional choice is a level only on the branches where
its ``when`` holds); a path from the root to a leaf is an architecture. Each
``ask``:

1. *selection*: from the root, while every option of the current node has
   been visited, move to the child with the best UCT score
   ``Q + c * sqrt(ln N_parent / N_child)``, where ``Q`` is the child's mean
   reward standardised by the mean and standard deviation of all results so
   far (so ``c`` does not depend on the objective's scale);
2. *expansion*: at the first node with unvisited options, take one of those
   uniformly at random;
3. *rollout*: complete the remaining choices uniformly at random.

Each ``tell`` adds the architecture's path to the tree and *backpropagates*
its objective (mean backup) to every node on the path. The whole path is
stored, not only the expanded node, so the tree knows which architectures
were evaluated: a node whose every option leads to evaluated (or pending, or
invalid) architectures is *exhausted* and skipped, so the search does not
propose an architecture twice while unevaluated ones remain (up to
isomorphism: a twin of an evaluated architecture counts as evaluated). A
failed result counts as a visit worth the worst objective seen so far.

Pending trials (asked, not yet told) count as visits in the exploration term,
without a reward, and their leaves are exhausted, so several asks before the
tells spread out instead of following the same path (a mild virtual loss).
A discarded proposal (``discard``) gives its visit back and reopens its leaf.

All randomness comes from the ``rng`` passed to ``_ask``; ties in UCT go to
the earlier option. When random completions keep violating a space's validity
rule (``is_valid``), the proposal is the valid random sample that agrees
with the selected path on the longest prefix.
"""

from __future__ import annotations

import math
from typing import Hashable

import numpy as np

from nasforge.options import check_number
from nasforge.results import Result
from nasforge.spaces.base import Architecture, InvalidArchitectureError, SearchSpace
from nasforge.spaces.layout import MISSING
from nasforge.strategies.base import Strategy

#: descents per ask before accepting a repeat
_DESCENTS = 64
#: random completions of one path tried before projecting onto valid random samples
_ROLLOUTS = 16
_PROJECTION_SAMPLES = 32


class _Node:
    """A prefix of choice values; ``choice`` is the index of its decision (-1 at a leaf)."""

    __slots__ = ("choice", "children", "n", "total", "failed", "pending", "done")

    def __init__(self, choice: int) -> None:
        self.choice = choice
        self.children: dict[Hashable, _Node] = {}
        self.n = 0            # completed visits
        self.total = 0.0      # sum of their objectives
        self.failed = 0       # failed visits
        self.pending = 0      # asked, not yet told
        self.done = False     # every architecture below is evaluated, pending or invalid

    @property
    def visits(self) -> int:
        return self.n + self.failed + self.pending


class MCTS(Strategy):
    """UCT tree search over the choices, with random rollouts (``mcts``).

    ``c`` is the exploration constant (>= 0) of the UCT score on standardised rewards.
    """

    name = "mcts"

    def __init__(self, space: SearchSpace, seed: int | None = None, c: float = 1.0) -> None:
        super().__init__(space, seed)
        self.c = check_number("c", c, 0.0)
        self._layout = space.layout
        self._choices = space.layout.choices
        self.root = _Node(self._next(-1, {}))
        self._seen: set[str] = set()
        self._asked: dict[str, list[dict[str, Hashable]]] = {}  # key -> paths of pending asks
        # running statistics of the objectives (Welford) and the worst one
        self._count, self._mean, self._m2, self._worst = 0, 0.0, 0.0, math.inf

    # -- tree structure -------------------------------------------------------------
    def _next(self, i: int, values: dict[str, Hashable]) -> int:
        """The index of the first active choice after ``i`` given ``values``, or -1."""
        for j in range(i + 1, len(self._choices)):
            if self._layout.is_active(self._choices[j], values):
                return j
        return -1

    def _path(self, values: dict[str, Hashable]) -> list[_Node]:
        """The nodes from the root to the leaf of ``values``, created where missing."""
        node, nodes, prefix = self.root, [self.root], {}
        while node.choice >= 0:
            name = self._choices[node.choice].name
            v = values[name]
            prefix[name] = v
            child = node.children.get(v)
            if child is None:
                child = node.children[v] = _Node(self._next(node.choice, prefix))
            node = child
            nodes.append(node)
        return nodes

    def _mark_done(self, nodes: list[_Node]) -> None:
        """The leaf of ``nodes`` is spent: propagate exhaustion up the path."""
        nodes[-1].done = True
        for node in reversed(nodes[:-1]):
            opts = self._choices[node.choice].options
            if len(node.children) == len(opts) and all(ch.done for ch in node.children.values()):
                node.done = True
            else:
                break

    # -- statistics -------------------------------------------------------------------
    def _z(self, node: _Node) -> float | None:
        """The node's mean reward, standardised; None without completed or failed visits."""
        k = node.n + node.failed
        if k == 0:
            return None
        if self._count < 2:
            return 0.0
        std = math.sqrt(self._m2 / (self._count - 1))
        if std <= 0:
            return 0.0
        mean = (node.total + node.failed * self._worst) / k
        return (mean - self._mean) / std

    # -- ask ----------------------------------------------------------------------------
    def _descend(self, rng: np.random.Generator, skip_done: bool) -> tuple[dict[str, Hashable], int]:
        """Selection and expansion; returns the values chosen and the index of the last one."""
        node, values = self.root, {}
        while node.choice >= 0:
            ch = self._choices[node.choice]
            opts = [o for o in ch.options
                    if not (skip_done and o in node.children and node.children[o].done)]
            fresh = [o for o in opts if o not in node.children or node.children[o].visits == 0]
            if fresh:  # expansion
                values[ch.name] = fresh[int(rng.integers(len(fresh)))]
                return values, node.choice
            parent_q = self._z(node)
            log_n = math.log(max(node.visits, 1))
            best, best_score = opts[0], -math.inf
            for o in opts:
                child = node.children[o]
                q = self._z(child)
                q = (parent_q or 0.0) if q is None else q
                score = q + self.c * math.sqrt(log_n / child.visits)
                if score > best_score:
                    best, best_score = o, score
            values[ch.name] = best
            node = node.children[best]
        return values, len(self._choices)

    def _rollout(self, values: dict[str, Hashable], last: int, rng: np.random.Generator) -> dict[str, Hashable]:
        out = dict(values)
        i = self._next(last, out)
        while i >= 0:
            opts = self._choices[i].options
            out[self._choices[i].name] = opts[int(rng.integers(len(opts)))]
            i = self._next(i, out)
        return out

    def _make(self, values: dict[str, Hashable]) -> Architecture | None:
        try:
            return self.space.make(values)
        except InvalidArchitectureError:
            return None

    def _project(self, prefix: dict[str, Hashable], rng: np.random.Generator) -> Architecture:
        """The valid random sample sharing the longest prefix with ``prefix`` (for validity rules
        that random completions rarely meet)."""
        names = list(prefix)
        best, best_len = None, -1
        for _ in range(_PROJECTION_SAMPLES):
            arch = self.space.sample(rng)
            vals = arch.as_dict()
            k = 0
            while k < len(names) and vals.get(names[k], MISSING) == prefix[names[k]]:
                k += 1
            if k > best_len:
                best, best_len = arch, k
        assert best is not None
        return best

    def _ask(self, rng: np.random.Generator) -> Architecture:
        taken = self._seen | set(self.pending)
        fallback: Architecture | None = None
        for _ in range(_DESCENTS):
            if self.root.done:
                break
            prefix, last = self._descend(rng, skip_done=True)
            invalid = 0
            for _ in range(_ROLLOUTS):
                values = self._rollout(prefix, last, rng)
                arch = self._make(values)
                if arch is not None and self.space.key(arch) not in taken:
                    return self._pend(arch)
                # an invalid or spent leaf is never proposed again; the next descent knows it
                self._mark_done(self._path(values))
                if arch is None:
                    invalid += 1
                else:
                    fallback = fallback or arch
                    break
            if invalid == _ROLLOUTS:
                arch = self._project(prefix, rng)
                if self.space.key(arch) not in taken:
                    return self._pend(arch)
                fallback = fallback or arch
        # every architecture is evaluated or pending (or none was found): repeat, following UCT
        if fallback is None:
            prefix, last = self._descend(rng, skip_done=False)
            fallback = self._make(self._rollout(prefix, last, rng)) or self._project(prefix, rng)
        return self._pend(fallback)

    def _pend(self, arch: Architecture) -> Architecture:
        values = arch.as_dict()
        nodes = self._path(values)
        for node in nodes:
            node.pending += 1
        self._mark_done(nodes)
        self._asked.setdefault(self.space.key(arch), []).append(values)
        return arch

    def _discard(self, arch: Architecture) -> None:
        """Undo the most recent pending visit of ``arch``'s path; its leaf can be proposed again
        unless the architecture is evaluated or still pending."""
        key = self.space.key(arch)
        asked = self._asked.get(key)
        if not asked:
            return
        nodes = self._path(asked.pop())
        if not asked:
            del self._asked[key]
        for node in nodes:
            node.pending -= 1
        if key not in self._seen and key not in self._asked:
            for node in nodes:  # a leaf that is not spent leaves every node above it open
                node.done = False

    # -- tell -----------------------------------------------------------------------------
    def _tell(self, arch: Architecture, result: Result) -> None:
        key = self.space.key(arch)
        self._seen.add(key)
        asked = self._asked.get(key)
        if asked:
            for node in self._path(asked.pop(0)):
                node.pending -= 1
            if not asked:
                del self._asked[key]
        obj = result.value
        if obj is not None:
            x = float(obj)
            self._count += 1
            d = x - self._mean
            self._mean += d / self._count
            self._m2 += d * (x - self._mean)
            self._worst = min(self._worst, x)
        nodes = self._path(arch.as_dict())
        for node in nodes:
            if obj is None:
                node.failed += 1
            else:
                node.n += 1
                node.total += float(obj)
        self._mark_done(nodes)
