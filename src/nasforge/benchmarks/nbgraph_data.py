"""NAS-Bench-Graph: loading its tabular data and mapping architectures to the stored form.

NAS-Bench-Graph (Qin et al., NeurIPS 2022 Datasets & Benchmarks) trains every GNN of a
small macro space on nine node-classification datasets. An architecture has four
computing nodes; ``links[i]`` names the single predecessor of computing node ``i + 1``
(``0`` is the raw input, ``j >= 1`` is computing node ``j``, so ``links[i]`` lies in
``0..i``) and ``ops[i]`` its operation. Every computing node without successors (a
*leaf*) feeds the output, which concatenates the leaves and applies a linear layer, so the
order of the leaves does not matter.

The benchmark stores one representative per equivalence class of architectures. This
module reproduces those classes (see :func:`canonical`) with its own algorithm:

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
exactly 26,206 classes with the nine-operation list and 2,021 with the five PROTEINS
operations, and each class's representative is a key stored in the benchmark.

The data files ship in the PyPI package ``nas-bench-graph``; nasforge reads them through a
restricted unpickler and never imports that package.
"""

from __future__ import annotations

import functools
import itertools
from collections.abc import Sequence
from typing import Any

from nasforge.benchmarks._files import load_pickle, numpy_globals, package_file

__all__ = [
    "DATASETS",
    "GNN_OPS",
    "GNN_OPS_PROTEINS",
    "LINK_PATTERNS",
    "METRICS",
    "NUM_NODES",
    "bench_key",
    "canonical",
    "enumerate_canonical",
    "is_canonical",
    "load_nbgraph",
    "ops_for",
]

NUM_NODES = 4
"""Computing nodes per architecture."""

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
"""The nine canonical predecessor lists (one per rooted-tree shape); the key starts from the index here."""

GNN_OPS: tuple[str, ...] = ("gat", "gcn", "gin", "cheb", "sage", "arma", "graph", "fc", "skip")
"""Operations of the eight full datasets, in the benchmark's order (the order keys use)."""

GNN_OPS_PROTEINS: tuple[str, ...] = ("gcn", "sage", "arma", "fc", "skip")
"""The operations evaluated on ogbn-proteins (a subset of :data:`GNN_OPS`, same relative order)."""

DATASETS: tuple[str, ...] = (
    "cora", "citeseer", "pubmed", "cs", "physics", "photo", "computers", "arxiv", "proteins",
)
"""The nine datasets with a ``light/<name>.bench`` file."""

METRICS: dict[str, str] = {
    "valid_perf": "validation accuracy (ROC-AUC on proteins)",
    "perf": "test accuracy (ROC-AUC on proteins) at the best validation epoch",
    "latency": "seconds for one full-graph inference pass",
    "para": "number of trainable parameters, in millions",
}
"""The scalar metrics each record holds, with what they measure."""

_SKIP = "skip"
_OP_INDEX: dict[str, int] = {name: i for i, name in enumerate(GNN_OPS)}
_SKIP_INDEX = _OP_INDEX[_SKIP]
_KEY_BASE = len(GNN_OPS) + 1
_PATTERN_INDEX: dict[tuple[int, ...], int] = {p: i for i, p in enumerate(LINK_PATTERNS)}


def _check_dataset(dataset: str) -> str:
    if dataset not in DATASETS:
        raise ValueError(f"unknown NAS-Bench-Graph dataset {dataset!r}; known: {', '.join(DATASETS)}")
    return dataset


def ops_for(dataset: str) -> tuple[str, ...]:
    """The operation list a dataset was evaluated with (PROTEINS uses five of the nine)."""
    return GNN_OPS_PROTEINS if _check_dataset(dataset) == "proteins" else GNN_OPS


# ----------------------------------------------------------------------------- data


@functools.lru_cache(maxsize=None)
def load_nbgraph(dataset: str) -> dict[int, dict[str, float]]:
    """All records of one dataset: bench key -> ``{metric: float}`` (see :data:`METRICS`).

    The result is cached and shared between callers; treat it as read-only.
    """
    _check_dataset(dataset)
    path = package_file("nas_bench_graph", f"light/{dataset}.bench")
    raw: Any = load_pickle(path, numpy_globals())
    if not isinstance(raw, dict):
        raise ValueError(f"{path}: expected a dict of records, found {type(raw).__name__}")
    out: dict[int, dict[str, float]] = {}
    for key, rec in raw.items():
        if not isinstance(rec, dict):
            raise ValueError(f"{path}: record {key!r} is a {type(rec).__name__}, not a dict")
        metrics: dict[str, float] = {}
        for name, value in rec.items():
            try:
                metrics[str(name)] = float(value)
            except (TypeError, ValueError):
                continue  # not a scalar; the light files hold none today
        missing = [m for m in METRICS if m not in metrics]
        if missing:
            raise ValueError(f"{path}: record {key!r} lacks metrics {missing}")
        out[int(key)] = metrics
    return out


# ----------------------------------------------------------------------------- keys


def _validate(links: Sequence[int], ops: Sequence[str]) -> tuple[tuple[int, ...], tuple[str, ...]]:
    lk = tuple(int(x) for x in links)
    op = tuple(str(x) for x in ops)
    if len(lk) != NUM_NODES or len(op) != NUM_NODES:
        raise ValueError(f"need {NUM_NODES} links and {NUM_NODES} ops, got {list(lk)} and {list(op)}")
    for i, parent in enumerate(lk):
        if not 0 <= parent <= i:
            raise ValueError(f"links[{i}] = {parent} must lie in 0..{i} (the input or an earlier node): {list(lk)}")
    for name in op:
        if name not in _OP_INDEX:
            raise ValueError(f"unknown operation {name!r}; known: {', '.join(GNN_OPS)}")
    if all(name == _SKIP for name in op):
        raise ValueError("the all-'skip' architecture is not part of NAS-Bench-Graph")
    return lk, op


def bench_key(links: Sequence[int], ops: Sequence[str], dataset: str) -> int:
    """The integer key of an architecture in the dataset's records.

    ``links`` must be one of :data:`LINK_PATTERNS` (pass the result of :func:`canonical`
    to look up an arbitrary architecture). The key starts at the pattern's index and
    appends each operation's index in :data:`GNN_OPS` as a base-10 digit; the PROTEINS
    file uses the same nine-operation numbering, restricted to its five operations.
    """
    lk, op = _validate(links, ops)
    allowed = ops_for(dataset)
    for name in op:
        if name not in allowed:
            raise ValueError(f"operation {name!r} is not evaluated on {dataset!r}; allowed: {', '.join(allowed)}")
    try:
        key = _PATTERN_INDEX[lk]
    except KeyError:
        raise ValueError(
            f"links {list(lk)} are not one of the nine stored patterns; use canonical() first"
        ) from None
    for name in op:
        key = key * _KEY_BASE + _OP_INDEX[name]
    return key


# ----------------------------------------------------------------------------- canonical form

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


def canonical(links: Sequence[int], ops: Sequence[str]) -> tuple[tuple[int, ...], tuple[str, ...]]:
    """The benchmark's representative of the architecture's equivalence class.

    Accepts any valid predecessor list (``links[i]`` in ``0..i``) and operation names
    from :data:`GNN_OPS`; returns ``(links, ops)`` with ``links`` among
    :data:`LINK_PATTERNS`, whose :func:`bench_key` is the key stored in the data.
    Architectures that compute the same function up to node relabelling (with ``skip``
    treated as the benchmark does, see the module docstring) get the same result, and
    ``canonical(*canonical(a, o)) == canonical(a, o)``.
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
    """Whether ``(links, ops)`` is already its class's stored representative."""
    lk, op = _validate(links, ops)
    return canonical(lk, op) == (lk, op)


@functools.lru_cache(maxsize=None)
def _enumerate(dataset: str) -> tuple[tuple[tuple[int, ...], tuple[str, ...]], ...]:
    allowed = ops_for(dataset)
    found: list[tuple[tuple[int, ...], tuple[str, ...]]] = []
    for pattern in LINK_PATTERNS:  # already in key order
        for op in itertools.product(sorted(allowed, key=_OP_INDEX.__getitem__), repeat=NUM_NODES):
            if all(name == _SKIP for name in op):
                continue
            if canonical(pattern, op) == (pattern, op):
                found.append((pattern, op))
    return tuple(found)


def enumerate_canonical(dataset: str) -> list[tuple[tuple[int, ...], tuple[str, ...]]]:
    """Every stored architecture of a dataset as ``(links, ops)``, in increasing key order.

    26,206 entries for the eight full datasets, 2,021 for PROTEINS; computed once per
    operation list and cached.
    """
    return list(_enumerate("proteins" if _check_dataset(dataset) == "proteins" else "cora"))
