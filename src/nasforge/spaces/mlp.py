"""A multilayer-perceptron space for tabular tasks (and flattened images).

Choices, in order:

* ``depth``: the number of hidden layers, ``1..max_depth``;
* ``l{i}.width``: the width of hidden layer ``i`` (active when ``depth > i``),
  one of ``widths``;
* ``act``, ``dropout``, ``norm``: one activation, dropout rate and
  normalisation shared by every hidden layer.

Activation, dropout and normalisation are global rather than per layer: in
tabular NAS and AutoML (Auto-PyTorch's MLP space, for instance) they are
network-wide hyperparameters, and per-layer copies would multiply the space by
48 per layer for little gain. Widths are per layer, so funnel, diamond and
constant shapes are all in the space.

A hidden layer is ``Linear -> norm -> activation -> dropout`` (``norm`` and
``dropout`` omitted when ``none`` / 0.0); the head is a ``Linear`` to
``num_classes``. Inputs are flattened first, so an image task ``(C, H, W)``
gets ``C*H*W`` input features. BatchNorm1d cannot normalise a batch of one
sample in training mode (PyTorch raises); evaluation mode works with any batch
size.

The string form is the generic ``depth=2,l0.width=64,l1.width=128,act=relu,
dropout=0.1,norm=none``. torch is imported only when a network is built.
"""

from __future__ import annotations

import math
from numbers import Integral, Real
from typing import Any, Hashable, Sequence

from nasforge.spaces.base import Architecture, SearchSpace, categorical, integer, repeat

ACTIVATIONS = ("relu", "gelu", "tanh", "silu")
NORMS = ("none", "batchnorm", "layernorm")


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


def _is_int(x: Any) -> bool:
    return isinstance(x, Integral) and not isinstance(x, bool)


class MLPSpace(SearchSpace):
    """MLPs: searchable depth and per-layer width; one activation, dropout rate and normalisation."""

    name = "mlp"

    def __init__(self, widths: Sequence[int] = (32, 64, 128, 256, 512), max_depth: int = 4,
                 activations: Sequence[str] = ACTIVATIONS, dropouts: Sequence[float] = (0.0, 0.1, 0.3, 0.5),
                 norms: Sequence[str] = NORMS) -> None:
        self.widths = widths
        self.max_depth = max_depth
        self.activations = activations
        self.dropouts = dropouts
        self.norms = norms

        if not _is_int(max_depth) or max_depth < 1:
            raise ValueError(f"max_depth must be an integer >= 1, got {max_depth!r}")
        self._widths = _options("widths", widths, lambda w: _is_int(w) and w >= 1, "positive integers")
        self._acts = _options("activations", activations, lambda a: a in ACTIVATIONS, ", ".join(ACTIVATIONS))
        self._dropouts = _options(
            "dropouts", dropouts,
            lambda p: isinstance(p, Real) and not isinstance(p, bool) and 0 <= p < 1,
            "probabilities in [0, 1)")
        self._norms = _options("norms", norms, lambda n: n in NORMS, ", ".join(NORMS))

        choices = repeat("l", integer("depth", 1, max_depth), [categorical("width", self._widths)])
        choices += [categorical("act", self._acts), categorical("dropout", self._dropouts),
                    categorical("norm", self._norms)]
        super().__init__(choices)

    def size(self) -> int:
        """The number of architectures, in closed form."""
        shapes = sum(len(self._widths) ** d for d in range(1, self.max_depth + 1))
        return shapes * len(self._acts) * len(self._dropouts) * len(self._norms)

    def hidden_widths(self, arch: Architecture) -> list[int]:
        """The hidden layers' widths, input side first."""
        return [int(arch[f"l{i}.width"]) for i in range(int(arch["depth"]))]  # type: ignore[call-overload]

    def build(self, arch: Architecture, task: Any) -> Any:
        """The MLP for ``arch`` on ``task`` (any ``input_shape``: it is flattened)."""
        self.check(arch)
        from torch import nn

        shape = tuple(int(d) for d in task.input_shape)
        if not shape or min(shape) < 1:
            raise ValueError(f"task {getattr(task, 'name', '?')!r} has input_shape {shape}; "
                             f"need (F,) or (C, H, W) of positive sizes")
        num_classes = int(task.num_classes)
        if num_classes < 1:
            raise ValueError(f"task {getattr(task, 'name', '?')!r} has num_classes {num_classes}; need >= 1")
        act = {"relu": nn.ReLU, "gelu": nn.GELU, "tanh": nn.Tanh, "silu": nn.SiLU}[str(arch["act"])]
        norm, p = str(arch["norm"]), float(arch["dropout"])  # type: ignore[arg-type]

        layers: list[nn.Module] = [nn.Flatten()]
        fan_in = math.prod(shape)
        for width in self.hidden_widths(arch):
            layers.append(nn.Linear(fan_in, width))
            if norm == "batchnorm":
                layers.append(nn.BatchNorm1d(width))
            elif norm == "layernorm":
                layers.append(nn.LayerNorm(width))
            layers.append(act())
            if p > 0:
                layers.append(nn.Dropout(p))
            fan_in = width
        layers.append(nn.Linear(fan_in, num_classes))
        return nn.Sequential(*layers)


__all__ = ["MLPSpace", "ACTIVATIONS", "NORMS"]
