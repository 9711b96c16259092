"""The NAS-Bench-Graph GNN space: 4 computing nodes, each with one predecessor and one of 9 operations.

Choices ``link1..link4`` (the predecessor of computing node ``i``: ``0`` the
input, ``j`` computing node ``j``, so ``link{i}`` is in ``0..i-1``) and
``op1..op4``. Architectures print as ``0,0,1,2|gcn,gin,cheb,fc``. Every
computing node without successors (a *leaf*) feeds the output, which
concatenates the leaves and applies a linear layer, so the order of the leaves
does not matter.

This module is the one home of the space's facts: the operations
(:data:`GNN_OPS`, :data:`GNN_OPS_PROTEINS`), the link structure
(:data:`NUM_NODES`, :data:`LINK_PATTERNS`) and the canonical form of
isomorphic twins (:func:`canonical`). The benchmark
(:mod:`nasforge.benchmarks.nbgraph_data`) imports them; this module imports no
benchmark.

Isomorphic twins (relabelled nodes, skip operations that change nothing)
collapse to the one form the benchmark stores, computed by :func:`canonical`:

1. A ``skip`` node with successors is an identity on the way to them: its successors are
   re-attached to its nearest non-skip ancestor (or to the input).
2. A ``skip`` leaf whose nearest non-skip ancestor is the input would send the raw
   features (of a different width) to the output; the benchmark's network leaves it out,
   so it is dropped.
3. A ``skip`` leaf that is the only remaining successor of its ancestor ``p`` is dropped:
   ``p`` becomes a leaf itself and the output is unchanged. A ``skip`` leaf next to other
   successors of ``p`` is kept: it routes ``p`` to the output as well.
4. What is left is a rooted tree with ordered-free children. Dropped skips come back as a
   chain of ``skip`` nodes hanging from the input (an identity path) and the tree hangs
   from the end of that chain. Children are ordered by subtree size (larger first), then
   by operation (in :data:`GNN_OPS` order) and recursively by their own children; nodes
   are numbered breadth first. The nine possible shapes then come out exactly as the nine
   link patterns of :data:`LINK_PATTERNS`.

Enumerating all 24 predecessor lists times all operation lists (except all-``skip``) gives
26,206 distinct architectures with the full operation list and 2,021 with the PROTEINS set
(``op_set='proteins'``); each is a key stored in the benchmark. Sampling is uniform over
distinct architectures, not over raw choice values (which would favour shapes with many
twins).
"""

from __future__ import annotations

import functools
import itertools
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np

from nasforge.options import check_choice
from nasforge.spaces.base import Architecture, InvalidArchitectureError, SearchSpace, categorical

__all__ = ["GNN_OPS", "GNN_OPS_PROTEINS", "LINK_PATTERNS", "NUM_NODES", "OP_SETS", "NASBenchGraphSpace",
           "canonical", "canonical_forms", "format_arch", "is_canonical"]

NUM_NODES = 4
"""Computing nodes per architecture."""

GNN_OPS: tuple[str, ...] = ("gat", "gcn", "gin", "cheb", "sage", "arma", "graph", "fc", "skip")
"""The nine operations, in the benchmark's order (the order of canonical forms and of its keys)."""

GNN_OPS_PROTEINS: tuple[str, ...] = ("gcn", "sage", "arma", "fc", "skip")
"""The operations evaluated on ogbn-proteins (a subset of :data:`GNN_OPS`, same relative order)."""

OP_SETS: dict[str, tuple[str, ...]] = {"full": GNN_OPS, "proteins": GNN_OPS_PROTEINS}
"""The operation lists a space can use, by ``op_set`` name."""

LINK_PATTERNS: tuple[tuple[int, ...], ...] = (
    (0, 0, 0, 0),
    (0, 0, 0, 1),
    (0, 0, 1, 1),
    (0, 0, 1, 2),
    (0, 0, 1, 3),
    (0, 1, 1, 1),
    (0, 1, 1, 2),
    (0, 1, 2, 2),
    (0, 1, 2, 3),
)
"""The nine canonical predecessor lists, one per rooted-tree shape, in the benchmark's order."""

_SKIP = "skip"
_OP_INDEX: dict[str, int] = {name: i for i, name in enumerate(GNN_OPS)}

Parts = tuple[tuple[int, ...], tuple[str, ...]]


def format_arch(links: Sequence[int], ops: Sequence[str]) -> str:
    """The string form ``0,0,1,2|gcn,gin,cheb,fc`` of a predecessor list and operation list."""
    return ",".join(map(str, links)) + "|" + ",".join(ops)


def _validate(links: Sequence[int], ops: Sequence[str]) -> Parts:
    lk = tuple(int(x) for x in links)
    op = tuple(str(x) for x in ops)
    if len(lk) != NUM_NODES or len(op) != NUM_NODES:
        raise InvalidArchitectureError(f"a NAS-Bench-Graph architecture has {NUM_NODES} links and {NUM_NODES} "
                                       f"ops, got {list(lk)} and {list(op)}")
    for i, parent in enumerate(lk):
        if not 0 <= parent <= i:
            raise InvalidArchitectureError(
                f"links[{i}] = {parent} must lie in 0..{i} (the input or an earlier node): {list(lk)}")
    for name in op:
        if name not in _OP_INDEX:
            raise InvalidArchitectureError(f"unknown operation {name!r}; known: {', '.join(GNN_OPS)}")
    if all(name == _SKIP for name in op):
        raise InvalidArchitectureError("the all-'skip' architecture is not part of NAS-Bench-Graph")
    return lk, op


# A reduced subtree is encoded as (-size, op_index, children) with children sorted; plain
# tuple order then puts larger subtrees first, then smaller operation indices, then
# compares children recursively.
_Tree = tuple[int, int, tuple[Any, ...]]


def _reduced_children(lk: tuple[int, ...], op: tuple[str, ...]) -> dict[int, list[int]]:
    """Children of each kept node (0 = input) after contracting and dropping skips (rules 1-3)."""
    n = len(op)
    has_child = [False] * (n + 1)
    for parent in lk:
        has_child[parent] = True

    def anchor(node: int) -> int:
        # nearest ancestor-or-self that is the input or a non-skip node
        while node != 0 and op[node - 1] == _SKIP:
            node = lk[node - 1]
        return node

    kids: dict[int, list[int]] = {v: [] for v in range(n + 1)}
    for v in range(1, n + 1):
        if op[v - 1] != _SKIP:
            kids[anchor(lk[v - 1])].append(v)
        elif not has_child[v]:
            a = anchor(lk[v - 1])
            if a != 0:  # a skip leaf fed (through skips) by the raw input is dropped
                kids[a].append(v)
    for v in range(1, n + 1):
        only = kids[v]
        if len(only) == 1 and op[only[0] - 1] == _SKIP:
            kids[v] = []  # a lone skip leaf duplicates its ancestor's own output
    return kids


def canonical(links: Sequence[int], ops: Sequence[str]) -> Parts:
    """The benchmark's representative of the architecture's equivalence class.

    Accepts any valid predecessor list (``links[i]`` in ``0..i``) and operation names
    from :data:`GNN_OPS`; returns ``(links, ops)`` with ``links`` among
    :data:`LINK_PATTERNS`. Architectures that compute the same function up to node
    relabelling (with ``skip`` treated as the benchmark does, see the module docstring)
    get the same result, and ``canonical(*canonical(a, o)) == canonical(a, o)``.
    Raises :class:`InvalidArchitectureError` (a ``ValueError``) for anything else.
    """
    lk, op = _validate(links, ops)
    kids = _reduced_children(lk, op)

    def encode(v: int) -> _Tree:
        children = tuple(sorted(encode(c) for c in kids[v]))
        return (-1 + sum(c[0] for c in children), _OP_INDEX[op[v - 1]], children)

    top = tuple(sorted(encode(c) for c in kids[0]))
    kept = -sum(t[0] for t in top)
    dropped = NUM_NODES - kept

    # rule 4: dropped skips form an identity chain 0 <- 1 <- ... <- dropped; the tree hangs
    # from its end and is numbered breadth first.
    out_links: list[int] = list(range(dropped))
    out_ops: list[str] = [_SKIP] * dropped
    queue: list[tuple[_Tree, int]] = [(t, dropped) for t in top]
    head = 0
    while head < len(queue):
        tree, parent = queue[head]
        head += 1
        out_links.append(parent)
        out_ops.append(GNN_OPS[tree[1]])
        me = len(out_links)
        queue.extend((child, me) for child in tree[2])
    return tuple(out_links), tuple(out_ops)


def is_canonical(links: Sequence[int], ops: Sequence[str]) -> bool:
    """Whether ``(links, ops)`` is already its class's representative."""
    lk, op = _validate(links, ops)
    return canonical(lk, op) == (lk, op)


@functools.lru_cache(maxsize=None)
def canonical_forms(op_set: str = "full") -> tuple[Parts, ...]:
    """Every distinct architecture over ``OP_SETS[op_set]`` as ``(links, ops)``, in the benchmark's key order.

    26,206 with the full list, 2,021 with ``proteins``; computed once per list and cached.
    """
    allowed = OP_SETS[check_choice("op_set", op_set, OP_SETS)]
    found: list[Parts] = []
    for pattern in LINK_PATTERNS:  # in key order
        for op in itertools.product(sorted(allowed, key=_OP_INDEX.__getitem__), repeat=NUM_NODES):
            if all(name == _SKIP for name in op):
                continue
            if canonical(pattern, op) == (pattern, op):
                found.append((pattern, op))
    return tuple(found)


class NASBenchGraphSpace(SearchSpace):
    """NAS-Bench-Graph architectures; ``op_set`` is ``full`` (9 ops) or ``proteins`` (5 ops)."""

    name = "nasbench-graph"

    def __init__(self, op_set: str = "full") -> None:
        self.op_set = check_choice("op_set", op_set, OP_SETS)
        self.ops = OP_SETS[op_set]
        n = NUM_NODES
        super().__init__([categorical(f"link{i}", range(i)) for i in range(1, n + 1)]
                         + [categorical(f"op{i}", self.ops) for i in range(1, n + 1)])

    def _parts(self, arch: Architecture) -> Parts:
        v = arch.as_dict()
        n = NUM_NODES
        return tuple(int(v[f"link{i}"]) for i in range(1, n + 1)), tuple(str(v[f"op{i}"]) for i in range(1, n + 1))

    def from_parts(self, links: tuple[int, ...] | list[int], ops: tuple[str, ...] | list[str]) -> Architecture:
        n = NUM_NODES
        if len(links) != n or len(ops) != n:
            raise InvalidArchitectureError(f"a NAS-Bench-Graph architecture has {n} links and {n} ops, "
                                           f"got {list(links)} and {list(ops)}")
        return self.make({**{f"link{i + 1}": links[i] for i in range(n)}, **{f"op{i + 1}": ops[i] for i in range(n)}})

    def is_valid(self, arch: Architecture) -> bool:
        return any(op != _SKIP for op in self._parts(arch)[1])

    def canonical(self, arch: Architecture) -> Architecture:
        return self.from_parts(*canonical(*self._parts(arch)))

    def _distinct(self) -> tuple[Parts, ...]:
        return canonical_forms(self.op_set)

    def sample(self, rng: np.random.Generator) -> Architecture:
        distinct = self._distinct()
        return self.from_parts(*distinct[int(rng.integers(len(distinct)))])

    def enumerate(self) -> Iterator[Architecture]:  # type: ignore[override]
        """Every distinct (canonical) architecture."""
        for links, ops in self._distinct():
            yield self.from_parts(links, ops)

    def __len__(self) -> int:
        return len(self._distinct())

    def to_string(self, arch: Architecture) -> str:
        return format_arch(*self._parts(arch))

    def from_string(self, text: str) -> Architecture:
        left, sep, right = text.strip().partition("|")
        expected = (f"'l1,l2,l3,l4|op1,op2,op3,op4' (link i in 0..i-1, ops from {', '.join(self.ops)}), "
                    f"e.g. '0,0,1,2|gcn,gin,cheb,fc'")
        try:
            links = [int(x) for x in left.split(",")]
        except ValueError:
            links = []
        ops = right.split(",") if sep else []
        if not sep or len(links) != NUM_NODES or len(ops) != NUM_NODES:
            raise InvalidArchitectureError(f"malformed NAS-Bench-Graph architecture {text!r}: expected {expected}")
        return self.from_parts(links, [o.strip() for o in ops])
