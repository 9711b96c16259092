"""PyTorch building blocks shared by the cell networks: convolutions, pooling, zero, drop path.

Everything here traces with ``torch.jit.trace`` and exports to ONNX: no
in-place ops on a module's input, no data-dependent Python control flow (drop
path acts only in training mode). Module and attribute names mirror the
reference implementations (NB201, DARTS) so that state-dict keys look alike.

Two deliberate departures make odd image sizes work (both are exact no-ops on
even sizes, so the benchmark networks are unchanged): the residual shortcut's
2x2 average pool uses ``ceil_mode``, and :class:`FactorizedReduce`'s offset
path pads instead of slicing its input.

This package imports no space module: spaces import it (inside ``build``) and
pass in what they know (operation names, edges).
"""

from __future__ import annotations

import torch
from torch import nn

from nasforge.options import check_int

__all__ = ["DilConv", "FactorizedReduce", "Pool", "ReLUConvBN", "ResNetBasicBlock", "SepConv", "Zero",
           "drop_path", "image_shape", "positive_int"]


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
    """``owner.key`` checked with :func:`nasforge.options.check_int` (an integer >= 1).

    The message names the owner and the option as ``key=value``:
    ``DartsSpace: option layers=0 must be an integer >= 1, got 0``.
    """
    value = getattr(owner, key)
    return check_int(f"option {key}={value!r}", value, minimum=1, who=type(owner).__name__)




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
