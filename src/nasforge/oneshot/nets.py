"""The supernets of the built-in trainable spaces: ``nb201``, ``darts`` (shared or distinct cells) and ``mobilenet``.

Each mirrors the stand-alone network of its space module by module (same
names, same blocks), with a :class:`~nasforge.oneshot.supernet.ChoiceOp` where
the space lets an architecture choose, so a path's weights map one to one onto
``space.build(arch, task)``:

* ``nb201``: one decision per cell edge (the edge's choice name, 5 operations),
  shared by every cell of the network, as the space shares one cell.
* ``darts``: one decision per possible edge of each searched cell, ``<cell>.n<k>.e<j>``
  (the edge from state ``j`` into node ``k``, 8 operations): 14 per cell. An
  architecture uses two of a node's edges; the magnitude rule keeps the two
  strongest (DARTS). With ``distinct_cells`` every layer has its own decisions.
* ``mobilenet``: one decision per block ``s<s>.b<b>`` over every (kernel, expansion,
  squeeze-excitation) combination, and one per stage depth ``s<s>.depth``
  (mixed mode sums the stage's outputs after each possible depth, weighted).
"""

from __future__ import annotations

import itertools
from typing import Any, Mapping

import torch
from torch import nn

from nasforge.oneshot.supernet import ChoiceOp, Decision, Sampled, Supernet, add
from nasforge.spaces.base import Architecture

__all__ = ["DartsSupernet", "MLPSupernet", "MobileNetSupernet", "NB201Supernet"]


def _nn_cells() -> Any:
    from nasforge.spaces.nn import cells

    return cells


def _mobilenet_class() -> Any:
    from nasforge.spaces.mobilenet import MobileNet  # made on first access (the module imports torch lazily)

    return MobileNet


# ----------------------------------------------------------------------------- NAS-Bench-201

class _NB201SuperCell(nn.Module):
    def __init__(self, C: int, edges: Any, keys: list[str], ops: tuple[str, ...], controller: Any) -> None:
        super().__init__()
        from nasforge.spaces.nn import nb201_op

        self.layers = nn.ModuleList([ChoiceOp(k, [nb201_op(o, C) for o in ops], controller) for k in keys])
        self.node_inputs = [[(k, f) for k, (t, f) in enumerate(edges) if t == node]
                            for node in range(1, max(t for t, _ in edges) + 1)]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        nodes = [x]
        for inputs in self.node_inputs:
            out = None
            for e, i in inputs:
                out = add(out, self.layers[e](nodes[i]))
            nodes.append(out if out is not None else nodes[0].mul(0.0))
        return nodes[-1]


class NB201Supernet(Supernet, _nn_cells().NB201Network):  # type: ignore[misc]
    """The NAS-Bench-201 network with every edge of every cell holding all five operations.

    It is :class:`~nasforge.spaces.nn.NB201Network` itself, with choice cells in place of fixed ones.
    """

    def __init__(self, space: Any, task: Any, seed: int = 0) -> None:
        from nasforge.options import check_int
        from nasforge.spaces.nb201 import NB201_EDGES, NB201_OPS, edge_name
        from nasforge.spaces.nn import image_shape

        channels, _, _ = image_shape(space.name, task)
        C = check_int("C", space.C, minimum=1, who="NB201Space")
        N = check_int("N", space.N, minimum=1, who="NB201Space")
        num_classes = check_int("num_classes", task.num_classes, minimum=1, who=f"task {task.name!r}")
        keys = [edge_name(t, f) for t, f in NB201_EDGES]
        free = ("none", "skip_connect", "avg_pool_3x3")
        ctl = self.make_controller([Decision(k, NB201_OPS, free, zero="none") for k in keys], seed=seed)
        _nn_cells().NB201Network.__init__(self, None, C, N, channels, num_classes, None,
                                          make_cell=lambda C_cell: _NB201SuperCell(C_cell, NB201_EDGES, keys,
                                                                                   NB201_OPS, ctl))
        self.attach(ctl)
        self.space, self.task, self.ops_names, self.keys = space, task, NB201_OPS, keys
        self.cell_positions = {i for i, c in enumerate(self.cells) if isinstance(c, _NB201SuperCell)}

    def body(self, x: torch.Tensor) -> torch.Tensor:
        return _nn_cells().NB201Network.forward(self, x)

    def path_of(self, arch: Architecture) -> dict[str, int]:
        self.space.check(arch)
        return {k: self.ops_names.index(op) for k, op in zip(self.keys, self.space.ops(arch))}

    def derive_from(self, chosen: Mapping[str, int], strength: Mapping[str, float] | None = None) -> Architecture:
        return self.space.from_ops([self.ops_names[chosen[k]] for k in self.keys])

    def map_key(self, arch: Architecture, path: Mapping[str, int], key: str) -> str:
        parts = key.split(".")
        if parts[0] == "cells" and int(parts[1]) in self.cell_positions and parts[2] == "layers":
            edge = int(parts[3])
            return ".".join(parts[:4] + ["ops", str(path[self.keys[edge]])] + parts[4:])
        return key


# ----------------------------------------------------------------------------- DARTS

class _DartsSuperCell(nn.Module):
    def __init__(self, cell: str, C_prev_prev: int, C_prev: int, C: int, reduction: bool, reduction_prev: bool,
                 nodes: int, ops: tuple[str, ...], controller: Any) -> None:
        super().__init__()
        from nasforge.spaces.nn import FactorizedReduce, ReLUConvBN, darts_op

        self.reduction = reduction
        self.preprocess0: nn.Module = (FactorizedReduce(C_prev_prev, C) if reduction_prev
                                       else ReLUConvBN(C_prev_prev, C, 1, 1, 0))
        self.preprocess1 = ReLUConvBN(C_prev, C, 1, 1, 0)
        self.edge_list = [(k, j) for k in range(nodes) for j in range(k + 2)]
        self.edges = nn.ModuleList([
            ChoiceOp(DartsSupernet.edge_key(cell, k, j),
                     [darts_op(o, C, 2 if reduction and j < 2 else 1) for o in ops], controller)
            for k, j in self.edge_list])
        self.nodes = nodes
        self.multiplier = nodes

    def forward(self, s0: torch.Tensor, s1: torch.Tensor, drop_prob: float = 0.0) -> torch.Tensor:
        states = [self.preprocess0(s0), self.preprocess1(s1)]
        e = 0
        for k in range(self.nodes):
            total = None
            for j in range(k + 2):
                total = add(total, self.edges[e](states[j]))
                e += 1
            if total is None:
                raise RuntimeError(f"node {k} of a DARTS supernet cell has no active input edge")
            states.append(total)
        return torch.cat(states[2:], dim=1)


class DartsSupernet(Supernet, _nn_cells().DartsNetwork):  # type: ignore[misc]
    """The DARTS network with every possible edge of every searched cell holding all eight operations.

    It is :class:`~nasforge.spaces.nn.DartsNetwork` itself, with choice cells in place of fixed ones.
    """

    @staticmethod
    def edge_key(cell: str, node: int, source: int) -> str:
        return f"{cell}.n{node}.e{source}"

    def __init__(self, space: Any, task: Any, seed: int = 0) -> None:
        from nasforge.spaces.darts import DARTS_OPS, NODES
        from nasforge.spaces.nn import image_shape, positive_int

        channels, _, _ = image_shape(space.name, task)
        C, layers, stem_mult = (positive_int(space, k) for k in ("C", "layers", "stem_multiplier"))
        cell_keys = tuple(space.cell_types)
        decisions = [Decision(self.edge_key(c, k, j), DARTS_OPS,
                              ("none", "max_pool_3x3", "avg_pool_3x3", "skip_connect"), zero="none")
                     for c in cell_keys for k in range(NODES) for j in range(k + 2)]
        ctl = self.make_controller(decisions, seed=seed)
        layer_cells = [space.cell_of_layer(i) for i in range(layers)]

        def make_cell(i: int, C_pp: int, C_p: int, C_cell: int, reduction: bool, reduction_prev: bool) -> nn.Module:
            return _DartsSuperCell(layer_cells[i], C_pp, C_p, C_cell, reduction, reduction_prev, NODES, DARTS_OPS,
                                   ctl)

        _nn_cells().DartsNetwork.__init__(self, None, None, C, layers, channels, positive_int(task, "num_classes"),
                                          stem_multiplier=stem_mult, make_cell=make_cell)
        self.attach(ctl)
        self.space, self.task, self.ops_names, self.nodes = space, task, DARTS_OPS, NODES
        self.cell_keys, self.layer_cells = cell_keys, layer_cells

    def body(self, x: torch.Tensor) -> torch.Tensor:
        return _nn_cells().DartsNetwork.forward(self, x)

    def path_of(self, arch: Architecture) -> dict[str, int]:
        geno = self.space.genotype(arch)
        out = {}
        for cell in self.cell_keys:
            for e, (op, src) in enumerate(geno[cell]):
                out[self.edge_key(cell, e // 2, src)] = self.ops_names.index(op)
        return out

    def derive_from(self, chosen: Mapping[str, int], strength: Mapping[str, float] | None = None) -> Architecture:
        strength = strength or {}
        cells = {}
        for cell in self.cell_keys:
            pairs: list[tuple[str, int]] = []
            for k in range(self.nodes):
                cands = [j for j in range(k + 2) if self.edge_key(cell, k, j) in chosen]
                cands.sort(key=lambda j: -strength.get(self.edge_key(cell, k, j), 0.0))
                if len(cands) < 2:
                    raise ValueError(f"node {k} of cell {cell!r} has fewer than two candidate edges left")
                for j in sorted(cands[:2]):
                    pairs.append((self.ops_names[chosen[self.edge_key(cell, k, j)]], j))
            cells[cell] = pairs
        return self.space.from_cells(cells)

    def topology_groups(self) -> list[tuple[list[str], int]]:
        """Per cell and node, its incoming edges, of which an architecture keeps two."""
        return [([self.edge_key(c, k, j) for j in range(k + 2)], 2) for c in self.cell_keys for k in range(self.nodes)]

    def map_key(self, arch: Architecture, path: Mapping[str, int], key: str) -> str:
        parts = key.split(".")
        if parts[0] == "cells" and parts[2] == "_ops":
            layer, e = int(parts[1]), int(parts[3])
            op, src = self.space.genotype(arch)[self.layer_cells[layer]][e]
            edge = self.cells[layer].edge_list.index((e // 2, src))
            return ".".join(["cells", parts[1], "edges", str(edge), "ops", str(self.ops_names.index(op))]
                            + parts[4:])
        return key


# ----------------------------------------------------------------------------- MobileNet

class _SuperStage(nn.Module):
    def __init__(self, stage: int, cin: int, cout: int, stride: int, max_depth: int,
                 combos: list[tuple[int, int, bool]],
                 controller: Any) -> None:
        super().__init__()
        from nasforge.spaces.mobilenet import MBConv

        self.depth_key = f"s{stage}.depth"
        blocks = []
        for b in range(max_depth):
            ops = [MBConv(cin if b == 0 else cout, cout, k, e, se, stride if b == 0 else 1) for k, e, se in combos]
            blocks.append(ChoiceOp(f"s{stage}.b{b}", ops, controller))
        self.blocks = nn.ModuleList(blocks)
        object.__setattr__(self, "_controller", controller)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        w = self._controller.get(self.depth_key)
        if isinstance(w, int):
            for b in range(w + 1):
                x = self.blocks[b](x)
            return x
        if isinstance(w, Sampled):  # sampled depths: only the blocks they use are computed
            total = None
            for b in range(max(w.indices) + 1):
                x = self.blocks[b](x)
                if b in w.indices:
                    total = add(total, w.weights[b] * x)
            return total
        outs = []
        for block in self.blocks:
            x = block(x)
            outs.append(x)
        total = None
        for d, out in enumerate(outs):
            total = add(total, w[d] * out)
        return total


class MobileNetSupernet(Supernet, _mobilenet_class()):  # type: ignore[misc]
    """The MobileNet skeleton with every block holding every (kernel, expansion, SE) MBConv and every depth.

    It is the space's ``MobileNet`` module itself, with choice stages in place of fixed ones (and its
    initialisation applied to every candidate).
    """

    def __init__(self, space: Any, task: Any, seed: int = 0) -> None:
        shape = tuple(task.input_shape)
        if len(shape) != 3:
            raise ValueError(f"space {space.name!r} needs an image task (C, H, W); task {task.name!r} has "
                             f"input_shape {shape}")
        lay = space.layout  # every block has the same options (the space repeats one template)
        combos = list(itertools.product(*(lay.choice(f"s0.b0.{c}").options for c in ("kernel", "expand", "se"))))
        labels = tuple(f"k{k}e{e}{'se' if se else ''}" for k, e, se in combos)
        n_stages, max_depth = len(space.stages), int(space.max_depth)
        decisions = []
        for s in range(n_stages):
            decisions.append(Decision(f"s{s}.depth", tuple(str(d) for d in range(1, max_depth + 1))))
            decisions += [Decision(f"s{s}.b{b}", labels) for b in range(max_depth)]
        ctl = self.make_controller(decisions, seed=seed)
        stem_ch, stage_ch, head_ch = space.channels()
        stem_stride, strides = space.strides(shape)
        plan = [[(0, 0, False, stride)] for stride in strides]  # only the stride of each stage's first block is read

        def make_stage(s: int, cin: int, cout: int, blocks: Any) -> nn.Module:
            return _SuperStage(s, cin, cout, blocks[0][3], max_depth, combos, ctl)

        _mobilenet_class().__init__(self, shape[0], int(task.num_classes), stem_ch, stem_stride, stage_ch, plan,
                                    head_ch, float(space.dropout), make_stage=make_stage)
        self.attach(ctl)
        self.space, self.task, self.combos = space, task, combos

    def body(self, x: torch.Tensor) -> torch.Tensor:
        return _mobilenet_class().forward(self, x)

    def usage_probability(self, key: str, uniform: bool = False) -> torch.Tensor | float:
        """Block ``b`` of stage ``s`` is used when the stage's depth is more than ``b``."""
        stage, _, block = key.partition(".")
        if not block.startswith("b"):
            return 1.0
        alpha = self.alphas[self.controller.index[f"{stage}.depth"]]
        p = torch.full_like(alpha, 1.0 / len(alpha)) if uniform else torch.softmax(alpha, dim=-1)
        return p[int(block[1:]):].sum()

    def path_of(self, arch: Architecture) -> dict[str, int]:
        out = {}
        for s, stage in enumerate(self.space.blocks(arch)):
            out[f"s{s}.depth"] = len(stage) - 1
            for b, block in enumerate(stage):
                out[f"s{s}.b{b}"] = self.combos.index(block)
        return out

    def derive_from(self, chosen: Mapping[str, int], strength: Mapping[str, float] | None = None) -> Architecture:
        blocks = []
        for s in range(len(self.space.stages)):
            depth = chosen[f"s{s}.depth"] + 1
            blocks.append([self.combos[chosen[f"s{s}.b{b}"]] for b in range(depth)])
        return self.space.from_blocks(blocks)

    def map_key(self, arch: Architecture, path: Mapping[str, int], key: str) -> str:
        parts = key.split(".")
        if parts[0] == "stages":
            s, b = parts[1], parts[2]
            return ".".join(["stages", s, "blocks", b, "ops", str(path[f"s{s}.b{b}"])] + parts[3:])
        return key


# ----------------------------------------------------------------------------- MLP

_ACTIVATIONS = {"relu": torch.relu, "gelu": torch.nn.functional.gelu, "tanh": torch.tanh,
                "silu": torch.nn.functional.silu}


def _mix(w: Any, make: Any, n: int) -> Any:
    """``make(i)`` for the candidate(s) ``w`` selects: one index, sampled ones (:class:`Sampled`), or the
    weighted sum over all ``n`` candidates."""
    if isinstance(w, int):
        return make(w)
    if isinstance(w, Sampled):
        total = None
        for i in w.indices:
            total = add(total, w.weights[i] * make(i))
        return total
    total = None
    for i in range(n):
        total = add(total, w[i] * make(i))
    return total


class MLPSupernet(Supernet):
    """The MLP space's networks sharing one weight per layer: a layer of width ``w`` is the leading ``w`` rows
    (and the previous layer's width of columns) of the widest layer's weight, its BatchNorm / LayerNorm the
    leading ``w`` entries.

    A path slices the weights, so it computes exactly the stand-alone MLP. Mixed mode computes the widest
    layers and multiplies each layer's output by a weighted channel mask (FBNetV2's trick: width ``w``
    keeps the first ``w`` channels), and mixes normalisations, activations, dropout rates and depths by
    their weights.
    """

    def __init__(self, space: Any, task: Any, seed: int = 0) -> None:
        super().__init__()
        import math

        shape = tuple(int(d) for d in task.input_shape)
        self.space, self.task = space, task
        lay = space.layout  # the options, as the space's choices list them
        self.widths = [int(w) for w in lay.choice("l0.width").options]
        self.acts = [str(a) for a in lay.choice("act").options]
        self.dropout_options = list(lay.choice("dropout").options)
        self.dropouts = [float(p) for p in self.dropout_options]
        self.norms = [str(n) for n in lay.choice("norm").options]
        self.max_depth = int(space.max_depth)
        decisions = [Decision("depth", tuple(str(d) for d in range(1, self.max_depth + 1)))]
        decisions += [Decision(f"l{i}.width", tuple(str(w) for w in self.widths)) for i in range(self.max_depth)]
        decisions += [Decision("act", tuple(self.acts)), Decision("dropout", tuple(str(p) for p in self.dropouts)),
                      Decision("norm", tuple(self.norms))]
        ctl = self.make_controller(decisions, seed=seed)
        self.fan_in, W = math.prod(shape), max(self.widths)
        self.linears = nn.ModuleList([nn.Linear(self.fan_in if i == 0 else W, W) for i in range(self.max_depth)])
        self.bns = nn.ModuleList([nn.BatchNorm1d(W) for _ in range(self.max_depth)]) if "batchnorm" in self.norms \
            else None
        self.lns = nn.ModuleList([nn.LayerNorm(W) for _ in range(self.max_depth)]) if "layernorm" in self.norms \
            else None
        self.head = nn.Linear(W, int(task.num_classes))
        self.attach(ctl)

    # -- forward -------------------------------------------------------------------
    def _norm(self, kind: str, i: int, h: torch.Tensor, w: int) -> torch.Tensor:
        F = torch.nn.functional
        if kind == "batchnorm":
            bn = self.bns[i]  # type: ignore[index]
            factor = 0.0
            if bn.training:
                bn.num_batches_tracked.add_(1)
                factor = 1.0 / float(bn.num_batches_tracked) if bn.momentum is None else float(bn.momentum)
            return F.batch_norm(h, bn.running_mean[:w], bn.running_var[:w], bn.weight[:w], bn.bias[:w],
                                bn.training, factor, bn.eps)
        if kind == "layernorm":
            ln = self.lns[i]  # type: ignore[index]
            return F.layer_norm(h, (w,), ln.weight[:w], ln.bias[:w], ln.eps)
        return h

    def body(self, x: torch.Tensor) -> torch.Tensor:
        F = torch.nn.functional
        ctl = self.controller
        x = torch.flatten(x, 1)
        if ctl.mode == "path":
            act, p, norm = self.acts[ctl.get("act")], self.dropouts[ctl.get("dropout")], self.norms[ctl.get("norm")]
            prev = self.fan_in
            for i in range(ctl.get("depth") + 1):
                w = self.widths[ctl.get(f"l{i}.width")]
                lin = self.linears[i]
                x = F.linear(x, lin.weight[:w, :prev], lin.bias[:w])
                x = _ACTIVATIONS[act](self._norm(norm, i, x, w))
                if p > 0:
                    x = F.dropout(x, p, self.training)
                prev = w
            return F.linear(x, self.head.weight[:, :prev], self.head.bias)
        W = max(self.widths)
        channel = torch.arange(W, device=x.device)
        outs = []
        for i in range(self.max_depth):
            h = self.linears[i](x)
            h = _mix(ctl.get("norm"), lambda j: self._norm(self.norms[j], i, h, W), len(self.norms))
            mask = _mix(ctl.get(f"l{i}.width"), lambda j: (channel < self.widths[j]).to(h.dtype), len(self.widths))
            h = h * mask
            h = _mix(ctl.get("act"), lambda j: _ACTIVATIONS[self.acts[j]](h), len(self.acts))
            x = _mix(ctl.get("dropout"), lambda j: F.dropout(h, self.dropouts[j], self.training), len(self.dropouts))
            outs.append(x)
        return _mix(ctl.get("depth"), lambda d: self.head(outs[d]), self.max_depth)

    # -- architectures -------------------------------------------------------------
    def path_of(self, arch: Architecture) -> dict[str, int]:
        self.space.check(arch)
        out = {"depth": int(arch["depth"]) - 1, "act": self.acts.index(str(arch["act"])),
               "dropout": self.dropouts.index(float(arch["dropout"])), "norm": self.norms.index(str(arch["norm"]))}
        for i, w in enumerate(self.space.hidden_widths(arch)):
            out[f"l{i}.width"] = self.widths.index(w)
        return out

    def derive_from(self, chosen: Mapping[str, int], strength: Mapping[str, float] | None = None) -> Architecture:
        depth = chosen["depth"] + 1
        values: dict[str, Any] = {"depth": depth, "act": self.acts[chosen["act"]], "norm": self.norms[chosen["norm"]],
                                  "dropout": self.dropout_options[chosen["dropout"]]}
        for i in range(depth):
            values[f"l{i}.width"] = self.widths[chosen[f"l{i}.width"]]
        return self.space.make(values)

    def map_key(self, arch: Architecture, path: Mapping[str, int], key: str) -> str:
        # the stand-alone network is Sequential(Flatten, per layer: Linear, [norm], activation, [Dropout], head)
        norm, p = str(arch["norm"]), float(arch["dropout"])
        slots: list[str] = ["flatten"]
        for i in range(int(arch["depth"])):
            slots.append(f"linears.{i}")
            if norm != "none":
                slots.append(f"{'bns' if norm == 'batchnorm' else 'lns'}.{i}")
            slots.append("act")
            if p > 0:
                slots.append("dropout")
        slots.append("head")
        index, _, rest = key.partition(".")
        return f"{slots[int(index)]}.{rest}"
