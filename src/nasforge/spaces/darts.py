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

Distinct cells (``distinct_cells=True``, after D-DARTS, Heuillet et al.,
"D-DARTS: Distributed Differentiable Architecture Search"): instead of one
normal and one reduction cell repeated through the network, each of the
``layers`` cells has its own genotype, under the keys ``cell0`` ..
``cell{layers-1}`` (:attr:`DartsSpace.cell_types`). The reduction cells stay
at the same layers (:meth:`DartsSpace.reduction_layers`), where the cell's
edges from its two inputs take stride 2 and the channels double. The choices are
``cell{i}.n{k}.in0`` and so on, the string form is
``cell0=[(op,input),...];cell1=[...];...`` with one list of 8 pairs per layer,
and the space holds ``(180 * 8**8)**layers`` architectures. The default
(``distinct_cells=False``) is the shared space described above, unchanged.
"""

from __future__ import annotations

import itertools
import re
from math import comb
from typing import Any, Hashable, Iterator, Mapping, Sequence

import numpy as np

from nasforge.options import check_bool, check_int
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
_DISTINCT_KEY = re.compile(r"cell\d+")


def _names(cell: str, k: int) -> tuple[str, str, str, str]:
    p = f"{cell}.n{k}."
    return p + "in0", p + "op0", p + "in1", p + "op1"


def _the(cell: str) -> str:
    """How messages name a cell: ``the normal cell`` (shared) or ``cell3`` (distinct)."""
    return f"the {cell} cell" if cell in CELL_TYPES else cell


class DartsSpace(SearchSpace):
    """The DARTS cell space; ``build`` makes the DARTS evaluation network.

    ``C`` initial channels, ``layers`` cells (reduction cells at ``layers // 3``
    and ``2 * layers // 3``), ``stem_multiplier`` (stem width ``stem_multiplier * C``),
    ``drop_path`` the probability of dropping a cell edge's output per sample
    in training (0 disables it; the network's ``drop_path_prob`` attribute can
    be changed during training, as DARTS does to ramp it up).
    ``distinct_cells``: False (default) searches one normal and one reduction
    cell shared by all layers; True gives each of the ``layers`` cells its own
    genotype (D-DARTS), keyed ``cell0`` .. ``cell{layers-1}``.
    """

    name = "darts"
    latency_units = ("SepConv", "DilConv", "ReLUConvBN", "FactorizedReduce", "Pool")

    def __init__(self, C: int = 16, layers: int = 8, stem_multiplier: int = 3, drop_path: float = 0.0,
                 distinct_cells: bool = False) -> None:
        self.C = C
        self.layers = layers
        self.stem_multiplier = stem_multiplier
        self.drop_path = drop_path
        self.distinct_cells = check_bool("distinct_cells", distinct_cells, who="DartsSpace")
        #: the cell keys in order: ("normal", "reduce"), or ("cell0", ..., f"cell{layers-1}") with distinct cells
        self.cell_types: tuple[str, ...]
        if self.distinct_cells:
            # the choices depend on the number of layers, so it is checked now (else when building)
            n = check_int("layers", layers, 1, who="DartsSpace with distinct_cells=True")
            self.cell_types = tuple(f"cell{i}" for i in range(n))
        else:
            self.cell_types = CELL_TYPES
        choices = []
        for cell in self.cell_types:
            for k in range(NODES):
                in0, op0, in1, op1 = _names(cell, k)
                inputs = range(k + 2)
                choices += [categorical(in0, inputs), categorical(op0, DARTS_OPS),
                            categorical(in1, inputs), categorical(op1, DARTS_OPS)]
        super().__init__(choices)

    def get_params(self) -> dict[str, Any]:
        """The constructor's keyword arguments; ``distinct_cells`` only when True.

        Leaving out the default keeps the configuration of a shared-cell space
        what it was before the option existed, so studies recorded then resume.
        """
        params = super().get_params()
        if not self.distinct_cells:
            del params["distinct_cells"]
        return params

    # -- cells and layers -----------------------------------------------------------
    def reduction_layers(self) -> tuple[int, ...]:
        """The layer indices of the reduction cells, as ``build`` places them (``layers // 3``, ``2 * layers // 3``).

        Imports torch (the rule is :func:`nasforge.spaces.nn.cells.darts_reduction_layers`, shared with the network).
        """
        from nasforge.spaces.nn.cells import darts_reduction_layers

        return darts_reduction_layers(self.layers)

    def cell_of_layer(self, i: int) -> str:
        """The key in :attr:`cell_types` of the cell layer ``i`` uses: ``cell{i}``, or ``reduce`` / ``normal``."""
        i = check_int("layer", i, 0, self.layers - 1, who=f"DartsSpace.cell_of_layer ({self.layers} layers)")
        if self.distinct_cells:
            return self.cell_types[i]
        return "reduce" if i in self.reduction_layers() else "normal"

    # -- validity and size --------------------------------------------------------
    def is_valid(self, arch: Architecture) -> bool:
        values = arch.as_dict()
        for cell in self.cell_types:
            for k in range(NODES):
                in0, _, in1, _ = _names(cell, k)
                if not values[in0] < values[in1]:  # type: ignore[operator]
                    return False
        return True

    def size(self) -> int:
        """The number of architectures, in closed form: ``(180 * 8**8) ** len(cell_types)`` (about 9.1e18 shared)."""
        per_cell = 1
        for k in range(NODES):
            per_cell *= comb(k + 2, 2) * len(DARTS_OPS) ** 2
        return per_cell ** len(self.cell_types)

    def enumerate(self) -> Iterator[Architecture]:
        """Every architecture, lazily (there are about 9.1e18 or more: take a slice)."""
        per_node = []
        for _cell in self.cell_types:
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
        return [tuple(values[n] for n in _names(cell, k)) for cell in self.cell_types for k in range(NODES)]

    def _from_nodes(self, nodes: Sequence[tuple[Any, ...]]) -> Architecture:
        items: list[tuple[str, Hashable]] = []
        for (cell, k), node in zip(itertools.product(self.cell_types, range(NODES)), nodes):
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
        for _cell in self.cell_types:
            for k in range(NODES):
                pairs = list(itertools.combinations(range(k + 2), 2))
                i0, i1 = pairs[int(rng.integers(len(pairs)))]
                o0, o1 = (DARTS_OPS[int(j)] for j in rng.integers(len(DARTS_OPS), size=2))
                nodes.append((i0, o0, i1, o1))
        return self._from_nodes(nodes)

    def mutate(self, arch: Architecture, rng: np.random.Generator) -> Architecture:
        """Change one edge: its op, or its source (to an input the node does not use yet)."""
        self.check(arch)
        nodes = self._nodes(arch)
        moves = [(n, m) for n, node in enumerate(nodes) for m in self._edge_moves(node, n % NODES)]
        n, new = moves[int(rng.integers(len(moves)))]
        nodes[n] = new
        return self._from_nodes(nodes)

    def neighbors(self, arch: Architecture) -> list[Architecture]:
        """Every architecture one edge change away (68 per cell: 136 with shared cells)."""
        self.check(arch)
        nodes = self._nodes(arch)
        out = []
        for n, node in enumerate(nodes):
            for new in self._edge_moves(node, n % NODES):
                out.append(self._from_nodes([*nodes[:n], new, *nodes[n + 1:]]))
        return out

    def crossover(self, a: Architecture, b: Architecture, rng: np.random.Generator) -> Architecture:
        """Uniform crossover of whole nodes (a node's two edges come from the same parent)."""
        self.check(a)
        self.check(b)
        na, nb = self._nodes(a), self._nodes(b)
        pick = rng.integers(2, size=len(na))
        return self._from_nodes([y if p else x for x, y, p in zip(na, nb, pick)])

    # -- genotypes and strings -------------------------------------------------------
    def genotype(self, arch: Architecture) -> dict[str, list[tuple[str, int]]]:
        """``{cell: [(op, input), ...]}`` for each key of :attr:`cell_types`: two pairs per node, as in DARTS.

        ``{"normal": [...], "reduce": [...]}`` with shared cells; ``{"cell0": [...], ...}`` with distinct cells.
        """
        values: dict[str, Any] = arch.as_dict()
        out: dict[str, list[tuple[str, int]]] = {}
        for cell in self.cell_types:
            pairs: list[tuple[str, int]] = []
            for k in range(NODES):
                in0, op0, in1, op1 = _names(cell, k)
                pairs += [(str(values[op0]), int(values[in0])), (str(values[op1]), int(values[in1]))]
            out[cell] = pairs
        return out

    def _keys_text(self) -> str:
        keys = self.cell_types
        return ", ".join(keys) if len(keys) <= 4 else f"{keys[0]}, {keys[1]}, ..., {keys[-1]}"

    def _mode_text(self) -> str:
        if self.distinct_cells:
            return (f"this DartsSpace has distinct cells (distinct_cells=True): one per layer, "
                    f"{len(self.cell_types)} in all")
        return "this DartsSpace shares one normal and one reduce cell (distinct_cells=False)"

    def from_cells(self, cells: Mapping[str, Sequence[tuple[str, int]]]) -> Architecture:
        """An architecture from ``{cell: [(op, input), ...]}`` with exactly the keys of :attr:`cell_types`
        (what :meth:`genotype` returns); a node's two pairs may come in either order."""
        if not isinstance(cells, Mapping):
            raise InvalidArchitectureError(f"from_cells takes a mapping of cell key to (op, input) pairs, got "
                                           f"{type(cells).__name__}; keys: {self._keys_text()}")
        unknown = [k for k in cells if k not in self.cell_types]
        if unknown:
            raise InvalidArchitectureError(
                f"unknown cell key(s) {', '.join(map(repr, unknown))}: {self._mode_text()}; "
                f"accepted keys: {self._keys_text()}")
        missing = [k for k in self.cell_types if k not in cells]
        if missing:
            raise InvalidArchitectureError(
                f"no genotype for cell(s) {', '.join(map(repr, missing))}: {self._mode_text()}; "
                f"give exactly the keys {self._keys_text()}")
        values: dict[str, Hashable] = {}
        for cell in self.cell_types:
            values.update(self._cell_values(cell, cells[cell]))
        return self.make(values)

    def from_genotype(self, normal: Sequence[tuple[str, int]], reduce: Sequence[tuple[str, int]]) -> Architecture:
        """An architecture from DARTS ``(op, input)`` lists; a node's two pairs may come in either order.

        Shared cells only; with distinct cells use :meth:`from_cells`.
        """
        if self.distinct_cells:
            raise InvalidArchitectureError(
                f"from_genotype(normal, reduce) builds a shared-cell architecture, but {self._mode_text()}; "
                f"use from_cells({{'cell0': [...], ..., 'cell{len(self.cell_types) - 1}': [...]}})")
        return self.from_cells({"normal": normal, "reduce": reduce})

    @staticmethod
    def _cell_values(cell: str, pairs: Sequence[tuple[str, int]]) -> dict[str, Hashable]:
        """The choice values of one cell from its 8 ``(op, input)`` pairs (each node's pair sorted by input)."""
        what = _the(cell)
        try:
            pairs = list(pairs)
        except TypeError:
            raise InvalidArchitectureError(f"{what} must be a list of (op, input) pairs, got {pairs!r}") from None
        if len(pairs) != 2 * NODES:
            raise InvalidArchitectureError(
                f"{what} has {len(pairs)} (op, input) pairs; expected {2 * NODES} (two per node)")
        values: dict[str, Hashable] = {}
        for k in range(NODES):
            edges = []
            for pair in pairs[2 * k:2 * k + 2]:
                if not isinstance(pair, (tuple, list)) or len(pair) != 2:
                    raise InvalidArchitectureError(
                        f"node {k} of {what} has {pair!r}; expected an (op, input) pair")
                op, src = pair
                if op not in DARTS_OPS:
                    raise InvalidArchitectureError(
                        f"unknown op {op!r} at node {k} of {what}; known: {', '.join(DARTS_OPS)}")
                if isinstance(src, bool) or not isinstance(src, (int, np.integer)) or not 0 <= src <= k + 1:
                    raise InvalidArchitectureError(
                        f"node {k} of {what} takes input {src!r}; node {k} may take inputs "
                        f"0..{k + 1} (0, 1: the previous cells; 2+j: node j)")
                edges.append((int(src), op))
            (s0, o0), (s1, o1) = sorted(edges)
            if s0 == s1:
                raise InvalidArchitectureError(
                    f"node {k} of {what} takes input {s0} twice; a node's two inputs must differ")
            values.update(zip(_names(cell, k), (s0, o0, s1, o1)))
        return values

    def to_string(self, arch: Architecture) -> str:
        geno = self.genotype(arch)
        return ";".join(f"{cell}=[" + ",".join(f"({op},{src})" for op, src in geno[cell]) + "]"
                        for cell in self.cell_types)

    def from_string(self, text: str) -> Architecture:
        if self.distinct_cells:
            last = self.cell_types[-1]
            expected = (f"'cell0=[(op,input),... 8 pairs];cell1=[...];...;{last}=[...]' (one list per layer, "
                        f"{len(self.cell_types)} in all) with ops from " + ", ".join(DARTS_OPS))
        else:
            expected = ("'normal=[(op,input),... 8 pairs];reduce=[...]' (or a DARTS Genotype(...)) with ops from "
                        + ", ".join(DARTS_OPS))
        s = re.sub(r"[\s'\"]", "", text)
        m = re.fullmatch(r"Genotype\((.*)\)", s)
        if m:
            s = m.group(1)
        shared_keys = ("normal", "reduce", "normal_concat", "reduce_concat")
        fields: dict[str, str] = {}
        for part in _split_top(s):
            key, sep, value = part.partition("=")
            if sep and self.distinct_cells and key in shared_keys:
                raise InvalidArchitectureError(
                    f"{text!r} is in the shared-cell form ({key}=...), but {self._mode_text()}; "
                    f"expected {expected}")
            if sep and not self.distinct_cells and _DISTINCT_KEY.fullmatch(key):
                raise InvalidArchitectureError(
                    f"{text!r} is in the distinct-cells form ({key}=...), but {self._mode_text()}; "
                    f"expected {expected}")
            if sep and self.distinct_cells and _DISTINCT_KEY.fullmatch(key) and key not in self.cell_types:
                raise InvalidArchitectureError(
                    f"unknown cell {key!r} in {text!r}: this space has {len(self.cell_types)} layers, "
                    f"cells {self._keys_text()}")
            accepted = self.cell_types if self.distinct_cells else shared_keys
            if not sep or key not in accepted:
                raise InvalidArchitectureError(f"malformed DARTS architecture {text!r}: bad field {part!r}; "
                                               f"expected {expected}")
            if key in fields:
                raise InvalidArchitectureError(f"malformed DARTS architecture {text!r}: {key!r} given twice")
            fields[key] = value
        for cell in self.cell_types:
            if cell not in fields:
                raise InvalidArchitectureError(f"malformed DARTS architecture {text!r}: no {cell!r} cell; "
                                               f"expected {expected}")
            concat = fields.get(f"{cell}_concat")
            if concat is not None and concat not in _ALL_NODES:
                raise InvalidArchitectureError(
                    f"{cell}_concat={concat} is not supported: cells here concatenate all four nodes "
                    f"(range(2, 6))")
        cells = {}
        for cell in self.cell_types:
            value = fields[cell]
            pairs = _PAIR.findall(value)
            if not (value.startswith("[") and value.endswith("]")) or \
                    value[1:-1] != ",".join(f"({a},{b})" for a, b in pairs):
                label = f"{cell} cell" if cell in CELL_TYPES else cell
                raise InvalidArchitectureError(f"malformed {label} {value!r} in {text!r}: expected a list "
                                               f"of (op,input) pairs")
            parsed = []
            for op, src in pairs:
                if not src.isdigit():
                    raise InvalidArchitectureError(
                        f"bad input {src!r} for op {op!r} in {_the(cell)} of {text!r}: inputs are integers")
                parsed.append((op, int(src)))
            cells[cell] = parsed
        return self.from_cells(cells)

    # -- networks ---------------------------------------------------------------
    def build(self, arch: Architecture, task: Any) -> Any:
        """The DARTS evaluation network of ``arch`` for an image ``task`` (``torch.nn.Module``).

        Stem conv 3x3 (stride 1) + BN; ``layers`` cells, each preprocessing its
        two inputs (FactorizedReduce after a reduction cell, else ReLU-conv1x1-BN)
        and concatenating its 4 nodes; reduction cells (:meth:`reduction_layers`)
        double the channels; global average pool; linear head. No auxiliary head.
        With distinct cells, layer ``i`` uses the genotype of ``cell{i}``. Any
        image size works; a tabular task raises ValueError.
        """
        from nasforge.spaces.nn import DartsNetwork, image_shape, positive_int

        channels, _, _ = image_shape(self.name, task)
        C, layers, stem = (positive_int(self, k) for k in ("C", "layers", "stem_multiplier"))
        if not 0.0 <= float(self.drop_path) < 1.0:
            raise ValueError(f"DartsSpace option drop_path={self.drop_path!r} must be in [0, 1)")
        self.check(arch)
        geno = self.genotype(arch)
        num_classes = positive_int(task, "num_classes")
        if self.distinct_cells:
            return DartsNetwork(None, None, C, layers, channels, num_classes, stem_multiplier=stem,
                                drop_path_prob=float(self.drop_path),
                                cell_genotypes=[geno[self.cell_of_layer(i)] for i in range(layers)])
        return DartsNetwork(geno["normal"], geno["reduce"], C, layers, channels, num_classes,
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
