"""The NAS-Bench-201 cell space: 6 edges of a 4-node cell, 5 operations each (15,625 cells).

This module is the one home of the NB201 facts: the operation names
(:data:`NB201_OPS`), the edge order (:data:`NB201_EDGES`), the string form
``|op~0|+|op~0|op~1|+|op~0|op~1|op~2|`` (where ``op~j`` in the ``i``-th group
is the edge from node ``j`` into node ``i``), and the AnalogNAS-Bench 6-tuple
layout (:data:`ANALOG_TUPLE_EDGES`, :data:`ANALOG_OP_IDS`). Benchmarks import
them from here; this module imports no benchmark. The NB201 *index* of a cell
is a row number of the benchmark's data file, not something the facts
determine, so it lives with the data: ``NB201Benchmark.index_of(arch)`` and
``NB201Benchmark.arch_at(index)``.

:meth:`NB201Space.build` makes the benchmark's network for a cell (sized by the
space options ``C`` and ``N``). Isomorphic cells are *not* merged: NAS-Bench-201
trains and reports each of the 15,625 cells separately, so the canonical form
is the cell itself.
"""

from __future__ import annotations

import operator
import re
from typing import Any, Iterable, Sequence

import numpy as np

from nasforge.options import check_int
from nasforge.spaces.base import Architecture, InvalidArchitectureError, SearchSpace, categorical
from nasforge.spaces.cellgraph import running_inputs

__all__ = ["ANALOG_OP_IDS", "ANALOG_TUPLE_EDGES", "CELL_COST_FEATURES", "NB201_EDGES", "NB201_OPS", "NB201Space",
           "cell_cost_features", "edge_name", "format_cell", "nb201_to_tuple", "parse_cell", "tuple_to_nb201"]

#: The five operations, in the benchmark's order (also the order of the one-hot encoding).
NB201_OPS: tuple[str, ...] = ("none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3")
#: The six edges as ``(to_node, from_node)``, in the order they appear in the cell string.
NB201_EDGES: tuple[tuple[int, int], ...] = ((1, 0), (2, 0), (2, 1), (3, 0), (3, 1), (3, 2))
_NODES = 1 + max(t for t, _ in NB201_EDGES)

#: The edge of each position of an AnalogNAS-Bench tuple: NASLib's order, i.e. by source node, then
#: target node: (0->1), (0->2), (0->3), (1->2), (1->3), (2->3). Written ``(to_node, from_node)`` like
#: :data:`NB201_EDGES`. The package does not document its layout; this one (with :data:`ANALOG_OP_IDS`)
#: was verified against nb201.csv by exhaustive search over all 720 edge orders x 120 op-id assignments:
#: Spearman 0.9901 between ``baseline_accuracy`` and the 200-epoch CIFAR-10 test accuracy; the
#: runner-up (the mirrored DAG) reaches 0.9680, any other op assignment at most 0.7815.
ANALOG_TUPLE_EDGES: tuple[tuple[int, int], ...] = tuple(sorted(NB201_EDGES, key=lambda e: (e[1], e[0])))
#: The NB201 operation of each AnalogNAS-Bench op id (index = id): 0 skip, 1 none, 2 conv3x3,
#: 3 conv1x1, 4 avgpool.
ANALOG_OP_IDS: tuple[str, ...] = ("skip_connect", "none", "nor_conv_3x3", "nor_conv_1x1", "avg_pool_3x3")

# tuple position -> position of the same edge in the cell string
_TUPLE_TO_STRING: tuple[int, ...] = tuple(NB201_EDGES.index(e) for e in ANALOG_TUPLE_EDGES)
_OP_ID: dict[str, int] = {op: i for i, op in enumerate(ANALOG_OP_IDS)}
_GROUP = re.compile(r"^\|(.*)\|$")
_EXPECTED = ("'|op~0|+|op~0|op~1|+|op~0|op~1|op~2|' with ops from " + ", ".join(NB201_OPS))


def edge_name(to_node: int, from_node: int) -> str:
    """The choice name of an edge: ``'2<-1'``."""
    return f"{to_node}<-{from_node}"


def format_cell(ops: Sequence[str]) -> str:
    """The NB201 cell string of the six operations (in :data:`NB201_EDGES` order)."""
    groups: dict[int, list[str]] = {node: [] for node in range(1, _NODES)}
    for (to_node, from_node), op in zip(NB201_EDGES, ops):
        groups[to_node].append(f"{op}~{from_node}")
    return "+".join("|" + "|".join(g) + "|" for g in groups.values())


def parse_cell(text: str) -> tuple[str, ...]:
    """The six operations (in :data:`NB201_EDGES` order) of an NB201 cell string.

    Raises :class:`InvalidArchitectureError` naming the string and the expected form.
    """
    if not isinstance(text, str):
        raise InvalidArchitectureError(f"an NB201 cell must be a string {_EXPECTED}; got {type(text).__name__} "
                                       f"{text!r}")
    text = text.strip()
    groups = text.split("+")
    if len(groups) != _NODES - 1:
        raise InvalidArchitectureError(f"malformed NB201 cell {text!r}: expected {_EXPECTED}")
    found: dict[tuple[int, int], str] = {}
    for to_node, group in enumerate(groups, start=1):
        m = _GROUP.match(group)
        parts = m.group(1).split("|") if m else []
        if len(parts) != to_node:
            raise InvalidArchitectureError(f"malformed NB201 cell {text!r}: expected {_EXPECTED}")
        for from_node, part in enumerate(parts):
            op, sep, src = part.rpartition("~")
            if not sep or src != str(from_node) or op not in NB201_OPS:
                raise InvalidArchitectureError(
                    f"malformed NB201 cell {text!r}: bad edge {part!r}; expected {_EXPECTED}")
            found[(to_node, from_node)] = op
    return tuple(found[e] for e in NB201_EDGES)


#: the columns of :func:`cell_cost_features` (and of ``NB201Space.cost_features``)
CELL_COST_FEATURES: tuple[str, ...] = (*(f"runs:{op}" for op in NB201_OPS), "runs:add",
                                       *(f"reaches:{op}" for op in NB201_OPS), "reaches:add",
                                       "reaches:distinct_avg_pool_3x3", "reaches:distinct_relu")


def cell_cost_features(ops: Sequence[str]) -> tuple[float, ...]:
    """What a cell computes, by :data:`CELL_COST_FEATURES`: ``runs:<op>`` counts the edges of each operation
    that are computed when the network runs op by op (eager PyTorch; a ``none`` edge only where it is a node's
    zero input, see :func:`running_inputs`) and ``runs:add`` their additions; ``reaches:...`` counts the same for
    the edges that lie on a path to the output node, all a graph runtime keeps after removing dead computation
    (ONNX export and ONNX Runtime); ``reaches:distinct_avg_pool_3x3`` counts pooled inputs and
    ``reaches:distinct_relu`` the inputs of convolutions, as a runtime that merges identical computation (ONNX
    Runtime) pools or rectifies each input once. Two cells with the same operation counts can differ here
    several-fold in latency."""
    inputs = running_inputs(ops, NB201_EDGES)
    index = {op: i for i, op in enumerate(NB201_OPS)}
    runs, reaches = [0.0] * (len(NB201_OPS) + 1), [0.0] * (len(NB201_OPS) + 1)
    needed = {len(inputs)}  # the output node; walk back through the edges that run
    for node in range(len(inputs), 0, -1):
        if node in needed:
            needed.update(f for _, f in inputs[node - 1])
    pooled, rectified = set(), set()
    for node, pairs in enumerate(inputs, start=1):
        for counts in (runs, reaches) if node in needed else (runs,):
            counts[-1] += len(pairs) - 1
            for k, _ in pairs:
                counts[index[ops[k]]] += 1
        if node in needed:
            pooled.update(f for k, f in pairs if ops[k] == "avg_pool_3x3")
            rectified.update(f for k, f in pairs if ops[k] in ("nor_conv_1x1", "nor_conv_3x3"))
    return (*runs, *reaches, float(len(pooled)), float(len(rectified)))


def nb201_to_tuple(cell: str) -> tuple[int, ...]:
    """The AnalogNAS-Bench op-id tuple of an NB201 cell string."""
    ops = parse_cell(cell)
    return tuple(_OP_ID[ops[_TUPLE_TO_STRING[pos]]] for pos in range(len(ANALOG_TUPLE_EDGES)))


def tuple_to_nb201(t: Iterable[int]) -> str:
    """The NB201 cell string of an AnalogNAS-Bench op-id tuple (6 integers in 0..4)."""
    ids = _check_tuple(t)
    ops = [""] * len(NB201_EDGES)
    for pos, op_id in enumerate(ids):
        ops[_TUPLE_TO_STRING[pos]] = ANALOG_OP_IDS[op_id]
    return format_cell(ops)


def _check_tuple(t: Any) -> tuple[int, ...]:
    """An op-id tuple as Python ints, or InvalidArchitectureError naming the value and what is accepted."""
    n = len(ANALOG_TUPLE_EDGES)
    accepted = (f"expected a sequence of {n} integer op ids in 0..{len(ANALOG_OP_IDS) - 1} ("
                + ", ".join(f"{i}={op}" for i, op in enumerate(ANALOG_OP_IDS)) + ")")

    def bad(why: str) -> InvalidArchitectureError:
        return InvalidArchitectureError(f"bad AnalogNAS-Bench architecture {t!r}: {why}{accepted}")

    if isinstance(t, (str, bytes)) or not isinstance(t, Iterable):
        raise bad("")
    items = list(t)
    if len(items) != n:
        raise bad(f"has {len(items)} entries; ")
    out: list[int] = []
    for x in items:
        if isinstance(x, bool):
            raise bad(f"entry {x!r} is a bool; ")
        try:
            v = operator.index(x)
        except TypeError:
            raise bad(f"entry {x!r} is not an integer; ") from None
        if not 0 <= v < len(ANALOG_OP_IDS):
            raise bad(f"op id {v} out of range; ")
        out.append(v)
    return tuple(out)


class NB201Space(SearchSpace):
    """NAS-Bench-201 cells (the choices are fixed by the benchmark).

    ``C`` (initial channels) and ``N`` (cells per stage) size only the network
    that :meth:`build` makes; the defaults (16, 5) are the benchmark's network.
    """

    name = "nb201"
    latency_units = ("ReLUConvBN", "Pool", "ResNetBasicBlock")
    cost_feature_names = CELL_COST_FEATURES

    def __init__(self, C: int = 16, N: int = 5) -> None:
        self.C = C
        self.N = N
        super().__init__([categorical(edge_name(t, f), NB201_OPS) for t, f in NB201_EDGES])

    def __len__(self) -> int:
        return len(NB201_OPS) ** len(NB201_EDGES)

    def cost_features(self, arch: Architecture) -> np.ndarray:
        """:func:`cell_cost_features` of the cell (columns :data:`CELL_COST_FEATURES`): which edges run and which
        reach the output, beyond the operation counts."""
        return np.asarray(cell_cost_features(self.ops(arch)), dtype=np.float32)

    def ops(self, arch: Architecture) -> tuple[str, ...]:
        """The six operations in NB201 string order."""
        return tuple(str(v) for _, v in arch.choices)

    def from_ops(self, ops: tuple[str, ...] | list[str]) -> Architecture:
        if len(ops) != len(NB201_EDGES):
            raise InvalidArchitectureError(f"an NB201 cell has {len(NB201_EDGES)} edges, got {len(ops)} ops: "
                                           f"{list(ops)}")
        return self.make({edge_name(t, f): op for (t, f), op in zip(NB201_EDGES, ops)})

    def to_string(self, arch: Architecture) -> str:
        if arch.string and arch.space == self.name:  # made by this space: its string is already the form
            return arch.string
        return format_cell(self.ops(arch))

    def from_string(self, text: str) -> Architecture:
        return self.from_ops(parse_cell(text))

    # -- networks ---------------------------------------------------------------
    def build(self, arch: Architecture, task: Any) -> Any:
        """The NAS-Bench-201 network of ``arch`` for an image ``task`` (``torch.nn.Module``).

        Stem conv 3x3 + BN at ``C`` channels; three stages of ``N`` cells at
        ``C``, ``2C``, ``4C`` channels joined by stride-2 residual blocks; BN,
        ReLU, global average pool and a linear head to ``task.num_classes``.
        With C=16, N=5 it is the benchmark's network (1,531,546 parameters for
        10 classes and all-``nor_conv_3x3`` cells). Any image size works (odd
        sizes too); a tabular task raises ValueError.
        """
        from nasforge.spaces.nn import NB201Network, image_shape

        channels, _, _ = image_shape(self.name, task)
        C = check_int("C", self.C, minimum=1, who="NB201Space")
        N = check_int("N", self.N, minimum=1, who="NB201Space")
        num_classes = check_int("num_classes", getattr(task, "num_classes", None), minimum=1,
                                who=f"task {getattr(task, 'name', '?')!r}")
        self.check(arch)
        return NB201Network(self.ops(arch), C, N, channels, num_classes, NB201_EDGES)

    # -- the AnalogNAS-Bench identifier -----------------------------------------
    def to_analog_tuple(self, arch: Architecture) -> tuple[int, ...]:
        """The AnalogNAS-Bench 6-tuple of a cell (see :data:`ANALOG_TUPLE_EDGES`, :data:`ANALOG_OP_IDS`)."""
        return nb201_to_tuple(self.to_string(arch))

    def from_analog_tuple(self, t: Iterable[int]) -> Architecture:
        return self.from_string(tuple_to_nb201(t))
