"""A MnasNet / ProxylessNAS-style MobileNet space: stages of searchable depth, MBConv blocks.

The network is a fixed skeleton with searchable blocks (the "factorised
hierarchical" space of MnasNet, Tan et al. 2019):

* **stem**: conv 3x3 (stride 2) -> BatchNorm -> ReLU6, ``stem_channels`` wide;
* **stages**: one per ``(channels, stride)`` pair of ``stages``. Stage ``s``
  has ``s{s}.depth`` blocks (``1..max_depth``); its first block has the
  stage's stride and changes the channel count, later blocks have stride 1.
  Each block ``b`` is an MBConv (MobileNetV2 inverted residual) with
  searchable ``s{s}.b{b}.kernel`` (depthwise kernel, default 3/5/7),
  ``s{s}.b{b}.expand`` (expansion ratio, default 1/3/6) and ``s{s}.b{b}.se``
  (squeeze-and-excitation on or off);
* **head**: conv 1x1 to ``head_channels`` -> BatchNorm -> ReLU6, global
  average pool, dropout, linear classifier.

An MBConv block is: conv 1x1 expand -> BN -> ReLU6 (skipped when the ratio is
1), depthwise conv kxk (the block's stride) -> BN -> ReLU6, optional
squeeze-and-excitation (global mean, 1x1 conv down to a quarter of the block's
input channels (at least 8), ReLU, 1x1 conv up, sigmoid gate), conv 1x1
project -> BN (no activation). It adds its input when its stride is 1 and
its input and output channel counts are equal.

ReLU6 is used throughout (not hard-swish): it is what MobileNetV2, MnasNet and
ProxylessNAS use, and it exports to ONNX as a plain ``Clip``.

Channels. Every channel count (stem, stages, head) is multiplied by
``width_mult`` and rounded to a multiple of 8 (never below 8, and never more
than 10% below the exact product), as in MobileNetV2.

Strides fitted to the input. The default plan reduces resolution 5 times
(stem plus four stride-2 stages: 32x32 -> 1x1, 224x224 -> 7x7). For an
``H x W`` input at most ``floor(log2(min(H, W)))`` reductions are kept: the
stride-2 layers are counted in order, stem first, and those past that number
become stride 1. So 8x8 digits keep 3 (8 -> 4 -> 2 -> 1), 32x32 keeps 5 and
17x23 keeps 4 (17x23 -> 2x2), 64x64 all 5 (-> 2x2). The final feature map is
at least 1x1 and no stride-2 layer is given a map one pixel wide (see
:func:`fit_strides`; the rule is applied at build time, so one architecture
builds for any input size).

BatchNorm in training mode needs more than one value per channel, so a batch
of one sample fails to train when a feature map is 1x1 (PyTorch raises
``ValueError``); evaluation mode works with any batch size.

Default stage plan (channels, stride): (16, 1), (24, 2), (40, 2), (80, 2),
(112, 1), (160, 2) -- the MnasNet / EfficientNet-B0 plan without its last
stage, with 32 stem and 1280 head channels.

String form: stages separated by ``|``, blocks of a stage by ``,``, each
block ``k{kernel}e{expand}`` plus ``se`` when squeeze-and-excitation is on;
the stage depth is the number of blocks. For example
``k3e1|k5e6se,k3e3|k7e6|k3e6,k3e6|k5e6se|k3e6`` (depth 2 in stage 1, 1
elsewhere). :meth:`MobileNetSpace.from_string` also accepts the generic
``s0.depth=1,s0.b0.kernel=3,...`` form.

torch is imported only when a network is built; the module classes
(``MBConv``, ``SqueezeExcite``, ``MobileNet``) are created on first access.
"""

from __future__ import annotations

import math
import re
from functools import lru_cache
from numbers import Integral, Real
from typing import Any, Callable, Hashable, Sequence

from nasforge.spaces.base import (
    Architecture,
    Choice,
    InvalidArchitectureError,
    SearchSpace,
    categorical,
    integer,
    repeat,
)

DEFAULT_STAGES: tuple[tuple[int, int], ...] = ((16, 1), (24, 2), (40, 2), (80, 2), (112, 1), (160, 2))
_BLOCK = re.compile(r"k(\d+)e(\d+)(se)?")


def make_divisible(value: float, divisor: int = 8) -> int:
    """``value`` rounded to a multiple of ``divisor`` (at least ``divisor``, at most 10% below ``value``)."""
    out = max(divisor, int(value + divisor / 2) // divisor * divisor)
    if out < 0.9 * value:
        out += divisor
    return out


def fit_strides(strides: Sequence[int], height: int, width: int) -> list[int]:
    """``strides`` with the stride-2 entries past ``floor(log2(min(height, width)))`` set to 1.

    ``strides`` lists every layer that may reduce resolution, in network order
    (stem first). A stride-2 conv with "same" padding maps ``n`` to
    ``ceil(n / 2)``, so keeping ``r`` reductions with ``2**r <= min(height,
    width)`` ends on a map of at least 1x1 that was never padded to shrink.
    """
    budget = max(0, min(int(height), int(width))).bit_length() - 1  # floor(log2(.)), -1 for an empty map
    out = []
    for s in strides:
        if s == 2:
            out.append(2 if budget > 0 else 1)
            budget -= 1
        else:
            out.append(int(s))
    return out


def _is_int(x: Any) -> bool:
    return isinstance(x, Integral) and not isinstance(x, bool)


def _options(name: str, value: Any, ok: Any, accepted: str) -> tuple[Hashable, ...]:
    """A non-empty tuple of distinct options, each passing ``ok``; else ValueError naming the bad one."""
    if isinstance(value, (str, bytes)) or not isinstance(value, Sequence) or not value:
        raise ValueError(f"{name} must be a non-empty sequence of {accepted}, got {value!r}")
    for v in value:
        if not ok(v):
            raise ValueError(f"{name} contains {v!r}; accepted: {accepted}")
    if len(set(value)) != len(value):
        raise ValueError(f"{name} has repeated options: {value!r}")
    return tuple(value)


class MobileNetSpace(SearchSpace):
    """MBConv networks: per-stage depth, per-block kernel, expansion ratio and squeeze-excitation.

    The space is astronomically large with the defaults (about 1.9e30
    architectures): :meth:`size` counts it in closed form, ``len()`` works
    only while the count fits in a machine integer, and nothing should
    enumerate it.
    """

    name = "mobilenet"
    latency_units = ("MBConv",)

    def __init__(self, width_mult: float = 1.0, max_depth: int = 4,
                 stages: Sequence[tuple[int, int]] = DEFAULT_STAGES, dropout: float = 0.0,
                 stem_channels: int = 32, head_channels: int = 1280,
                 kernels: Sequence[int] = (3, 5, 7), expand_ratios: Sequence[int] = (1, 3, 6),
                 se_options: Sequence[bool] = (False, True)) -> None:
        self.width_mult = width_mult
        self.max_depth = max_depth
        self.stages = stages
        self.dropout = dropout
        self.stem_channels = stem_channels
        self.head_channels = head_channels
        self.kernels = kernels
        self.expand_ratios = expand_ratios
        self.se_options = se_options

        if not isinstance(width_mult, Real) or isinstance(width_mult, bool) or not 0 < width_mult < math.inf:
            raise ValueError(f"width_mult must be a positive number, got {width_mult!r}")
        if not _is_int(max_depth) or max_depth < 1:
            raise ValueError(f"max_depth must be an integer >= 1, got {max_depth!r}")
        if isinstance(dropout, bool) or not isinstance(dropout, Real) or not 0 <= dropout < 1:
            raise ValueError(f"dropout must be a probability in [0, 1), got {dropout!r}")
        for label, v in (("stem_channels", stem_channels), ("head_channels", head_channels)):
            if not _is_int(v) or v < 1:
                raise ValueError(f"{label} must be a positive integer, got {v!r}")
        if isinstance(stages, (str, bytes)) or not isinstance(stages, Sequence) or not stages:
            raise ValueError(f"stages must be a non-empty sequence of (channels, stride) pairs, got {stages!r}")
        for st in stages:
            if (not isinstance(st, Sequence) or len(st) != 2 or not _is_int(st[0]) or st[0] < 1
                    or not _is_int(st[1]) or st[1] not in (1, 2)):
                raise ValueError(f"stages contains {st!r}; each stage must be a (channels, stride) pair "
                                 f"with channels a positive integer and stride 1 or 2")
        self._kernels = _options("kernels", kernels, lambda k: _is_int(k) and k >= 1 and k % 2 == 1,
                                 "odd positive integers")
        self._expands = _options("expand_ratios", expand_ratios, lambda e: _is_int(e) and e >= 1,
                                 "positive integers")
        self._se = _options("se_options", se_options, lambda v: isinstance(v, bool), "False, True")

        template = [categorical("kernel", self._kernels), categorical("expand", self._expands),
                    categorical("se", self._se)]
        choices: list[Choice] = []
        for s in range(len(stages)):
            choices += repeat(f"s{s}.b", integer(f"s{s}.depth", 1, max_depth), template)
        super().__init__(choices)

    # -- size --------------------------------------------------------------------
    def size(self) -> int:
        """The number of architectures, in closed form (an exact Python int, however large)."""
        per_block = len(self._kernels) * len(self._expands) * len(self._se)
        per_stage = sum(per_block ** d for d in range(1, self.max_depth + 1))
        return per_stage ** len(self.stages)

    # -- structure ---------------------------------------------------------------
    def blocks(self, arch: Architecture) -> list[list[tuple[int, int, bool]]]:
        """Per stage, the ``(kernel, expand, se)`` of each block."""
        values: dict[str, Any] = arch.as_dict()
        try:
            return [[(int(values[f"s{s}.b{b}.kernel"]), int(values[f"s{s}.b{b}.expand"]),
                      bool(values[f"s{s}.b{b}.se"])) for b in range(int(values[f"s{s}.depth"]))]
                    for s in range(len(self.stages))]
        except KeyError as exc:
            raise InvalidArchitectureError(f"{arch} is not an architecture of space {self.name!r}: "
                                           f"choice {exc.args[0]!r} is missing") from None

    def from_blocks(self, blocks: Sequence[Sequence[tuple[int, int, bool]]]) -> Architecture:
        """The architecture with these per-stage ``(kernel, expand, se)`` blocks."""
        if len(blocks) != len(self.stages):
            raise InvalidArchitectureError(
                f"{len(blocks)} stages given; space {self.name!r} has {len(self.stages)}")
        values: dict[str, Hashable] = {}
        for s, stage in enumerate(blocks):
            if not 1 <= len(stage) <= self.max_depth:
                raise InvalidArchitectureError(
                    f"stage {s} has {len(stage)} blocks; accepted: 1..{self.max_depth} (max_depth)")
            values[f"s{s}.depth"] = len(stage)
            for b, (kernel, expand, se) in enumerate(stage):
                values[f"s{s}.b{b}.kernel"] = kernel
                values[f"s{s}.b{b}.expand"] = expand
                values[f"s{s}.b{b}.se"] = se
        return self.make(values)

    def channels(self) -> tuple[int, list[int], int]:
        """``(stem, per-stage, head)`` channel counts after ``width_mult`` scaling and rounding."""
        return (make_divisible(self.stem_channels * self.width_mult),
                [make_divisible(c * self.width_mult) for c, _ in self.stages],
                make_divisible(self.head_channels * self.width_mult))

    def strides(self, input_shape: Sequence[int]) -> tuple[int, list[int]]:
        """``(stem stride, per-stage strides)`` for an image input ``(C, H, W)``; see :func:`fit_strides`."""
        _, h, w = _image_shape(input_shape)
        fitted = fit_strides([2] + [int(s) for _, s in self.stages], h, w)
        return fitted[0], fitted[1:]

    def feature_size(self, input_shape: Sequence[int]) -> tuple[int, int]:
        """Height and width of the final feature map for an input of ``input_shape`` ``(C, H, W)``."""
        _, h, w = _image_shape(input_shape)
        stem, stage_strides = self.strides(input_shape)
        for s in [stem, *stage_strides]:
            if s == 2:
                h, w = -(-h // 2), -(-w // 2)
        return h, w

    # -- string form ---------------------------------------------------------------
    def to_string(self, arch: Architecture) -> str:
        return "|".join(",".join(f"k{k}e{e}{'se' if se else ''}" for k, e, se in stage)
                        for stage in self.blocks(arch))

    def from_string(self, text: str) -> Architecture:
        text = text.strip()
        if "=" in text:
            return super().from_string(text)
        expected = (f"{len(self.stages)} stages separated by '|', each 1..{self.max_depth} blocks separated "
                    f"by ',', a block 'k<kernel>e<expand>' plus 'se' for squeeze-excitation, e.g. "
                    f"{'|'.join(['k3e6se,k5e3'] + ['k3e1'] * (len(self.stages) - 1))!r}")
        parts = text.split("|")
        if len(parts) != len(self.stages):
            raise InvalidArchitectureError(
                f"malformed {self.name} architecture {text!r}: {len(parts)} stages, expected {expected}")
        blocks = []
        for s, part in enumerate(parts):
            stage = []
            for block in part.split(","):
                m = _BLOCK.fullmatch(block.strip())
                if m is None:
                    raise InvalidArchitectureError(
                        f"malformed {self.name} architecture {text!r}: bad block {block!r} in stage {s}; "
                        f"expected {expected}")
                stage.append((int(m.group(1)), int(m.group(2)), m.group(3) is not None))
            blocks.append(stage)
        return self.from_blocks(blocks)

    # -- networks ------------------------------------------------------------------
    def build(self, arch: Architecture, task: Any) -> Any:
        """The MobileNet for ``arch`` on ``task`` (an image task: ``input_shape`` ``(C, H, W)``)."""
        self.check(arch)
        shape = tuple(task.input_shape)
        if len(shape) != 3:
            raise ValueError(f"space {self.name!r} builds convolutional networks for image tasks with "
                             f"input_shape (C, H, W); task {getattr(task, 'name', '?')!r} has input_shape "
                             f"{shape}; use the 'mlp' space for tabular tasks")
        num_classes = int(task.num_classes)
        if num_classes < 1:
            raise ValueError(f"task {getattr(task, 'name', '?')!r} has num_classes {num_classes}; need >= 1")
        stem_ch, stage_ch, head_ch = self.channels()
        stem_stride, stage_strides = self.strides(shape)
        plan = [[(k, e, se, stride if b == 0 else 1) for b, (k, e, se) in enumerate(stage)]
                for stage, stride in zip(self.blocks(arch), stage_strides)]
        return _torch_modules()["MobileNet"](shape[0], num_classes, stem_ch, stem_stride, stage_ch, plan,
                                             head_ch, float(self.dropout))


def _image_shape(input_shape: Sequence[int]) -> tuple[int, int, int]:
    shape = tuple(int(d) for d in input_shape)
    if len(shape) != 3 or min(shape) < 1:
        raise ValueError(f"expected an image input_shape (C, H, W) of positive sizes, got {tuple(input_shape)}")
    return shape  # type: ignore[return-value]


# -- torch modules, created on first use so that importing this module does not import torch --------

_LAZY = ("MBConv", "SqueezeExcite", "MobileNet")


@lru_cache(maxsize=1)
def _torch_modules() -> dict[str, Any]:
    from torch import Tensor, nn

    class SqueezeExcite(nn.Module):
        """Channel gating: global mean -> 1x1 conv down -> ReLU -> 1x1 conv up -> sigmoid -> scale."""

        def __init__(self, channels: int, squeezed: int) -> None:
            super().__init__()
            self.reduce = nn.Conv2d(channels, squeezed, 1)
            self.act = nn.ReLU(inplace=True)
            self.expand = nn.Conv2d(squeezed, channels, 1)
            self.gate = nn.Sigmoid()

        def forward(self, x: Tensor) -> Tensor:
            s = x.mean((2, 3), keepdim=True)
            return x * self.gate(self.expand(self.act(self.reduce(s))))

    class MBConv(nn.Module):
        """Inverted residual block: [1x1 expand] -> depthwise kxk -> [SE] -> 1x1 project (+ input)."""

        def __init__(self, cin: int, cout: int, kernel: int, expand: int, se: bool, stride: int) -> None:
            super().__init__()
            hidden = cin * expand
            layers: list[nn.Module] = []
            if expand != 1:
                layers += [nn.Conv2d(cin, hidden, 1, bias=False), nn.BatchNorm2d(hidden), nn.ReLU6(inplace=True)]
            layers += [nn.Conv2d(hidden, hidden, kernel, stride, kernel // 2, groups=hidden, bias=False),
                       nn.BatchNorm2d(hidden), nn.ReLU6(inplace=True)]
            if se:
                layers.append(SqueezeExcite(hidden, max(8, cin // 4)))
            layers += [nn.Conv2d(hidden, cout, 1, bias=False), nn.BatchNorm2d(cout)]
            self.body = nn.Sequential(*layers)
            self.residual = stride == 1 and cin == cout

        def forward(self, x: Tensor) -> Tensor:
            out = self.body(x)
            return x + out if self.residual else out

    class MobileNet(nn.Module):
        """stem -> stages of MBConv blocks -> 1x1 head -> global mean -> dropout -> linear.

        ``plan`` holds per stage the ``(kernel, expand, se, stride)`` of each block.
        ``make_stage(s, cin, cout, blocks)``, when given, builds stage ``s`` from its
        plan instead of a sequence of MBConv blocks (a supernet puts its choice
        stages in the same skeleton, so both have the same module names).
        """

        def __init__(self, in_channels: int, num_classes: int, stem_channels: int, stem_stride: int,
                     stage_channels: Sequence[int], plan: Sequence[Sequence[tuple[int, int, bool, int]]],
                     head_channels: int, dropout: float, *,
                     make_stage: Callable[[int, int, int, Sequence[tuple[int, int, bool, int]]], nn.Module]
                     | None = None) -> None:
            super().__init__()
            self.stem = nn.Sequential(nn.Conv2d(in_channels, stem_channels, 3, stem_stride, 1, bias=False),
                                      nn.BatchNorm2d(stem_channels), nn.ReLU6(inplace=True))
            stages = []
            cin = stem_channels
            for s, (cout, blocks) in enumerate(zip(stage_channels, plan)):
                if make_stage is not None:
                    stages.append(make_stage(s, cin, cout, blocks))
                    cin = cout
                    continue
                layers = []
                for kernel, expand, se, stride in blocks:
                    layers.append(MBConv(cin, cout, kernel, expand, se, stride))
                    cin = cout
                stages.append(nn.Sequential(*layers))
            self.stages = nn.Sequential(*stages)
            self.head = nn.Sequential(nn.Conv2d(cin, head_channels, 1, bias=False),
                                      nn.BatchNorm2d(head_channels), nn.ReLU6(inplace=True))
            self.dropout = nn.Dropout(dropout)
            self.classifier = nn.Linear(head_channels, num_classes)
            self.reset_parameters()

        def reset_parameters(self) -> None:
            """He-normal convolutions with fan-out per group, unit BatchNorm, small linear head.

            As in MnasNet / EfficientNet's reference code: dividing the fan-out by the
            groups keeps depthwise convolutions from shrinking the signal (PyTorch's
            ``kaiming_normal_`` counts all output channels, so at initialisation an
            eval-mode network would output almost nothing). Draws from torch's global
            RNG, so ``torch.manual_seed`` fixes it.
            """
            for m in self.modules():
                if isinstance(m, nn.Conv2d):
                    fan_out = m.out_channels // m.groups * m.kernel_size[0] * m.kernel_size[1]
                    nn.init.normal_(m.weight, 0.0, math.sqrt(2.0 / fan_out))
                    if m.bias is not None:
                        nn.init.zeros_(m.bias)
                elif isinstance(m, nn.BatchNorm2d):
                    nn.init.ones_(m.weight)
                    nn.init.zeros_(m.bias)
                elif isinstance(m, nn.Linear):
                    nn.init.normal_(m.weight, 0.0, 0.01)
                    nn.init.zeros_(m.bias)

        def features(self, x: Tensor) -> Tensor:
            """The final feature map, before the head."""
            return self.stages(self.stem(x))

        def forward(self, x: Tensor) -> Tensor:
            x = self.head(self.features(x)).mean((2, 3))
            return self.classifier(self.dropout(x))

    classes = {"SqueezeExcite": SqueezeExcite, "MBConv": MBConv, "MobileNet": MobileNet}
    # make the classes importable (and picklable) under this module's name
    for name, cls in classes.items():
        cls.__module__ = __name__
        cls.__qualname__ = name
    globals().update(classes)
    return classes


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return _torch_modules()[name]
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


# the torch module classes (MBConv, SqueezeExcite, MobileNet) are left out so that a star import stays torch-free
__all__ = ["MobileNetSpace", "DEFAULT_STAGES", "fit_strides", "make_divisible"]
