"""The DARTS (NASNet-style) cell space: a normal and a reduction cell of 4 nodes, 2 inputs per node.

Node ``k`` (0..3) of a cell sums two edges; each edge takes one earlier state
(``0`` and ``1`` are the outputs of the previous two cells, ``2 + j`` is node
``j``) through one of 8 ops. The choices, per cell ``c`` in ``normal`` and
``reduce`` and node ``k``, are ``c.n{k}.in0``, ``c.n{k}.op0``, ``c.n{k}.in1``,
``c.n{k}.op1`` (inputs ``0..k+1``).

Validity: the two inputs of a node differ and are stored in increasing order
(``in0 < in1``). DARTS derives a node's two edges from two *distinct*
predecessors, so equal-input pairs are excluded; ordering them means the
twin that only swaps a node's two edges (the same network, since the edges
are summed) is not a second architecture, so ``canonical`` is the identity.
Parsing is lenient about that order: a published genotype such as DARTS V2's
``(sep_conv_3x3, 1), (skip_connect, 0)`` is accepted and stored sorted.

String form (the DARTS ``Genotype`` lists, two ``(op, input)`` pairs per node)::

    normal=[(sep_conv_3x3,0),(sep_conv_3x3,1),...];reduce=[(max_pool_3x3,0),...]

:meth:`DartsSpace.from_string` also reads the ``Genotype(normal=[('sep_conv_3x3', 0), ...],
normal_concat=range(2, 6), reduce=[...], reduce_concat=range(2, 6))`` text
printed by the DARTS code. With the ordering constraint the space holds
(180 * 8**8)**2, about 9.1e18, architectures.
"""

from __future__ import annotations

import itertools
import re
from math import comb
from typing import Any, Hashable, Iterator, Sequence

import numpy as np

from nasforge.spaces.base import Architecture, InvalidArchitectureError, SearchSpace, categorical

DARTS_OPS = ("none", "max_pool_3x3", "avg_pool_3x3", "skip_connect", "sep_conv_3x3", "sep_conv_5x5",
             "dil_conv_3x3", "dil_conv_5x5")
CELL_TYPES = ("normal", "reduce")
NODES = 4

#: the DARTS paper's cells (second-order search, CIFAR-10), in this space's string form
DARTS_V2 = ("normal=[(sep_conv_3x3,0),(sep_conv_3x3,1),(sep_conv_3x3,0),(sep_conv_3x3,1),"
            "(skip_connect,0),(sep_conv_3x3,1),(skip_connect,0),(dil_conv_3x3,2)];"
            "reduce=[(max_pool_3x3,0),(max_pool_3x3,1),(max_pool_3x3,1),(skip_connect,2),"
            "(max_pool_3x3,0),(skip_connect,2),(max_pool_3x3,1),(skip_connect,2)]")

_PAIR = re.compile(r"\(([^(),]*),([^(),]*)\)")
_ALL_NODES = ("range(2,6)", "[2,3,4,5]", "(2,3,4,5)")


def _names(cell: str, k: int) -> tuple[str, str, str, str]:
    p = f"{cell}.n{k}."
    return p + "in0", p + "op0", p + "in1", p + "op1"


class DartsSpace(SearchSpace):
    """The DARTS cell space; ``build`` makes the DARTS evaluation network.

    ``C`` initial channels, ``layers`` cells (reduction cells at ``layers // 3``
    and ``2 * layers // 3``), ``stem_multiplier`` (stem width ``stem_multiplier * C``),
    ``drop_path`` the probability of dropping a cell edge's output per sample
    in training (0 disables it; the network's ``drop_path_prob`` attribute can
    be changed during training, as DARTS does to ramp it up).
    """

    name = "darts"

    def __init__(self, C: int = 16, layers: int = 8, stem_multiplier: int = 3, drop_path: float = 0.0) -> None:
        self.C = C
        self.layers = layers
        self.stem_multiplier = stem_multiplier
        self.drop_path = drop_path
        choices = []
        for cell in CELL_TYPES:
            for k in range(NODES):
                in0, op0, in1, op1 = _names(cell, k)
                inputs = range(k + 2)
                choices += [categorical(in0, inputs), categorical(op0, DARTS_OPS),
                            categorical(in1, inputs), categorical(op1, DARTS_OPS)]
        super().__init__(choices)

    # -- validity and size --------------------------------------------------------
    def is_valid(self, arch: Architecture) -> bool:
        values = arch.as_dict()
        for cell in CELL_TYPES:
            for k in range(NODES):
                in0, _, in1, _ = _names(cell, k)
                if not values[in0] < values[in1]:  # type: ignore[operator]
                    return False
        return True

    def size(self) -> int:
        """The number of architectures, in closed form (about 9.1e18)."""
        per_cell = 1
        for k in range(NODES):
            per_cell *= comb(k + 2, 2) * len(DARTS_OPS) ** 2
        return per_cell ** len(CELL_TYPES)

    def enumerate(self) -> Iterator[Architecture]:
        """Every architecture, lazily (there are about 9.1e18: take a slice)."""
        per_node = []
        for _cell in CELL_TYPES:
            for k in range(NODES):
                per_node.append([(i0, o0, i1, o1) for i0, i1 in itertools.combinations(range(k + 2), 2)
                                 for o0 in DARTS_OPS for o1 in DARTS_OPS])
        for nodes in itertools.product(*per_node):
            yield self._from_nodes(nodes)

    # -- moves that keep a node's inputs distinct and ordered ----------------------
    # With in0 < in1 a single choice change cannot replace a node's smaller input
    # by a larger one; these moves act on edges (one op, or one edge's source)
    # and re-sort the pair, so every move is valid and none is wasted.
    def _nodes(self, arch: Architecture) -> list[tuple[Any, ...]]:
        values = arch.as_dict()
        return [tuple(values[n] for n in _names(cell, k)) for cell in CELL_TYPES for k in range(NODES)]

    def _from_nodes(self, nodes: Sequence[tuple[Any, ...]]) -> Architecture:
        items: list[tuple[str, Hashable]] = []
        for (cell, k), node in zip(itertools.product(CELL_TYPES, range(NODES)), nodes):
            i0, o0, i1, o1 = node
            if i0 > i1:
                i0, o0, i1, o1 = i1, o1, i0, o0
            items += zip(_names(cell, k), (i0, o0, i1, o1))
        arch = Architecture(self.name, tuple(items))
        return Architecture(self.name, arch.choices, self.to_string(arch))

    def _edge_moves(self, node: tuple[Any, ...], k: int) -> list[tuple[Any, ...]]:
        """Every node value one edge change away: another op on one edge, or another source for one edge."""
        i0, o0, i1, o1 = node
        out = [(i0, op, i1, o1) for op in DARTS_OPS if op != o0]
        out += [(i0, o0, i1, op) for op in DARTS_OPS if op != o1]
        free = [i for i in range(k + 2) if i not in (i0, i1)]
        out += [(i, o0, i1, o1) for i in free]
        out += [(i0, o0, i, o1) for i in free]
        return out

    def sample(self, rng: np.random.Generator) -> Architecture:
        """Uniform over the space: per node an unordered input pair, then two ops."""
        nodes = []
        for _cell in CELL_TYPES:
            for k in range(NODES):
                pairs = list(itertools.combinations(range(k + 2), 2))
                i0, i1 = pairs[int(rng.integers(len(pairs)))]
                o0, o1 = (DARTS_OPS[int(j)] for j in rng.integers(len(DARTS_OPS), size=2))
                nodes.append((i0, o0, i1, o1))
        return self._from_nodes(nodes)

    def mutate(self, arch: Architecture, rng: np.random.Generator) -> Architecture:
        """Change one edge: its op, or its source (to an input the node does not use yet)."""
        self._check(arch)
        nodes = self._nodes(arch)
        moves = [(n, m) for n, node in enumerate(nodes) for m in self._edge_moves(node, n % NODES)]
        n, new = moves[int(rng.integers(len(moves)))]
        nodes[n] = new
        return self._from_nodes(nodes)

    def neighbors(self, arch: Architecture) -> list[Architecture]:
        """Every architecture one edge change away (136 per architecture)."""
        self._check(arch)
        nodes = self._nodes(arch)
        out = []
        for n, node in enumerate(nodes):
            for new in self._edge_moves(node, n % NODES):
                out.append(self._from_nodes([*nodes[:n], new, *nodes[n + 1:]]))
        return out

    def crossover(self, a: Architecture, b: Architecture, rng: np.random.Generator) -> Architecture:
        """Uniform crossover of whole nodes (a node's two edges come from the same parent)."""
        self._check(a)
        self._check(b)
        na, nb = self._nodes(a), self._nodes(b)
        pick = rng.integers(2, size=len(na))
        return self._from_nodes([y if p else x for x, y, p in zip(na, nb, pick)])

    # -- genotypes and strings -------------------------------------------------------
    def genotype(self, arch: Architecture) -> dict[str, list[tuple[str, int]]]:
        """``{"normal": [(op, input), ...], "reduce": [...]}``: two pairs per node, as in DARTS."""
        values: dict[str, Any] = arch.as_dict()
        out: dict[str, list[tuple[str, int]]] = {}
        for cell in CELL_TYPES:
            pairs: list[tuple[str, int]] = []
            for k in range(NODES):
                in0, op0, in1, op1 = _names(cell, k)
                pairs += [(str(values[op0]), int(values[in0])), (str(values[op1]), int(values[in1]))]
            out[cell] = pairs
        return out

    def from_genotype(self, normal: Sequence[tuple[str, int]], reduce: Sequence[tuple[str, int]]) -> Architecture:
        """An architecture from DARTS ``(op, input)`` lists; a node's two pairs may come in either order."""
        values: dict[str, Hashable] = {}
        for cell, pairs in (("normal", normal), ("reduce", reduce)):
            pairs = list(pairs)
            if len(pairs) != 2 * NODES:
                raise InvalidArchitectureError(
                    f"the {cell} cell has {len(pairs)} (op, input) pairs; expected {2 * NODES} (two per node)")
            for k in range(NODES):
                edges = []
                for op, src in pairs[2 * k:2 * k + 2]:
                    if op not in DARTS_OPS:
                        raise InvalidArchitectureError(
                            f"unknown op {op!r} at node {k} of the {cell} cell; known: {', '.join(DARTS_OPS)}")
                    if isinstance(src, bool) or not isinstance(src, (int, np.integer)) or not 0 <= src <= k + 1:
                        raise InvalidArchitectureError(
                            f"node {k} of the {cell} cell takes input {src!r}; node {k} may take inputs "
                            f"0..{k + 1} (0, 1: the previous cells; 2+j: node j)")
                    edges.append((int(src), op))
                (s0, o0), (s1, o1) = sorted(edges)
                if s0 == s1:
                    raise InvalidArchitectureError(
                        f"node {k} of the {cell} cell takes input {s0} twice; a node's two inputs must differ")
                values.update(zip(_names(cell, k), (s0, o0, s1, o1)))
        return self.make(values)

    def to_string(self, arch: Architecture) -> str:
        geno = self.genotype(arch)
        return ";".join(f"{cell}=[" + ",".join(f"({op},{src})" for op, src in geno[cell]) + "]"
                        for cell in CELL_TYPES)

    def from_string(self, text: str) -> Architecture:
        expected = ("'normal=[(op,input),... 8 pairs];reduce=[...]' (or a DARTS Genotype(...)) with ops from "
                    + ", ".join(DARTS_OPS))
        s = re.sub(r"[\s'\"]", "", text)
        m = re.fullmatch(r"Genotype\((.*)\)", s)
        if m:
            s = m.group(1)
        fields: dict[str, str] = {}
        for part in _split_top(s):
            key, sep, value = part.partition("=")
            if not sep or key not in ("normal", "reduce", "normal_concat", "reduce_concat"):
                raise InvalidArchitectureError(f"malformed DARTS architecture {text!r}: bad field {part!r}; "
                                               f"expected {expected}")
            if key in fields:
                raise InvalidArchitectureError(f"malformed DARTS architecture {text!r}: {key!r} given twice")
            fields[key] = value
        for cell in CELL_TYPES:
            if cell not in fields:
                raise InvalidArchitectureError(f"malformed DARTS architecture {text!r}: no {cell!r} cell; "
                                               f"expected {expected}")
            concat = fields.get(f"{cell}_concat")
            if concat is not None and concat not in _ALL_NODES:
                raise InvalidArchitectureError(
                    f"{cell}_concat={concat} is not supported: cells here concatenate all four nodes "
                    f"(range(2, 6))")
        cells = {}
        for cell in CELL_TYPES:
            value = fields[cell]
            pairs = _PAIR.findall(value)
            if not (value.startswith("[") and value.endswith("]")) or \
                    value[1:-1] != ",".join(f"({a},{b})" for a, b in pairs):
                raise InvalidArchitectureError(f"malformed {cell} cell {value!r} in {text!r}: expected a list "
                                               f"of (op,input) pairs")
            parsed = []
            for op, src in pairs:
                if not src.isdigit():
                    raise InvalidArchitectureError(
                        f"bad input {src!r} for op {op!r} in the {cell} cell of {text!r}: inputs are integers")
                parsed.append((op, int(src)))
            cells[cell] = parsed
        return self.from_genotype(cells["normal"], cells["reduce"])

    # -- networks ---------------------------------------------------------------
    def build(self, arch: Architecture, task: Any) -> Any:
        """The DARTS evaluation network of ``arch`` for an image ``task`` (``torch.nn.Module``).

        Stem conv 3x3 (stride 1) + BN; ``layers`` cells, each preprocessing its
        two inputs (FactorizedReduce after a reduction cell, else ReLU-conv1x1-BN)
        and concatenating its 4 nodes; reduction cells double the channels;
        global average pool; linear head. No auxiliary head. Any image size
        works; a tabular task raises ValueError.
        """
        from nasforge.spaces.nn import DartsNetwork, image_shape, positive_int

        channels, _, _ = image_shape(self.name, task)
        C, layers, stem = (positive_int(self, k) for k in ("C", "layers", "stem_multiplier"))
        if not 0.0 <= float(self.drop_path) < 1.0:
            raise ValueError(f"DartsSpace option drop_path={self.drop_path!r} must be in [0, 1)")
        self._check(arch)
        geno = self.genotype(arch)
        return DartsNetwork(geno["normal"], geno["reduce"], C, layers, channels, positive_int(task, "num_classes"),
                            stem_multiplier=stem, drop_path_prob=float(self.drop_path))


def _split_top(text: str) -> list[str]:
    """Split at ``,`` or ``;`` outside brackets."""
    parts, depth, start = [], 0, 0
    for i, ch in enumerate(text):
        if ch in "([":
            depth += 1
        elif ch in ")]":
            depth -= 1
        elif ch in ",;" and depth == 0:
            parts.append(text[start:i])
            start = i + 1
    parts.append(text[start:])
    return [p for p in parts if p]
