"""Supernets: every candidate operation of a space present once, shared by every architecture that uses it.

A supernet is an ``nn.Module`` made of the space's own building blocks
(:mod:`nasforge.spaces.nn`, the MobileNet blocks) in which each place where the
space lets an architecture choose holds a :class:`ChoiceOp`: the candidates of
that decision side by side. A **decision** is named by a key (for NB201 the
edge's choice name ``'2<-1'``; for DARTS ``'normal.n1.e2'``, the edge from
state 2 into node 1; for MobileNet ``'s1.b0'`` for a block and ``'s1.depth'``)
and has a list of option labels. One :class:`Controller` per supernet says,
for every key, what its choice ops compute:

* **mixed** mode: the weighted sum of the candidates, with weights from the
  architecture parameters (``softmax(alpha)``, Gumbel-softmax, Max-W);
* **path** mode: exactly one candidate per key (a sub-network), set from an
  architecture with :meth:`Supernet.set_arch`. Keys an architecture does not
  use (a DARTS edge that is not one of a node's two inputs) are switched off.

A decision can also be *fixed* to one candidate in mixed mode, or have one
candidate *removed* (zero weight): that is how perturbation-based selection
(DARTS-PT) discretises a supernet edge by edge.

With one path selected the supernet computes exactly what the stand-alone
network ``space.build(arch, task)`` computes with the same weights:
:meth:`Supernet.extract` builds that network and loads the inherited weights
into it, and :func:`nasforge.testing.check_supernet` checks the equality for
every registered supernet.

torch is imported when this module is imported: import it only where a
supernet is built.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, Mapping, Sequence

import numpy as np
import torch
from torch import nn

from nasforge.errors import ConfigError
from nasforge.spaces.base import Architecture, SearchSpace

__all__ = ["ChoiceOp", "Controller", "Decision", "Sampled", "Supernet", "WEIGHTINGS", "atomic_save", "bn_snapshot",
           "checkpoint_file", "path_accuracy", "read_checkpoint", "recalibrate_bn"]

#: how mixed mode turns a decision's architecture parameters into candidate weights
WEIGHTINGS = ("softmax", "gumbel", "max-w", "binary", "sample")


@dataclass(frozen=True)
class Sampled:
    """Some sampled candidates of a decision: only ``indices`` are computed, each scaled by its entry of
    ``weights`` (a vector over all candidates that carries the gradient to the architecture parameters).

    GDAS samples one candidate (weight 1 forward); ProxylessNAS' binary gates sample two, one active
    (weight 1) and one inactive (weight 0) whose output is still computed, for the gate gradient.
    """

    indices: tuple[int, ...]
    weights: torch.Tensor


@dataclass(frozen=True)
class Decision:
    """One decision of a supernet: its key, its option labels, which are parameter-free, which is the zero op.

    ``param_free`` lists the option labels whose candidate has no weights (skip, pooling, none): the
    collapse guard counts them in derived architectures. ``zero`` is the label of the operation that
    outputs zeros (a cell edge's ``none``), which selection never keeps.
    """

    key: str
    options: tuple[str, ...]
    param_free: tuple[str, ...] = ()
    zero: str | None = None


class Controller:
    """What every :class:`ChoiceOp` of one supernet computes (a plain object shared by them).

    ``alphas`` are the architecture parameters, one vector per decision key in
    :attr:`keys` order. :meth:`begin_forward` computes the weights of all keys
    once per forward pass (so every cell that shares a decision shares one
    Gumbel sample); :meth:`get` is what a choice op reads.
    """

    def __init__(self, decisions: Sequence[Decision], alphas: nn.ParameterList) -> None:
        self.decisions = {d.key: d for d in decisions}
        self.keys = [d.key for d in decisions]
        self.index = {k: i for i, k in enumerate(self.keys)}
        self.alphas = alphas
        self.mode = "mixed"
        self.path: dict[str, int] = {}
        self.fixed: dict[str, int] = {}
        self.removed: dict[str, int] = {}
        self.off: set[str] = set()
        self.weighting = "softmax"
        self.tau = 1.0
        self.generator: torch.Generator | None = None
        self._cache: dict[str, Any] = {}

    # -- modes ---------------------------------------------------------------------
    def set_path(self, path: Mapping[str, int]) -> None:
        """Path mode: ``path[key]`` is the candidate index of each used key; other keys are off."""
        for key, idx in path.items():
            n = len(self.decisions[key].options)
            if not 0 <= int(idx) < n:
                raise ValueError(f"decision {key!r} has {n} candidates; got index {idx}")
        self.mode = "path"
        self.path = {k: int(v) for k, v in path.items()}

    def set_mixed(self, weighting: str = "softmax", tau: float = 1.0) -> None:
        if weighting not in WEIGHTINGS:
            raise ConfigError(f"weighting {weighting!r} is not known; accepted: {', '.join(WEIGHTINGS)}")
        self.mode, self.weighting, self.tau = "mixed", weighting, float(tau)

    def probabilities(self, key: str) -> torch.Tensor:
        """``softmax(alpha)`` of ``key`` (detached), with a removed candidate at zero."""
        p = torch.softmax(self.alphas[self.index[key]].detach(), dim=-1)
        if key in self.removed:
            p = p.clone()
            p[self.removed[key]] = 0.0
        return p

    # -- per forward ---------------------------------------------------------------
    def begin_forward(self) -> None:
        self._cache = {}
        if self.mode == "path":
            return
        for i, key in enumerate(self.keys):
            if key in self.off:
                self._cache[key] = None
            elif key in self.fixed:
                self._cache[key] = self.fixed[key]
            else:
                self._cache[key] = self._weights(key, self.alphas[i])

    def _weights(self, key: str, alpha: torch.Tensor) -> Any:
        if self.weighting == "gumbel":
            # Gumbel-softmax, hard: one sampled candidate computes, its weight is 1 forward and carries the
            # softmax's gradient backward (straight-through)
            u = torch.rand(alpha.shape, generator=self.generator).clamp_(1e-10, 1 - 1e-10).to(alpha.device)
            soft = torch.softmax((alpha - torch.log(-torch.log(u))) / self.tau, dim=-1)
            idx = int(soft.argmax())
            hard = torch.zeros_like(soft)
            hard[idx] = 1.0
            return Sampled((idx,), hard - soft.detach() + soft)
        if self.weighting in ("binary", "sample"):
            p = torch.softmax(alpha.detach(), dim=-1).cpu()
            if key in self.removed:
                p[self.removed[key]] = 0.0
            if self.weighting == "sample":  # one path drawn from the probabilities, no gradient to alpha
                return int(torch.multinomial(p, 1, generator=self.generator))
            # ProxylessNAS' binary gates: two candidates drawn from the probabilities, one of them active
            # (drawn from their probabilities renormalised over the pair); gate gradient d L / d g_j times the
            # pair softmax's Jacobian, as in the paper, through the straight-through weights
            pair = torch.multinomial(p, min(2, int((p > 0).sum())), replacement=False, generator=self.generator)
            q = torch.softmax(alpha[pair.to(alpha.device)], dim=-1)
            active = int(torch.multinomial(q.detach().cpu(), 1, generator=self.generator))
            hard = torch.zeros_like(q)
            hard[active] = 1.0
            w = torch.zeros_like(alpha).index_put((pair.to(alpha.device),), hard - q.detach() + q)
            return Sampled(tuple(int(i) for i in pair), w)
        w = torch.softmax(alpha, dim=-1)
        if self.weighting == "max-w":
            w = 1.0 - w.max() + w
        if key in self.removed:
            mask = torch.ones_like(w)
            mask[self.removed[key]] = 0.0
            w = w * mask
        return w

    def get(self, key: str) -> Any:
        """``None`` (key off), an ``int`` (one candidate), a :class:`Sampled` (sampled candidates with
        gradient-carrying weights) or a weight vector (the mixture)."""
        if self.mode == "path":
            return self.path.get(key)
        return self._cache.get(key)


class ChoiceOp(nn.Module):
    """The candidates of one decision at one place of the network.

    ``ops`` is an ``nn.ModuleList`` in the decision's option order (so state-dict
    keys read ``...ops.<index>...``). Several choice ops may share a key (a cell
    repeated through the network shares its genotype).
    """

    def __init__(self, key: str, ops: Sequence[nn.Module], controller: Controller) -> None:
        super().__init__()
        self.key = key
        self.ops = nn.ModuleList(ops)
        object.__setattr__(self, "_controller", controller)  # not a submodule: shared, holds no weights

    def forward(self, x: torch.Tensor) -> torch.Tensor | None:
        w = self._controller.get(self.key)
        if w is None:
            return None
        if isinstance(w, int):
            return self.ops[w](x)
        if isinstance(w, Sampled):
            out = None
            for i in w.indices:
                out = add(out, w.weights[i] * self.ops[i](x))
            return out
        out = None
        for i, op in enumerate(self.ops):
            if not bool(w.requires_grad) and float(w[i]) == 0.0:
                continue
            h = w[i] * op(x)
            out = h if out is None else out + h
        return out if out is not None else self.ops[0](x).mul(0.0)


def add(a: torch.Tensor | None, b: torch.Tensor | None) -> torch.Tensor | None:
    """The sum of two optional tensors (``None`` is an edge that is off)."""
    if a is None:
        return b
    return a if b is None else a + b


class Supernet(nn.Module):
    """Base class of supernets: decisions, architecture parameters, modes, extraction.

    Subclasses make their :class:`Controller` with :meth:`make_controller`, build
    their modules (usually the space's own network skeleton with choice cells
    or stages put in by its factory hook), :meth:`attach` the controller, and
    implement :meth:`path_of` (architecture -> candidate index
    per used key), :meth:`derive_from` (a chosen candidate per key -> an
    architecture of the space, for the magnitude rule and for selection by
    perturbation) and :meth:`map_key` (a stand-alone state-dict key -> the
    supernet key that holds the same weight).
    """

    space: SearchSpace
    task: Any

    @staticmethod
    def make_controller(decisions: Sequence[Decision], seed: int = 0, init_scale: float = 1e-3) -> Controller:
        """A controller with architecture parameters drawn as ``init_scale * N(0, 1)`` (DARTS), seeded."""
        gen = torch.Generator().manual_seed(int(seed))
        alphas = nn.ParameterList(
            [nn.Parameter(init_scale * torch.randn(len(d.options), generator=gen)) for d in decisions])
        return Controller(decisions, alphas)

    def attach(self, controller: Controller) -> None:
        """Register ``controller``'s architecture parameters as ``alphas`` (call after ``nn.Module.__init__``)."""
        self.alphas = controller.alphas
        self.controller = controller

    # -- parameters ----------------------------------------------------------------
    @property
    def decisions(self) -> list[Decision]:
        return [self.controller.decisions[k] for k in self.controller.keys]

    def arch_parameters(self) -> list[nn.Parameter]:
        return list(self.alphas)

    def weight_parameters(self) -> list[nn.Parameter]:
        alpha_ids = {id(p) for p in self.alphas}
        return [p for p in self.parameters() if id(p) not in alpha_ids]

    def alpha_values(self) -> dict[str, list[float]]:
        """The architecture parameters as plain lists, per key."""
        return {k: [float(v) for v in self.alphas[i].detach()] for i, k in enumerate(self.controller.keys)}

    # -- modes ---------------------------------------------------------------------
    def set_arch(self, arch: Architecture) -> None:
        """Path mode: compute exactly the sub-network of ``arch``."""
        self.controller.set_path(self.path_of(arch))

    def set_mixed(self, weighting: str = "softmax", tau: float = 1.0) -> None:
        self.controller.set_mixed(weighting, tau)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.controller.begin_forward()
        return self.body(x)

    def body(self, x: torch.Tensor) -> torch.Tensor:  # pragma: no cover - every subclass defines it
        raise NotImplementedError

    # -- architectures -------------------------------------------------------------
    def path_of(self, arch: Architecture) -> dict[str, int]:  # pragma: no cover
        raise NotImplementedError

    def derive_from(self, chosen: Mapping[str, int], strength: Mapping[str, float] | None = None) -> Architecture:
        """The architecture whose candidate per key is ``chosen[key]``; ``strength[key]`` ranks keys where the
        space needs a subset of them (a DARTS node keeps its two strongest incoming edges)."""
        raise NotImplementedError  # pragma: no cover

    def derive(self, keep_zero: bool = False, override: Mapping[str, int] | None = None,
               drop: Sequence[str] = ()) -> Architecture:
        """The magnitude rule: per key the candidate with the largest architecture weight (the zero op never,
        unless ``keep_zero``, as in DARTS); where only some keys are kept, the strongest ones.

        Where selection has fixed a decision, its candidate stands; decisions switched off, or named in
        ``drop``, are left out; ``override`` replaces the candidate of some keys (how DARTS-PT on a GDAS
        supernet tries each candidate in the architecture selection stands at).
        """
        ctl = self.controller
        chosen, strength = {}, {}
        for key in ctl.keys:
            if key in ctl.off or key in drop:
                continue
            d = ctl.decisions[key]
            p = ctl.probabilities(key).numpy()
            allowed = [i for i, o in enumerate(d.options) if keep_zero or o != d.zero] or list(range(len(d.options)))
            idx = ctl.fixed.get(key, max(allowed, key=lambda i: float(p[i])))
            if override and key in override:
                idx = override[key]
            chosen[key], strength[key] = idx, float(p[idx])
        return self.derive_from(chosen, strength)

    def usage_probability(self, key: str, uniform: bool = False) -> torch.Tensor | float:
        """The probability, under the architecture parameters (or uniform ones), that an architecture uses
        decision ``key`` at all (a block past a stage's depth is unused); 1 where every architecture does."""
        return 1.0

    def topology_groups(self) -> list[tuple[list[str], int]]:
        """Groups of decision keys of which an architecture keeps a fixed number (a DARTS node keeps two of
        its incoming edges): ``[(keys, n_keep), ...]``; none for spaces whose every decision is used."""
        return []

    def param_free_fraction(self, arch: Architecture) -> float:
        """The fraction of the decisions ``arch`` uses whose candidate has no weights (skip, pooling, none)."""
        path = self.path_of(arch)
        free = [self.controller.decisions[k].options[i] in self.controller.decisions[k].param_free
                for k, i in path.items() if self.controller.decisions[k].param_free]
        return float(np.mean(free)) if free else 0.0

    # -- inherited weights ---------------------------------------------------------
    def map_key(self, arch: Architecture, path: Mapping[str, int], key: str) -> str:  # pragma: no cover
        raise NotImplementedError

    def subnet_state_dict(self, arch: Architecture, standalone: nn.Module) -> dict[str, torch.Tensor]:
        """The state dict of ``standalone`` (``space.build(arch, task)``) filled from the supernet's weights.

        A stand-alone weight smaller than the supernet's (a narrower layer of a supernet whose widths share
        one weight, the MLP's) is its leading block: ``weight[:out, :in]``.
        """
        path = self.path_of(arch)
        mine = self.state_dict()
        out = {}
        for key, target in standalone.state_dict().items():
            src = self.map_key(arch, path, key)
            if src not in mine:
                raise KeyError(f"supernet {type(self).__name__} has no weight {src!r} for stand-alone {key!r}")
            value = self.fit_weight(src, mine[src], tuple(target.shape))
            if value.dim() != target.dim() or any(t > v for t, v in zip(target.shape, value.shape)):
                raise KeyError(f"supernet weight {src!r} of shape {tuple(value.shape)} cannot hold stand-alone "
                               f"{key!r} of shape {tuple(target.shape)}")
            out[key] = value[tuple(slice(0, n) for n in target.shape)].clone()
        return out

    def fit_weight(self, key: str, value: torch.Tensor, shape: tuple[int, ...]) -> torch.Tensor:
        """The part of supernet weight ``key`` a stand-alone weight of ``shape`` takes, before its leading block is
        sliced (the elastic supernet crops the centre of a depthwise kernel here); by default ``value``."""
        return value

    def extract(self, arch: Architecture) -> nn.Module:
        """The stand-alone network of ``arch`` (``space.build``) with the weights it inherits from the supernet."""
        net = self.space.build(arch, self.task)
        net.load_state_dict(self.subnet_state_dict(arch, net))
        return net.to(next(self.parameters()).device)


# ----------------------------------------------------------------------------- BatchNorm

def _bns(model: nn.Module) -> list[nn.modules.batchnorm._BatchNorm]:
    return [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]


@contextlib.contextmanager
def bn_snapshot(model: nn.Module) -> Iterator[None]:
    """Restore every BatchNorm's running statistics and momentum on exit."""
    saved = [(m, m.momentum, {k: v.clone() for k, v in m.state_dict().items()
                              if k in ("running_mean", "running_var", "num_batches_tracked")}) for m in _bns(model)]
    try:
        yield
    finally:
        for m, momentum, state in saved:
            m.momentum = momentum
            for k, v in state.items():
                getattr(m, k).copy_(v)


def recalibrate_bn(model: nn.Module, X: torch.Tensor, batches: int = 4, batch_size: int = 128) -> None:
    """Reset BatchNorm running statistics and re-estimate them on the first ``batches`` batches of ``X``
    (a cumulative average, in training mode, without gradients). Deterministic: the batches are fixed."""
    for m in _bns(model):
        m.reset_running_stats()
        m.momentum = None  # cumulative moving average over the calibration batches
    was = model.training
    model.train()
    with torch.no_grad():
        for b in range(batches):
            xb = X[b * batch_size:(b + 1) * batch_size]
            if len(xb) < 2:
                break
            model(xb)
    model.train(was)


def path_accuracy(supernet: Supernet, arch: Architecture, X_val: torch.Tensor, y_val: torch.Tensor, *,
                  X_calib: torch.Tensor | None = None, recalibrate: bool = True, calib_batches: int = 4,
                  batch_size: int = 512) -> float:
    """Validation accuracy (%) of ``arch``'s sub-network with inherited weights.

    With ``recalibrate`` the BatchNorm statistics are re-estimated on ``calib_batches`` batches of
    ``X_calib`` (training data) first; the supernet's own statistics and mode are restored afterwards,
    so scoring one architecture never changes the score of the next.
    """
    from nasforge.evaluators.training import accuracy

    ctl = supernet.controller
    saved = (ctl.mode, dict(ctl.path))
    try:
        with bn_snapshot(supernet):
            supernet.set_arch(arch)
            if recalibrate:
                if X_calib is None:
                    raise ValueError("recalibration needs training data (X_calib)")
                recalibrate_bn(supernet, X_calib, calib_batches)
            return accuracy(supernet, X_val, y_val, batch_size)
    finally:
        ctl.mode, ctl.path = saved


# ----------------------------------------------------------------------------- checkpoint files

def atomic_save(path: str | os.PathLike[str], blob: Any) -> None:
    """``torch.save`` to ``path`` through a temporary file and a rename, so a kill never leaves half a file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    torch.save(blob, tmp)
    os.replace(tmp, path)


def read_checkpoint(path: str | os.PathLike[str], device: Any = "cpu") -> Any:
    """What :func:`atomic_save` wrote; a missing, truncated or foreign file is a ConfigError naming it."""
    try:
        return torch.load(path, map_location=device, weights_only=False)
    except FileNotFoundError:
        raise ConfigError(f"no such file: {path}") from None
    except Exception as exc:  # a truncated or foreign file
        raise ConfigError(f"cannot read checkpoint {path}: {exc}") from None


def checkpoint_file(directory: str | os.PathLike[str] | None, name: str, resume: bool) -> Path | None:
    """The checkpoint file ``directory/name`` of a run (None without a directory), checked against ``resume``:
    resuming needs the file, a new run refuses to overwrite one from an earlier run (both ConfigError)."""
    path = Path(directory) / name if directory is not None else None
    if resume and (path is None or not path.exists()):
        raise ConfigError(f"nothing to resume: no checkpoint {path or '(no checkpoint directory given)'}")
    if not resume and path is not None and path.exists():
        raise ConfigError(f"checkpoint {path} exists from an earlier run: resume it (--resume) or choose another "
                          f"checkpoint directory")
    return path
