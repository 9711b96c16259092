"""PyTorch building blocks of the cell spaces (NAS-Bench-201 and DARTS) and their networks.

Imported only by ``build`` (and by code that trains or exports networks), so
importing a space module does not import torch. Everything here traces with
``torch.jit.trace`` and exports to ONNX: no in-place ops on a module's input,
no data-dependent Python control flow (drop path acts only in training mode).

Module and attribute names mirror the reference implementations (NB201's
``TinyNetwork``/``InferCell``, DARTS' ``NetworkCIFAR``/``Cell``) so that their
state-dict keys look alike.

Two deliberate departures make odd image sizes work (both are exact no-ops on
even sizes, so the benchmark networks are unchanged): the residual shortcut's
2x2 average pool uses ``ceil_mode``, and :class:`FactorizedReduce`'s offset
path pads instead of slicing its input.
"""

from __future__ import annotations

import numbers
from typing import Sequence

import torch
from torch import nn

from nasforge.spaces.darts import DARTS_OPS
from nasforge.spaces.nb201 import NB201_OPS

__all__ = [
    "DARTS_OPS", "NB201_OPS", "DartsCell", "DartsNetwork", "DilConv", "FactorizedReduce", "NB201Cell",
    "NB201Network", "Pool", "ReLUConvBN", "ResNetBasicBlock", "SepConv", "Zero", "darts_op", "drop_path",
    "image_shape", "nb201_op", "positive_int",
]


def image_shape(space: str, task: object) -> tuple[int, int, int]:
    """The ``(C, H, W)`` input shape of ``task``; ValueError for tabular or malformed shapes."""
    shape = tuple(int(d) for d in getattr(task, "input_shape"))
    name = getattr(task, "name", "?")
    if len(shape) == 1:
        raise ValueError(f"space {space!r} builds convolutional networks for image tasks of shape (C, H, W); "
                         f"task {name!r} is tabular with input shape {shape}: use the 'mlp' space for "
                         f"tabular data")
    if len(shape) != 3 or min(shape) < 1:
        raise ValueError(f"space {space!r} needs an image task with input shape (C, H, W); "
                         f"task {name!r} has input shape {shape}")
    return shape  # type: ignore[return-value]


def positive_int(owner: object, key: str) -> int:
    """``owner.key`` as an int, or ValueError naming the option when it is not a positive integer."""
    value = getattr(owner, key)
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise ValueError(f"{type(owner).__name__} option {key}={value!r} must be a positive integer")
    return int(value)


# ----------------------------------------------------------------------------- shared ops


class ReLUConvBN(nn.Module):
    """ReLU, convolution (no bias), batch norm: NB201's ``nor_conv_*`` and DARTS' 1x1 preprocessing."""

    def __init__(self, C_in: int, C_out: int, kernel: int, stride: int, padding: int, dilation: int = 1,
                 affine: bool = True) -> None:
        super().__init__()
        self.op = nn.Sequential(
            nn.ReLU(inplace=False),
            nn.Conv2d(C_in, C_out, kernel, stride=stride, padding=padding, dilation=dilation, bias=False),
            nn.BatchNorm2d(C_out, affine=affine),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.op(x)


class Zero(nn.Module):
    """The ``none`` op: zeros shaped like the output of a stride-``stride`` op with the same channels."""

    def __init__(self, stride: int = 1) -> None:
        super().__init__()
        self.stride = stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.stride == 1:
            return x.mul(0.0)
        return x[:, :, ::self.stride, ::self.stride].mul(0.0)


class Pool(nn.Module):
    """3x3 max or average pooling (average excludes padding), stride 1 or 2, no batch norm."""

    def __init__(self, kind: str, stride: int = 1) -> None:
        super().__init__()
        if kind == "avg":
            self.op: nn.Module = nn.AvgPool2d(3, stride=stride, padding=1, count_include_pad=False)
        elif kind == "max":
            self.op = nn.MaxPool2d(3, stride=stride, padding=1)
        else:
            raise ValueError(f"unknown pooling {kind!r}; known: avg, max")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.op(x)


class FactorizedReduce(nn.Module):
    """Halve the resolution with two offset 1x1 stride-2 convolutions, concatenated, then batch norm.

    The offset path samples the odd rows and columns. DARTS slices the input
    (``x[:, :, 1:, 1:]``), which leaves the paths one pixel apart on odd sizes;
    here the offset conv pads by one and drops its first output row and column
    instead, which samples the same pixels on even sizes (so it is exactly the
    DARTS operation there) and gives both paths ``ceil(H/2) x ceil(W/2)`` on odd
    sizes (the last odd position being zero padding). It also avoids a Pad op,
    which the TorchScript ONNX exporter warns about. An odd ``C_out`` is split
    unevenly between the paths.
    """

    def __init__(self, C_in: int, C_out: int, affine: bool = True) -> None:
        super().__init__()
        self.relu = nn.ReLU(inplace=False)
        self.conv_1 = nn.Conv2d(C_in, C_out - C_out // 2, 1, stride=2, padding=0, bias=False)
        self.conv_2 = nn.Conv2d(C_in, C_out // 2, 1, stride=2, padding=1, bias=False)
        self.bn = nn.BatchNorm2d(C_out, affine=affine)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.relu(x)
        return self.bn(torch.cat([self.conv_1(x), self.conv_2(x)[:, :, 1:, 1:]], dim=1))


class SepConv(nn.Module):
    """DARTS separable convolution: (ReLU, depthwise conv, pointwise conv, BN) twice; only the first strides."""

    def __init__(self, C_in: int, C_out: int, kernel: int, stride: int, padding: int, affine: bool = True) -> None:
        super().__init__()
        self.op = nn.Sequential(
            nn.ReLU(inplace=False),
            nn.Conv2d(C_in, C_in, kernel, stride=stride, padding=padding, groups=C_in, bias=False),
            nn.Conv2d(C_in, C_in, 1, padding=0, bias=False),
            nn.BatchNorm2d(C_in, affine=affine),
            nn.ReLU(inplace=False),
            nn.Conv2d(C_in, C_in, kernel, stride=1, padding=padding, groups=C_in, bias=False),
            nn.Conv2d(C_in, C_out, 1, padding=0, bias=False),
            nn.BatchNorm2d(C_out, affine=affine),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.op(x)


class DilConv(nn.Module):
    """DARTS dilated separable convolution: ReLU, dilated depthwise conv, pointwise conv, BN."""

    def __init__(self, C_in: int, C_out: int, kernel: int, stride: int, padding: int, dilation: int,
                 affine: bool = True) -> None:
        super().__init__()
        self.op = nn.Sequential(
            nn.ReLU(inplace=False),
            nn.Conv2d(C_in, C_in, kernel, stride=stride, padding=padding, dilation=dilation, groups=C_in,
                      bias=False),
            nn.Conv2d(C_in, C_out, 1, padding=0, bias=False),
            nn.BatchNorm2d(C_out, affine=affine),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.op(x)


def drop_path(x: torch.Tensor, prob: float) -> torch.Tensor:
    """Zero whole samples with probability ``prob`` and rescale the rest (call in training mode only)."""
    keep = 1.0 - prob
    mask = torch.bernoulli(torch.full((x.shape[0], 1, 1, 1), keep, dtype=x.dtype, device=x.device))
    return x * mask / keep


# ----------------------------------------------------------------------------- NAS-Bench-201


class ResNetBasicBlock(nn.Module):
    """NB201's residual block between stages: two ReLU-Conv-BN 3x3 convs; shortcut avg pool 2x2 + conv 1x1."""

    def __init__(self, C_in: int, C_out: int, stride: int = 2) -> None:
        super().__init__()
        self.conv_a = ReLUConvBN(C_in, C_out, 3, stride, 1)
        self.conv_b = ReLUConvBN(C_out, C_out, 3, 1, 1)
        if stride == 2:
            # ceil_mode (and excluding padding, of which there is none) only matters for odd sizes,
            # where it keeps the shortcut the same size as the strided 3x3 conv
            self.downsample: nn.Module | None = nn.Sequential(
                nn.AvgPool2d(2, stride=2, padding=0, ceil_mode=True, count_include_pad=False),
                nn.Conv2d(C_in, C_out, 1, stride=1, padding=0, bias=False),
            )
        elif C_in != C_out:
            self.downsample = ReLUConvBN(C_in, C_out, 1, 1, 0)
        else:
            self.downsample = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.conv_b(self.conv_a(x))
        residual = x if self.downsample is None else self.downsample(x)
        return residual + out


def nb201_op(name: str, C: int) -> nn.Module:
    """One NB201 edge operation at ``C`` channels, stride 1."""
    if name == "none":
        return Zero(1)
    if name == "skip_connect":
        return nn.Identity()
    if name == "nor_conv_1x1":
        return ReLUConvBN(C, C, 1, 1, 0)
    if name == "nor_conv_3x3":
        return ReLUConvBN(C, C, 3, 1, 1)
    if name == "avg_pool_3x3":
        return Pool("avg", 1)
    raise ValueError(f"unknown NB201 op {name!r}; known: {', '.join(NB201_OPS)}")


class NB201Cell(nn.Module):
    """A 4-node NB201 cell; ``ops`` are the six edge ops in NB201 string order (1<-0, 2<-0, 2<-1, ...)."""

    def __init__(self, ops: Sequence[str], C: int) -> None:
        super().__init__()
        self.layers = nn.ModuleList([nb201_op(op, C) for op in ops])
        # per node j: the (layer index, input node) pairs that feed it
        self.node_inputs: list[list[tuple[int, int]]] = []
        k = 0
        for j in range(1, 4):
            edges = [(k + i, i) for i in range(j)]
            k += j
            # a `none` edge adds zeros; drop it unless the node would have no input left
            live = [(e, i) for e, i in edges if ops[e] != "none"]
            self.node_inputs.append(live or edges[:1])

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
    linear classifier.
    """

    def __init__(self, ops: Sequence[str], C: int, N: int, in_channels: int, num_classes: int) -> None:
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(in_channels, C, 3, padding=1, bias=False), nn.BatchNorm2d(C))
        cells: list[nn.Module] = []
        C_prev = C
        for stage, C_curr in enumerate((C, 2 * C, 4 * C)):
            if stage > 0:
                cells.append(ResNetBasicBlock(C_prev, C_curr, 2))
            cells.extend(NB201Cell(ops, C_curr) for _ in range(N))
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


def darts_op(name: str, C: int, stride: int) -> nn.Module:
    """One DARTS edge operation at ``C`` channels (stride 2 on a reduction cell's inputs)."""
    if name == "none":
        return Zero(stride)
    if name == "max_pool_3x3":
        return Pool("max", stride)
    if name == "avg_pool_3x3":
        return Pool("avg", stride)
    if name == "skip_connect":
        return nn.Identity() if stride == 1 else FactorizedReduce(C, C)
    if name == "sep_conv_3x3":
        return SepConv(C, C, 3, stride, 1)
    if name == "sep_conv_5x5":
        return SepConv(C, C, 5, stride, 2)
    if name == "dil_conv_3x3":
        return DilConv(C, C, 3, stride, 2, 2)
    if name == "dil_conv_5x5":
        return DilConv(C, C, 5, stride, 4, 2)
    raise ValueError(f"unknown DARTS op {name!r}; known: {', '.join(DARTS_OPS)}")


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


class DartsNetwork(nn.Module):
    """The DARTS evaluation network (DARTS' ``NetworkCIFAR`` without the auxiliary head).

    Stem conv 3x3 (stride 1) + BN at ``stem_multiplier * C`` channels; ``layers``
    cells, reduction cells (doubling the channels) at ``layers // 3`` and
    ``2 * layers // 3``; global average pool; linear classifier.
    ``drop_path_prob`` applies in training mode only; a trainer may change it
    (DARTS ramps it up linearly over the epochs).
    """

    def __init__(self, normal: Sequence[tuple[str, int]], reduce: Sequence[tuple[str, int]], C: int,
                 layers: int, in_channels: int, num_classes: int, stem_multiplier: int = 3,
                 drop_path_prob: float = 0.0) -> None:
        super().__init__()
        self.drop_path_prob = float(drop_path_prob)
        C_curr = stem_multiplier * C
        self.stem = nn.Sequential(nn.Conv2d(in_channels, C_curr, 3, padding=1, bias=False),
                                  nn.BatchNorm2d(C_curr))
        C_prev_prev, C_prev, C_curr = C_curr, C_curr, C
        reduction_prev = False
        cells = []
        for i in range(layers):
            reduction = i in (layers // 3, 2 * layers // 3)
            if reduction:
                C_curr *= 2
            cell = DartsCell(reduce if reduction else normal, C_prev_prev, C_prev, C_curr, reduction,
                             reduction_prev)
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
