"""The elastic MobileNet supernet: one weight per block shared by every option (BigNAS / Once-for-All, Single-Path NAS).

:class:`~nasforge.oneshot.nets.MobileNetSupernet` holds one MBConv per (kernel,
expansion, SE) option of every block. :class:`ElasticMobileNetSupernet` holds
ONE :class:`ElasticMBConv` per block, with the weights of the largest option,
and every smaller option computes with a part of them (the weight sharing of
Once-for-All, Cai et al. 2020, and BigNAS, Yu et al. 2020):

* **expansion** ``e``: the leading ``cin * e`` channels of the expand conv
  (and of its BatchNorm), of the depthwise conv, its BatchNorm, the
  squeeze-excitation convs (reduce weight ``[:, :hidden]``, expand weight and
  bias ``[:hidden]``) and the project conv's inputs (``[:, :hidden]``);
* **kernel** ``k``: the centre ``k x k`` crop of the ``k_max x k_max``
  depthwise kernel (padding ``k // 2``, so the receptive field stays centred);
* **e == 1**: as in the stand-alone MBConv there is no expand conv: the
  depthwise conv reads the block's input directly, with the leading ``cin``
  channels of everything after it (the expand conv's weights are unused);
* **SE** off: the squeeze-excitation weights are unused;
* **depth** ``d``: the first ``d`` blocks of the stage.

A sliced BatchNorm in training mode updates the leading slice of the running
statistics (:func:`sliced_batch_norm`), so the statistics a path leaves are
those its stand-alone network would have.

Path mode (``set_arch(arch)``) computes exactly ``space.build(arch, task)``
with the inherited weights, and :meth:`Supernet.extract` gives that network
the sliced and cropped weights. There is **no mixed mode**
(``supports_mixed = False``): a forward in mixed mode raises
:class:`~nasforge.errors.ConfigError`. The controller and its architecture
parameters exist (one decision per choice of the space, its choice name as
key), so the magnitude rule and ``derive_from`` work as for other supernets.

**Superkernel mode** (Single-Path NAS, Stamoulis et al. 2019):
``set_superkernel({"s0.b0": BlockGates(...), ...})`` makes every block compute
with its full weights masked by gates given by the caller (0-d tensors,
normally 0 or 1 forward with a gradient backward):

* kernel: with options ``k_1 < ... < k_m``, ``kernel`` holds ``g_2 .. g_m``
  and the depthwise weight is multiplied by
  ``m(k_1) + g_2 (m(k_2) - m(k_1)) + g_2 g_3 (m(k_3) - m(k_2)) + ...``,
  ``m(k)`` the centred ``k x k`` mask;
* expansion: over the options above 1, ``e_1 < ... < e_n``, ``expand`` holds
  ``g_2 .. g_n`` and the hidden channels are multiplied, after the depthwise
  BatchNorm and ReLU6, by ``1[c < cin e_1] + g_2 (1[c < cin e_2] - 1[c < cin e_1]) + ...``.
  ``e == 1`` (no expand conv at all) cannot be expressed by a channel mask, so
  superkernel mode never computes it when the space has an option above 1;
* ``se`` gate ``s``: ``h = s SE(h) + (1 - s) h`` (``None`` when the space has a
  single SE option);
* ``keep`` gate ``z`` of block ``b >= 1`` (stride 1, ``cin == cout``):
  ``out = z block(x) + (1 - z) x``; every block up to ``max_depth`` runs.

:meth:`ElasticMobileNetSupernet.superkernel_arch` reads the architecture the
hard gates describe, :meth:`ElasticMobileNetSupernet.hard_gates` gives the
gates of an architecture. The BatchNorms normalise all ``hidden_max`` channels
in superkernel mode; in eval mode, with per-channel running statistics, the
superkernel of an architecture's hard gates computes exactly its path.

FLOPs for a cost term: :meth:`~ElasticMobileNetSupernet.block_flops`,
:meth:`~ElasticMobileNetSupernet.fixed_flops`, :meth:`~ElasticMobileNetSupernet.arch_flops`
(counted by :func:`nasforge.evaluators.hardware.count_flops` on stand-alone modules).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Hashable, Mapping, Sequence

import numpy as np
import torch
from torch import nn

from nasforge.errors import ConfigError
from nasforge.oneshot.supernet import Decision, Supernet
from nasforge.spaces.base import Architecture

__all__ = ["BlockGates", "ElasticMBConv", "ElasticMobileNetSupernet", "SUPERKERNEL", "sliced_batch_norm"]

#: the controller mode of a supernet in superkernel mode
SUPERKERNEL = "superkernel"


def _mobilenet_module(name: str) -> Any:
    from nasforge.spaces import mobilenet  # the torch classes are made on first access

    return getattr(mobilenet, name)


def sliced_batch_norm(bn: nn.modules.batchnorm._BatchNorm, x: torch.Tensor) -> torch.Tensor:
    """``bn`` applied to ``x``, whose channels are the leading ``x.shape[1]`` channels of ``bn``.

    In training mode the batch statistics normalise and the leading slice of the running statistics is
    updated in place (momentum, or the cumulative average when ``bn.momentum`` is None, as
    ``nn.BatchNorm2d`` does); in eval mode the running statistics normalise.
    """
    n = x.shape[1]
    factor = 0.0
    if bn.training and bn.track_running_stats:
        bn.num_batches_tracked.add_(1)
        factor = 1.0 / float(bn.num_batches_tracked) if bn.momentum is None else float(bn.momentum)
    running = bn.running_mean is not None
    return torch.nn.functional.batch_norm(
        x, bn.running_mean[:n] if running else None, bn.running_var[:n] if running else None,
        bn.weight[:n] if bn.weight is not None else None, bn.bias[:n] if bn.bias is not None else None,
        bn.training or not running, factor, bn.eps)


@dataclass
class BlockGates:
    """The superkernel gates of one block (0-d tensors, normally 0.0 or 1.0 forward with a gradient).

    ``kernel``: ``g_2 .. g_m`` over the ascending kernel options; ``expand``: ``g_2 .. g_n`` over the
    ascending expansion options above 1; ``se``: the squeeze-excitation gate (None when the space has a
    single SE option); ``keep``: the block's keep gate (None for a stage's first block).
    """

    kernel: list[torch.Tensor] = field(default_factory=list)
    expand: list[torch.Tensor] = field(default_factory=list)
    se: torch.Tensor | None = None
    keep: torch.Tensor | None = None


def _chain(gates: Sequence[torch.Tensor], masks: Sequence[torch.Tensor]) -> torch.Tensor:
    """``masks[0] + g_2 (masks[1] - masks[0]) + g_2 g_3 (masks[2] - masks[1]) + ...``."""
    out = masks[0]
    prod: torch.Tensor | None = None
    for g, lo, hi in zip(gates, masks[:-1], masks[1:]):
        prod = g if prod is None else prod * g
        out = out + prod * (hi - lo)
    return out


def _hard_index(gates: Sequence[torch.Tensor]) -> int:
    """How many leading gates of a chain are on (> 0.5)."""
    n = 0
    for g in gates:
        if float(g) <= 0.5:
            break
        n += 1
    return n


class ElasticMBConv(nn.Module):
    """One MBConv block with the weights of its largest option, computing any smaller option with a part of them.

    ``kernels``, ``expands`` and ``se_options`` are the block's options. Modules: ``expand_conv`` and
    ``expand_bn`` (when an expansion above 1 is allowed), ``dw_conv`` (``k_max x k_max``, the block's stride),
    ``dw_bn``, ``se`` (when SE is allowed), ``project_conv``, ``project_bn``.
    """

    def __init__(self, cin: int, cout: int, stride: int, kernels: Sequence[int], expands: Sequence[int],
                 se_options: Sequence[bool]) -> None:
        super().__init__()
        self.cin, self.cout, self.stride = int(cin), int(cout), int(stride)
        self.kernels = sorted(int(k) for k in kernels)
        self.k_max, self.e_max = self.kernels[-1], max(int(e) for e in expands)
        #: the expansions superkernel mode computes: the options above 1 (or just 1 when that is the only one)
        self.sk_expands = sorted(int(e) for e in expands if int(e) > 1) or [1]
        self.hidden_max = self.cin * self.e_max
        hidden = self.hidden_max
        if self.e_max > 1:
            self.expand_conv = nn.Conv2d(cin, hidden, 1, bias=False)
            self.expand_bn = nn.BatchNorm2d(hidden)
        self.dw_conv = nn.Conv2d(hidden, hidden, self.k_max, stride, self.k_max // 2, groups=hidden, bias=False)
        self.dw_bn = nn.BatchNorm2d(hidden)
        self.has_se = True in tuple(se_options)
        #: the SE setting when the space allows only one (its superkernel has no SE gate), else None
        self.se_fixed: bool | None = bool(se_options[0]) if len(set(se_options)) == 1 else None
        if self.has_se:
            self.se = _mobilenet_module("SqueezeExcite")(hidden, max(8, cin // 4))
        self.project_conv = nn.Conv2d(hidden, cout, 1, bias=False)
        self.project_bn = nn.BatchNorm2d(cout)
        self.residual = self.stride == 1 and self.cin == self.cout

    # -- one option ------------------------------------------------------------------
    def _se(self, h: torch.Tensor, hidden: int) -> torch.Tensor:
        F = torch.nn.functional
        se = self.se
        s = h.mean((2, 3), keepdim=True)
        s = F.relu(F.conv2d(s, se.reduce.weight[:, :hidden], se.reduce.bias))
        s = F.conv2d(s, se.expand.weight[:hidden], se.expand.bias[:hidden])
        return h * torch.sigmoid(s)

    def forward(self, x: torch.Tensor, kernel: int, expand: int, se: bool) -> torch.Tensor:
        """The stand-alone ``MBConv(cin, cout, kernel, expand, se, stride)`` with the shared weights."""
        F = torch.nn.functional
        hidden = self.cin * int(expand)
        if hidden > self.hidden_max or kernel not in self.kernels or (se and not self.has_se):
            raise ValueError(f"block option (kernel={kernel}, expand={expand}, se={se}) is not one of this "
                             f"block's (kernels {self.kernels}, expansion up to {self.e_max}, se {self.has_se})")
        h = x
        if expand != 1:
            h = F.relu6(sliced_batch_norm(self.expand_bn, F.conv2d(x, self.expand_conv.weight[:hidden])))
        c0 = (self.k_max - kernel) // 2
        w = self.dw_conv.weight[:hidden, :, c0:c0 + kernel, c0:c0 + kernel]
        h = F.relu6(sliced_batch_norm(self.dw_bn, F.conv2d(h, w, None, self.stride, kernel // 2, 1, hidden)))
        if se:
            h = self._se(h, hidden)
        h = self.project_bn(F.conv2d(h, self.project_conv.weight[:, :hidden]))
        return x + h if self.residual else h

    # -- superkernel -------------------------------------------------------------------
    def kernel_mask(self, gates: Sequence[torch.Tensor]) -> torch.Tensor:
        """The ``k_max x k_max`` mask of the depthwise weight for kernel gates ``g_2 .. g_m``."""
        w = self.dw_conv.weight
        masks = []
        for k in self.kernels:
            m = torch.zeros(self.k_max, self.k_max, dtype=w.dtype, device=w.device)
            c0 = (self.k_max - k) // 2
            m[c0:c0 + k, c0:c0 + k] = 1.0
            masks.append(m)
        return _chain(gates, masks)

    def channel_mask(self, gates: Sequence[torch.Tensor]) -> torch.Tensor:
        """The mask of the ``hidden_max`` hidden channels for expansion gates ``g_2 .. g_n``."""
        w = self.dw_conv.weight
        ch = torch.arange(self.hidden_max, device=w.device)
        return _chain(gates, [(ch < self.cin * e).to(w.dtype) for e in self.sk_expands])

    def superkernel(self, x: torch.Tensor, gates: BlockGates) -> torch.Tensor:
        """The block with its full weights masked by ``gates`` (see the module docstring)."""
        F = torch.nn.functional
        h = x
        if self.e_max > 1:
            h = F.relu6(self.expand_bn(self.expand_conv(x)))
        w = self.dw_conv.weight * self.kernel_mask(gates.kernel)
        h = F.conv2d(h, w, None, self.stride, self.k_max // 2, 1, self.hidden_max)
        h = F.relu6(self.dw_bn(h))
        if len(self.sk_expands) > 1:
            h = h * self.channel_mask(gates.expand).view(1, -1, 1, 1)
        if self.has_se:
            if gates.se is not None:
                h = gates.se * self.se(h) + (1 - gates.se) * h
            elif self.se_fixed:
                h = self.se(h)
        h = self.project_bn(self.project_conv(h))
        out = x + h if self.residual else h
        if gates.keep is not None:
            assert self.residual, "a block with a keep gate must have stride 1 and cin == cout"
            out = gates.keep * out + (1 - gates.keep) * x
        return out


class ElasticStage(nn.Module):
    """The ``max_depth`` elastic blocks of one stage; the controller (or the superkernel gates) says what runs."""

    def __init__(self, stage: int, cin: int, cout: int, stride: int, max_depth: int, options: Mapping[str, tuple],
                 controller: Any, state: dict[str, Any]) -> None:
        super().__init__()
        self.stage = stage
        self.block_keys = [f"s{stage}.b{b}" for b in range(max_depth)]
        self.blocks = nn.ModuleList([
            ElasticMBConv(cin if b == 0 else cout, cout, stride if b == 0 else 1,
                          *(options[f"s{stage}.b{b}.{c}"] for c in ("kernel", "expand", "se")))
            for b in range(max_depth)])
        self.options = options
        object.__setattr__(self, "_controller", controller)  # shared, not submodules
        object.__setattr__(self, "_state", state)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        ctl = self._controller
        if ctl.mode == SUPERKERNEL:
            gates = self._state["gates"]
            for key, block in zip(self.block_keys, self.blocks):
                x = block.superkernel(x, gates[key])
            return x

        def value(name: str) -> Any:
            idx = ctl.get(name)
            if idx is None:
                raise ConfigError(f"the elastic supernet's path has no choice {name!r}; set it with set_arch")
            return self.options[name][idx]

        for b in range(int(value(f"s{self.stage}.depth"))):
            p = f"{self.block_keys[b]}."
            x = self.blocks[b](x, int(value(p + "kernel")), int(value(p + "expand")), bool(value(p + "se")))
        return x


class ElasticMobileNetSupernet(Supernet, _mobilenet_module("MobileNet")):  # type: ignore[misc]
    """The MobileNet skeleton with one elastic MBConv per block, shared by every kernel, expansion and SE option.

    Path mode (``set_arch``) computes exactly the stand-alone network; superkernel mode
    (``set_superkernel``) computes Single-Path NAS's masked superkernels. No mixed mode.
    """

    #: the supernet has no weighted mixture of candidates (``nasforge.testing.check_supernet`` reads this)
    supports_mixed = False

    def __init__(self, space: Any, task: Any, seed: int = 0) -> None:
        shape = tuple(int(d) for d in task.input_shape)
        if len(shape) != 3:
            raise ValueError(f"space {space.name!r} needs an image task (C, H, W); task {task.name!r} has "
                             f"input_shape {shape}")
        lay = space.layout
        self.options: dict[str, tuple[Hashable, ...]] = {c.name: tuple(c.options) for c in lay.choices}
        decisions = [Decision(c.name, tuple(str(o) for o in c.options)) for c in lay.choices]
        ctl = self.make_controller(decisions, seed=seed)
        state: dict[str, Any] = {"gates": None}
        n_stages, max_depth = len(space.stages), int(space.max_depth)
        stem_ch, stage_ch, head_ch = space.channels()
        stem_stride, strides = space.strides(shape)
        plan = [[(0, 0, False, stride)] for stride in strides]  # only the stride of each stage's first block is read
        options = self.options

        def make_stage(s: int, cin: int, cout: int, blocks: Any) -> nn.Module:
            return ElasticStage(s, cin, cout, blocks[0][3], max_depth, options, ctl, state)

        _mobilenet_module("MobileNet").__init__(self, shape[0], int(task.num_classes), stem_ch, stem_stride,
                                                stage_ch, plan, head_ch, float(space.dropout), make_stage=make_stage)
        self.attach(ctl)
        self.space, self.task = space, task
        self.n_stages, self.max_depth = n_stages, max_depth
        self._state = state
        self._flops: dict[tuple, int] = {}
        self._fixed_flops: int | None = None

    # -- modes ---------------------------------------------------------------------
    @property
    def mode(self) -> str:
        """``'path'``, ``'superkernel'`` or ``'mixed'`` (which cannot compute)."""
        return str(self.controller.mode)

    def set_superkernel(self, gates: Mapping[str, BlockGates]) -> None:
        """Superkernel mode: every block computes with its full weights masked by ``gates[f"s{s}.b{b}"]``.

        ``set_arch`` leaves the mode (the gates are kept, so restoring the controller's mode, as
        :func:`~nasforge.oneshot.supernet.path_accuracy` does, restores superkernel mode).
        """
        self._state["gates"] = self._check_gates(gates)
        self.controller.mode = SUPERKERNEL

    def _check_gates(self, gates: Mapping[str, BlockGates]) -> dict[str, BlockGates]:
        expected = [f"s{s}.b{b}" for s in range(self.n_stages) for b in range(self.max_depth)]
        missing, unknown = set(expected) - set(gates), set(gates) - set(expected)
        if missing or unknown:
            raise ConfigError(f"superkernel gates must name every block {expected}; missing {sorted(missing)}, "
                              f"unknown {sorted(unknown)}")
        out = {}
        for key in expected:
            g, block = gates[key], self.block(key)
            b = int(key.split(".b")[1])

            def scalar(name: str, v: Any) -> torch.Tensor:
                t = v if isinstance(v, torch.Tensor) else torch.as_tensor(float(v))
                if t.numel() != 1:
                    raise ConfigError(f"superkernel gate {name} of block {key!r} must be one number, got shape "
                                      f"{tuple(t.shape)}")
                return t.reshape(())

            if len(g.kernel) != len(block.kernels) - 1:
                raise ConfigError(f"block {key!r} has kernels {block.kernels}: {len(block.kernels) - 1} kernel "
                                  f"gates expected, got {len(g.kernel)}")
            if len(g.expand) != len(block.sk_expands) - 1:
                raise ConfigError(f"block {key!r} has superkernel expansions {block.sk_expands}: "
                                  f"{len(block.sk_expands) - 1} expand gates expected, got {len(g.expand)}")
            if (g.se is None) != (block.se_fixed is not None):
                raise ConfigError(f"block {key!r}: the se gate must be given exactly when the space allows SE on "
                                  f"and off")
            if (g.keep is None) != (b == 0):
                raise ConfigError(f"block {key!r}: a keep gate is given for every block but a stage's first")
            out[key] = BlockGates([scalar("kernel", v) for v in g.kernel], [scalar("expand", v) for v in g.expand],
                                  None if g.se is None else scalar("se", g.se),
                                  None if g.keep is None else scalar("keep", g.keep))
        return out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        mode = self.controller.mode
        if mode == SUPERKERNEL:
            return self.body(x)
        if mode != "path":
            raise ConfigError(f"the elastic MobileNet supernet has no mixed mode (mode {mode!r}): it computes one "
                              f"sub-network at a time (set_arch) or the Single-Path NAS superkernel "
                              f"(set_superkernel)")
        return super().forward(x)

    def body(self, x: torch.Tensor) -> torch.Tensor:
        return _mobilenet_module("MobileNet").forward(self, x)

    def block(self, key: str) -> ElasticMBConv:
        """The elastic block ``'s{s}.b{b}'``."""
        s, b = key[1:].split(".b")
        return self.stages[int(s)].blocks[int(b)]  # type: ignore[index,return-value]

    # -- architectures -------------------------------------------------------------
    def path_of(self, arch: Architecture) -> dict[str, int]:
        self.space.check(arch)
        return {name: self.options[name].index(value) for name, value in arch.as_dict().items()}

    def derive_from(self, chosen: Mapping[str, int], strength: Mapping[str, float] | None = None) -> Architecture:
        lay = self.space.layout
        values: dict[str, Hashable] = {}
        for c in lay.choices:  # layout order: a stage's depth before its blocks
            if lay.is_active(c, values):
                values[c.name] = c.options[chosen[c.name]]
        return self.space.make(values)

    def _extreme(self, pick: Any, se: bool) -> Architecture:
        values: dict[str, Hashable] = {}
        lay = self.space.layout
        for c in lay.choices:
            if lay.is_active(c, values):
                opts = c.options
                values[c.name] = (se if se in opts else opts[0]) if c.name.endswith(".se") else pick(opts)
        return self.space.make(values)

    def largest_arch(self) -> Architecture:
        """Every stage at its largest depth, every block at its largest kernel and expansion, SE on if allowed."""
        return self._extreme(max, True)

    def smallest_arch(self) -> Architecture:
        """Every stage at depth 1 (its smallest), the smallest kernel and expansion, SE off if allowed."""
        return self._extreme(min, False)

    def sample_arch(self, rng: np.random.Generator) -> Architecture:
        """A uniformly sampled architecture (``space.sample``)."""
        return self.space.sample(rng)

    # -- superkernel architectures ---------------------------------------------------
    def superkernel_arch(self, gates: Mapping[str, BlockGates]) -> Architecture:
        """The architecture the hard gates describe: per block the largest kernel and expansion whose gate
        chain is on (> 0.5), SE when its gate is > 0.5; a stage's depth is 1 plus its kept blocks, whose
        configurations follow the first block's in order."""
        blocks = []
        for s in range(self.n_stages):
            stage = []
            for b in range(self.max_depth):
                g, block = gates[f"s{s}.b{b}"], self.block(f"s{s}.b{b}")
                if b > 0 and (g.keep is None or float(g.keep) <= 0.5):
                    continue
                se = bool(block.se_fixed) if g.se is None else float(g.se) > 0.5
                stage.append((block.kernels[_hard_index(g.kernel)], block.sk_expands[_hard_index(g.expand)], se))
            blocks.append(stage)
        return self.space.from_blocks(blocks)

    def hard_gates(self, arch: Architecture, requires_grad: bool = False) -> dict[str, BlockGates]:
        """The 0/1 gates whose superkernel computes ``arch`` (every block past a stage's depth dropped).

        Raises ``ValueError`` for a block with expansion 1 when the space has expansions above 1 (a channel
        mask cannot remove the expand conv).
        """
        def t(on: bool) -> torch.Tensor:
            return torch.tensor(1.0 if on else 0.0, requires_grad=requires_grad)

        out = {}
        for s, stage in enumerate(self.space.blocks(arch)):
            for b in range(self.max_depth):
                block = self.block(f"s{s}.b{b}")
                k, e, se = stage[b] if b < len(stage) else (block.kernels[0], block.sk_expands[0], False)
                if e not in block.sk_expands:
                    raise ValueError(f"block s{s}.b{b} of {arch} has expansion {e}, which superkernel mode cannot "
                                     f"compute (its expansions: {block.sk_expands})")
                out[f"s{s}.b{b}"] = BlockGates(
                    [t(k >= kk) for kk in block.kernels[1:]], [t(e >= ee) for ee in block.sk_expands[1:]],
                    None if block.se_fixed is not None else t(se), None if b == 0 else t(b < len(stage)))
        return out

    # -- inherited weights ---------------------------------------------------------
    @staticmethod
    def _body_slots(expand: int, se: bool) -> list[str]:
        """The names, in the elastic block, of the stand-alone ``MBConv.body`` entries (activations: ``-``)."""
        slots = ["expand_conv", "expand_bn", "-"] if expand != 1 else []
        slots += ["dw_conv", "dw_bn", "-"] + (["se"] if se else []) + ["project_conv", "project_bn"]
        return slots

    def map_key(self, arch: Architecture, path: Mapping[str, int], key: str) -> str:
        parts = key.split(".")
        if parts[0] == "stages" and len(parts) > 4 and parts[3] == "body":
            s, b = int(parts[1]), int(parts[2])
            _, e, se = self.space.blocks(arch)[s][b]
            return ".".join(["stages", parts[1], "blocks", parts[2], self._body_slots(e, se)[int(parts[4])]]
                            + parts[5:])
        return key

    def fit_weight(self, key: str, value: torch.Tensor, shape: tuple[int, ...]) -> torch.Tensor:
        """A depthwise kernel's centre ``k x k`` crop (the leading channels are sliced by the caller)."""
        if key.endswith(".dw_conv.weight"):
            k_max, k = value.shape[-1], shape[-1]
            c0 = (k_max - k) // 2
            return value[..., c0:c0 + k, c0:c0 + k]
        return value

    # -- FLOPs ---------------------------------------------------------------------
    def _block_shapes(self) -> list[list[tuple[int, int, int, int, int]]]:
        """Per stage and block: ``(cin, cout, stride, height, width)`` of the block's input."""
        _, h, w = (int(d) for d in self.task.input_shape)
        stem_stride, strides = self.space.strides(self.task.input_shape)
        stem_ch, stage_ch, _ = self.space.channels()

        def down(n: int, s: int) -> int:  # a "same"-padded odd conv: floor((n - 1) / s) + 1
            return (n - 1) // s + 1

        h, w, cin = down(h, stem_stride), down(w, stem_stride), stem_ch
        out = []
        for cout, stride in zip(stage_ch, strides):
            stage = [(cin, cout, stride, h, w)]
            h, w = down(h, stride), down(w, stride)
            stage += [(cout, cout, 1, h, w)] * (self.max_depth - 1)
            out.append(stage)
            cin = cout
        return out

    def block_flops(self, stage: int, block: int, kernel: int, expand: int, se: bool) -> int:
        """FLOPs of the stand-alone ``MBConv`` with this configuration at block ``block`` of stage ``stage``
        (its input shape in this network), by :func:`~nasforge.evaluators.hardware.count_flops`; cached."""
        from nasforge.evaluators.hardware import count_flops

        cin, cout, stride, h, w = self._block_shapes()[stage][block]
        key = (cin, cout, stride, h, w, int(kernel), int(expand), bool(se))
        if key not in self._flops:
            mb, shape = self.block_module(stage, block, kernel, expand, se)
            self._flops[key] = count_flops(mb, shape)
        return self._flops[key]

    def block_module(self, stage: int, block: int, kernel: int, expand: int, se: bool) -> tuple[Any, tuple[int, ...]]:
        """The stand-alone ``MBConv`` with this configuration at block ``block`` of stage ``stage``, and its
        input shape (without batch) in this network: what a latency lookup table prices as one unit."""
        cin, cout, stride, h, w = self._block_shapes()[stage][block]
        return _mobilenet_module("MBConv")(cin, cout, int(kernel), int(expand), bool(se), stride), (cin, h, w)

    def fixed_flops(self) -> int:
        """FLOPs of the stem, the head conv and the classifier (what every architecture computes)."""
        if self._fixed_flops is None:
            from nasforge.evaluators.hardware import count_flops

            shape = tuple(int(d) for d in self.task.input_shape)
            _, cout, stride, h, w = self._block_shapes()[-1][0]  # the last stage's first block
            h, w = (h - 1) // stride + 1, (w - 1) // stride + 1
            head = self.space.channels()[2]
            self._fixed_flops = (count_flops(self.stem, shape) + count_flops(self.head, (cout, h, w))
                                 + count_flops(self.classifier, (head,)))
        return self._fixed_flops

    def arch_flops(self, arch: Architecture) -> int:
        """FLOPs of ``arch``'s stand-alone network: :meth:`fixed_flops` plus its blocks' :meth:`block_flops`."""
        return self.fixed_flops() + sum(self.block_flops(s, b, k, e, se)
                                        for s, stage in enumerate(self.space.blocks(arch))
                                        for b, (k, e, se) in enumerate(stage))
