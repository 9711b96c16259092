"""The cell networks: NAS-Bench-201's ``TinyNetwork`` and DARTS' ``NetworkCIFAR``, with their edge operations.

Operations are defined here by name (:data:`NB201_OP_MODULES`,
:data:`DARTS_OP_MODULES`); the spaces own the name lists, the edge order and
the genotypes, and pass them in. Nothing here imports a space.
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

import torch
from torch import nn

from nasforge.options import check_int
from nasforge.spaces.cellgraph import running_inputs
from nasforge.spaces.nn.blocks import (DilConv, FactorizedReduce, Pool, ReLUConvBN, ResNetBasicBlock, SepConv, Zero,
                                       drop_path)

__all__ = ["DARTS_OP_MODULES", "DartsCell", "DartsNetwork", "NB201Cell", "NB201Network", "NB201_OP_MODULES",
           "darts_op", "darts_reduction_layers", "nb201_op"]


# ----------------------------------------------------------------------------- NAS-Bench-201


#: The module of each NAS-Bench-201 operation name at ``C`` channels, stride 1 (the space lists the
#: names in its own order; a test checks both name sets agree).
NB201_OP_MODULES: dict[str, Callable[[int], nn.Module]] = {
    "none": lambda C: Zero(1),
    "skip_connect": lambda C: nn.Identity(),
    "nor_conv_1x1": lambda C: ReLUConvBN(C, C, 1, 1, 0),
    "nor_conv_3x3": lambda C: ReLUConvBN(C, C, 3, 1, 1),
    "avg_pool_3x3": lambda C: Pool("avg", 1),
}


def nb201_op(name: str, C: int) -> nn.Module:
    """One NB201 edge operation at ``C`` channels, stride 1."""
    try:
        make = NB201_OP_MODULES[name]
    except KeyError:
        raise ValueError(f"unknown NB201 op {name!r}; known: {', '.join(NB201_OP_MODULES)}") from None
    return make(C)


class NB201Cell(nn.Module):
    """A NAS-Bench-201 cell: node 0 is the input, each later node sums its incoming edges, the last is the output.

    ``ops[k]`` is the operation on ``edges[k]``, a ``(to_node, from_node)`` pair;
    the space passes its own edge list, so the wiring is not a second copy of it.
    """

    def __init__(self, ops: Sequence[str], C: int, edges: Sequence[tuple[int, int]]) -> None:
        super().__init__()
        # per node: the (layer index, input node) pairs that feed it (a `none` edge only adds zeros: left out
        # unless the node would have no input left)
        self.node_inputs: list[list[tuple[int, int]]] = running_inputs(ops, edges)
        self.layers = nn.ModuleList([nb201_op(op, C) for op in ops])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        nodes = [x]
        for inputs in self.node_inputs:
            out = self.layers[inputs[0][0]](nodes[inputs[0][1]])
            for e, i in inputs[1:]:
                out = out + self.layers[e](nodes[i])
            nodes.append(out)
        return nodes[-1]


class NB201Network(nn.Module):
    """The NAS-Bench-201 macro network (NB201's ``TinyNetwork`` with a fixed cell).

    Stem conv 3x3 + BN; three stages of ``N`` cells at ``C``, ``2C``, ``4C``
    channels joined by stride-2 residual blocks; BN, ReLU, global average pool,
    linear classifier. ``make_cell(C)``, when given, builds each cell instead of
    ``NB201Cell(ops, C, edges)`` (a supernet puts its choice cells in the same
    skeleton, so both have the same module names).
    """

    def __init__(self, ops: Sequence[str] | None, C: int, N: int, in_channels: int, num_classes: int,
                 edges: Sequence[tuple[int, int]] | None, *,
                 make_cell: Callable[[int], nn.Module] | None = None) -> None:
        super().__init__()
        if make_cell is None:
            if ops is None or edges is None:
                raise ValueError("NB201Network needs ops and edges, or make_cell")
            make_cell = lambda C_cell: NB201Cell(ops, C_cell, edges)  # noqa: E731
        self.stem = nn.Sequential(nn.Conv2d(in_channels, C, 3, padding=1, bias=False), nn.BatchNorm2d(C))
        cells: list[nn.Module] = []
        C_prev = C
        for stage, C_curr in enumerate((C, 2 * C, 4 * C)):
            if stage > 0:
                cells.append(ResNetBasicBlock(C_prev, C_curr, 2))
            cells.extend(make_cell(C_curr) for _ in range(N))
            C_prev = C_curr
        self.cells = nn.ModuleList(cells)
        self.lastact = nn.Sequential(nn.BatchNorm2d(C_prev), nn.ReLU(inplace=False))
        self.global_pooling = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(C_prev, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stem(x)
        for cell in self.cells:
            x = cell(x)
        x = self.global_pooling(self.lastact(x))
        return self.classifier(torch.flatten(x, 1))


# ----------------------------------------------------------------------------- DARTS


#: The module of each DARTS operation name at ``C`` channels and ``stride`` (the space lists the names
#: in its own order; a test checks both name sets agree).
DARTS_OP_MODULES: dict[str, Callable[[int, int], nn.Module]] = {
    "none": lambda C, stride: Zero(stride),
    "max_pool_3x3": lambda C, stride: Pool("max", stride),
    "avg_pool_3x3": lambda C, stride: Pool("avg", stride),
    "skip_connect": lambda C, stride: nn.Identity() if stride == 1 else FactorizedReduce(C, C),
    "sep_conv_3x3": lambda C, stride: SepConv(C, C, 3, stride, 1),
    "sep_conv_5x5": lambda C, stride: SepConv(C, C, 5, stride, 2),
    "dil_conv_3x3": lambda C, stride: DilConv(C, C, 3, stride, 2, 2),
    "dil_conv_5x5": lambda C, stride: DilConv(C, C, 5, stride, 4, 2),
}


def darts_op(name: str, C: int, stride: int) -> nn.Module:
    """One DARTS edge operation at ``C`` channels (stride 2 on a reduction cell's inputs)."""
    try:
        make = DARTS_OP_MODULES[name]
    except KeyError:
        raise ValueError(f"unknown DARTS op {name!r}; known: {', '.join(DARTS_OP_MODULES)}") from None
    return make(C, stride)


class DartsCell(nn.Module):
    """A DARTS cell: 4 nodes, each the sum of two ops on earlier states; output = the nodes concatenated.

    ``genotype`` lists 8 ``(op, input)`` pairs, two per node; input 0 and 1 are
    the (preprocessed) outputs of the previous two cells, ``2 + j`` is node ``j``.
    """

    def __init__(self, genotype: Sequence[tuple[str, int]], C_prev_prev: int, C_prev: int, C: int,
                 reduction: bool, reduction_prev: bool) -> None:
        super().__init__()
        self.reduction = reduction
        self.preprocess0: nn.Module = (FactorizedReduce(C_prev_prev, C) if reduction_prev
                                       else ReLUConvBN(C_prev_prev, C, 1, 1, 0))
        self.preprocess1 = ReLUConvBN(C_prev, C, 1, 1, 0)
        self._steps = len(genotype) // 2
        self._indices = [int(i) for _, i in genotype]
        self._ops = nn.ModuleList([darts_op(op, C, 2 if reduction and i < 2 else 1) for op, i in genotype])
        self.multiplier = self._steps

    def forward(self, s0: torch.Tensor, s1: torch.Tensor, drop_prob: float = 0.0) -> torch.Tensor:
        states = [self.preprocess0(s0), self.preprocess1(s1)]
        for k in range(self._steps):
            total = None
            for e in (2 * k, 2 * k + 1):
                op = self._ops[e]
                h = op(states[self._indices[e]])
                if self.training and drop_prob > 0.0 and not isinstance(op, nn.Identity):
                    h = drop_path(h, drop_prob)
                total = h if total is None else total + h
            states.append(total)
        return torch.cat(states[2:], dim=1)


def darts_reduction_layers(layers: int) -> tuple[int, ...]:
    """The indices of the reduction cells among ``layers`` DARTS cells: ``layers // 3`` and ``2 * layers // 3``.

    One index when the two coincide (``layers == 1``); none for ``layers == 0``.
    The DARTS space and :class:`DartsNetwork` both take the positions from here.
    """
    n = check_int("layers", layers, minimum=0)
    return tuple(sorted({i for i in (n // 3, 2 * n // 3) if i < n}))


class DartsNetwork(nn.Module):
    """The DARTS evaluation network (DARTS' ``NetworkCIFAR`` without the auxiliary head).

    Stem conv 3x3 (stride 1) + BN at ``stem_multiplier * C`` channels; ``layers``
    cells, reduction cells (doubling the channels) at :func:`darts_reduction_layers`
    (``layers // 3`` and ``2 * layers // 3``); global average pool; linear classifier.
    Cell ``i`` uses ``reduce`` at a reduction position and ``normal`` elsewhere;
    alternatively ``cell_genotypes`` gives every cell its own genotype (one per
    layer, as in D-DARTS; ``normal`` and ``reduce`` are then None), the
    reduction positions staying the same.
    ``drop_path_prob`` applies in training mode only; a trainer may change it
    (DARTS ramps it up linearly over the epochs). ``make_cell(i, C_prev_prev,
    C_prev, C, reduction, reduction_prev)``, when given (with no genotypes),
    builds cell ``i`` instead of a :class:`DartsCell` (a supernet puts its choice
    cells in the same skeleton); a cell has a ``multiplier`` (its output is
    ``multiplier * C`` channels) and is called as ``cell(s0, s1, drop_prob)``.
    """

    def __init__(self, normal: Sequence[tuple[str, int]] | None, reduce: Sequence[tuple[str, int]] | None, C: int,
                 layers: int, in_channels: int, num_classes: int, stem_multiplier: int = 3,
                 drop_path_prob: float = 0.0, *,
                 cell_genotypes: Sequence[Sequence[tuple[str, int]]] | None = None,
                 make_cell: Callable[[int, int, int, int, bool, bool], nn.Module] | None = None) -> None:
        super().__init__()
        reductions = darts_reduction_layers(layers)
        if make_cell is not None:
            if normal is not None or reduce is not None or cell_genotypes is not None:
                raise ValueError("DartsNetwork takes make_cell or genotypes, not both")
            genotypes: list[Any] = [None] * layers
        elif cell_genotypes is None:
            if normal is None or reduce is None:
                raise ValueError("DartsNetwork needs the normal and reduce genotypes, or cell_genotypes "
                                 "(one per layer)")
            genotypes = [reduce if i in reductions else normal for i in range(layers)]
        else:
            if normal is not None or reduce is not None:
                raise ValueError("DartsNetwork takes either normal and reduce, or cell_genotypes (then normal "
                                 "and reduce must be None), not both")
            genotypes = list(cell_genotypes)
            if len(genotypes) != layers:
                raise ValueError(f"cell_genotypes has {len(genotypes)} genotypes for {layers} layers; "
                                 f"give one per layer")
        self.drop_path_prob = float(drop_path_prob)
        C_curr = stem_multiplier * C
        self.stem = nn.Sequential(nn.Conv2d(in_channels, C_curr, 3, padding=1, bias=False),
                                  nn.BatchNorm2d(C_curr))
        C_prev_prev, C_prev, C_curr = C_curr, C_curr, C
        reduction_prev = False
        cells = []
        for i, genotype in enumerate(genotypes):
            reduction = i in reductions
            if reduction:
                C_curr *= 2
            cell = (make_cell(i, C_prev_prev, C_prev, C_curr, reduction, reduction_prev) if make_cell is not None
                    else DartsCell(genotype, C_prev_prev, C_prev, C_curr, reduction, reduction_prev))
            cells.append(cell)
            reduction_prev = reduction
            C_prev_prev, C_prev = C_prev, cell.multiplier * C_curr
        self.cells = nn.ModuleList(cells)
        self.global_pooling = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(C_prev, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s0 = s1 = self.stem(x)
        for cell in self.cells:
            s0, s1 = s1, cell(s0, s1, self.drop_path_prob)
        return self.classifier(torch.flatten(self.global_pooling(s1), 1))
