"""The NAS-Bench-Graph GNN space: 4 computing nodes, each with one predecessor and one of 9 operations.

Choices ``link1..link4`` (the predecessor of computing node ``i``: ``0`` the
input, ``j`` computing node ``j``, so ``link{i}`` is in ``0..i-1``) and
``op1..op4``. Architectures print as ``0,0,1,2|gcn,gin,cheb,fc``. Isomorphic
twins (relabelled nodes, skip operations that change nothing) collapse to the
one form the benchmark stores: 26,206 distinct architectures with the full
operation set, 2,021 with the PROTEINS set (``op_set='proteins'``).
Sampling is uniform over distinct architectures, not over raw choice values
(which would favour shapes with many twins).
"""

from __future__ import annotations

import numpy as np

from nasforge.benchmarks import nbgraph_data as nbg
from nasforge.spaces.base import Architecture, InvalidArchitectureError, SearchSpace, categorical

OP_SETS = {"full": nbg.GNN_OPS, "proteins": nbg.GNN_OPS_PROTEINS}


class NASBenchGraphSpace(SearchSpace):
    """NAS-Bench-Graph architectures; ``op_set`` is ``full`` (9 ops) or ``proteins`` (5 ops)."""

    name = "nasbench-graph"

    def __init__(self, op_set: str = "full") -> None:
        if op_set not in OP_SETS:
            raise ValueError(f"unknown op_set {op_set!r}; accepted: {', '.join(OP_SETS)}")
        self.op_set = op_set
        self.ops = OP_SETS[op_set]
        n = nbg.NUM_NODES
        super().__init__([categorical(f"link{i}", range(i)) for i in range(1, n + 1)]
                         + [categorical(f"op{i}", self.ops) for i in range(1, n + 1)])

    def _parts(self, arch: Architecture) -> tuple[tuple[int, ...], tuple[str, ...]]:
        v = arch.as_dict()
        n = nbg.NUM_NODES
        return tuple(int(v[f"link{i}"]) for i in range(1, n + 1)), tuple(str(v[f"op{i}"]) for i in range(1, n + 1))

    def from_parts(self, links: tuple[int, ...] | list[int], ops: tuple[str, ...] | list[str]) -> Architecture:
        n = nbg.NUM_NODES
        if len(links) != n or len(ops) != n:
            raise InvalidArchitectureError(f"a NAS-Bench-Graph architecture has {n} links and {n} ops, "
                                           f"got {list(links)} and {list(ops)}")
        return self.make({**{f"link{i + 1}": links[i] for i in range(n)}, **{f"op{i + 1}": ops[i] for i in range(n)}})

    def is_valid(self, arch: Architecture) -> bool:
        return any(op != "skip" for op in self._parts(arch)[1])

    def canonical(self, arch: Architecture) -> Architecture:
        links, ops = nbg.canonical(*self._parts(arch))
        return self.from_parts(links, ops)

    def _distinct(self) -> list[tuple[tuple[int, ...], tuple[str, ...]]]:
        return nbg.enumerate_canonical("proteins" if self.op_set == "proteins" else "cora")

    def sample(self, rng: np.random.Generator) -> Architecture:
        distinct = self._distinct()
        return self.from_parts(*distinct[int(rng.integers(len(distinct)))])

    def enumerate(self):  # type: ignore[override]
        """Every distinct (canonical) architecture."""
        for links, ops in self._distinct():
            yield self.from_parts(links, ops)

    def __len__(self) -> int:
        return len(self._distinct())

    def to_string(self, arch: Architecture) -> str:
        links, ops = self._parts(arch)
        return ",".join(map(str, links)) + "|" + ",".join(ops)

    def from_string(self, text: str) -> Architecture:
        left, sep, right = text.strip().partition("|")
        expected = (f"'l1,l2,l3,l4|op1,op2,op3,op4' (link i in 0..i-1, ops from {', '.join(self.ops)}), "
                    f"e.g. '0,0,1,2|gcn,gin,cheb,fc'")
        try:
            links = [int(x) for x in left.split(",")]
        except ValueError:
            links = []
        ops = right.split(",") if sep else []
        if not sep or len(links) != nbg.NUM_NODES or len(ops) != nbg.NUM_NODES:
            raise InvalidArchitectureError(f"malformed NAS-Bench-Graph architecture {text!r}: expected {expected}")
        return self.from_parts(links, [o.strip() for o in ops])
