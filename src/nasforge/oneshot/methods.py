"""Differentiable architecture search on a supernet: DARTS (first and second order) and GDAS.

One class, :class:`DifferentiableSearch`, trains a supernet's weights on the
task's **training** split and its architecture parameters on the
**validation** split, alternating one step of each per batch (DARTS, Liu et
al. 2019), then selects an architecture:

* ``darts``: mixed operations weighted by ``softmax(alpha)``; the architecture
  gradient is the first-order one (the current weights taken as optimal).
* ``darts2``: the second-order (unrolled) architecture gradient: the
  validation loss after one virtual SGD step of the weights (momentum and
  weight decay included, as in DARTS); the Hessian-vector product is computed
  exactly by double backpropagation rather than DARTS' finite differences.
* ``gdas``: Gumbel-softmax sampling (Dong & Yang 2019): each forward pass
  samples one candidate per decision and computes only it; the temperature
  falls linearly from ``tau_max`` to ``tau_min``.

Selection (``select``):

* ``magnitude``: per decision the candidate with the largest weight (``none``
  never chosen); a DARTS node keeps its two strongest incoming edges.
* ``pt`` (the default): perturbation-based selection (DARTS-PT, Wang et al. 2021): decisions
  are visited in a seeded random order; on each, every candidate is removed
  in turn and the supernet's validation accuracy measured; the candidate
  whose removal hurts most is kept (the decision is fixed to it), and the
  supernet's weights are fine-tuned for ``pt_tune_steps`` steps before the
  next decision. DARTS cells then choose each node's two inputs the same way
  (removing one incoming edge at a time). A GDAS supernet, trained one path at
  a time, is not measured as a mixture (its mixed output is meaningless): each
  candidate is scored by the validation accuracy of the current architecture
  with that candidate (inherited weights, BatchNorm recalibrated), the best
  kept, and each DARTS node keeps its best-scoring pair of inputs.

Guards against collapse (parameter-free operations taking over):

* a warning and ``collapsed: true`` in the result when more than half of the
  derived architecture's decisions are parameter-free (skip, pooling, none);
* ``weighting="max-w"``: sharpDARTS' Max-W weighting, ``1 - max(w) + w_i`` on
  ``w = softmax(alpha)`` (the leading candidate counts fully, the others by
  their gap to it);
* ``lr_schedule="cosine-power"``: sharpDARTS' cosine power annealing of the
  weight learning rate, ``lr_min + (lr_max - lr_min) * (p**c - 1) / (p - 1)``
  with ``c = (1 + cos(pi * t / T)) / 2`` and ``p = power`` (cosine annealing
  as ``p`` tends to 1);
* ``early_stop=True``: the RobustDARTS signal. After each epoch the dominant
  eigenvalue of the Hessian of the validation loss with respect to the
  architecture parameters is estimated by ``power_iterations`` steps of power
  iteration on Hessian-vector products; when the mean over the last
  ``es_window`` epochs has grown so that the previous window's mean divided by
  it falls below ``es_ratio`` (0.75), search stops and the architecture
  parameters of ``es_window`` epochs earlier are restored.

Checkpoints: with a ``checkpoint_dir`` the whole state (supernet, optimisers,
random generators, history, selection progress) is written atomically after
every epoch and every selection decision; :meth:`run` with ``resume=True``
continues from it and ends with the architecture an uninterrupted run finds.
Deterministic on the CPU for a seed.
"""

from __future__ import annotations

import copy
import itertools
import math
import os
import resource
import sys
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
import torch.nn.functional as F

from nasforge.errors import ConfigError
from nasforge.evaluators import hardware
from nasforge.evaluators.hardware import resolve_device
from nasforge.evaluators.hardware.models import LatencyTable, lookup_table
from nasforge.evaluators.training import task_tensors
from nasforge.oneshot.supernet import (Supernet, atomic_save, bn_snapshot, checkpoint_file, path_accuracy,
                                      read_checkpoint)
from nasforge.options import check_bool, check_choice, check_int, check_number
from nasforge.spaces.base import Architecture, SearchSpace

__all__ = ["CollapseWarning", "DARTS", "DARTS2", "DifferentiableSearch", "GDAS", "OneShotOutcome", "ProxylessNAS",
           "SELECTIONS", "build_supernet", "latency_cost_table"]

SELECTIONS = ("magnitude", "pt")
LR_SCHEDULES = ("cosine", "cosine-power", "constant")
CHECKPOINT = "oneshot.pt"


class CollapseWarning(UserWarning):
    """The derived architecture is dominated by parameter-free operations (skip, pooling, none)."""


def build_supernet(space: SearchSpace, task: Any, seed: int = 0, kind: str | None = None) -> Supernet:
    """The supernet of ``space`` for ``task`` (from the ``SUPERNETS`` registry, by space name; a user space's
    is built from its own function, :class:`~nasforge.oneshot.user.UserSupernet`).

    ``kind`` picks another supernet of the same space, registered as ``<space>:<kind>`` (the elastic
    MobileNet supernet of BigNAS and Single-Path NAS is ``mobilenet:elastic``).
    """
    from nasforge.registry import SUPERNETS
    from nasforge.spaces.user import UserSpace

    if isinstance(space, UserSpace) and kind is None:
        from nasforge.oneshot.user import UserSupernet

        torch.manual_seed(int(seed))
        return UserSupernet(space, task, seed=seed)
    name = space.name if kind is None else f"{space.name}:{kind}"
    if name not in SUPERNETS:
        raise ConfigError(f"space {space.name!r} has no supernet {name!r}; supernets: {', '.join(SUPERNETS.list())}")
    torch.manual_seed(int(seed))
    return SUPERNETS.create(name, space, task, seed=seed)


@dataclass
class OneShotOutcome:
    """What a one-shot search found: the architecture, its inherited-weight validation accuracy, and the rest."""

    arch: Architecture
    val_acc: float
    metrics: dict[str, Any]
    history: list[dict[str, Any]] = field(default_factory=list)


def latency_cost_table(cost: str, model: Any, options: dict[str, Any], device: Any,
                       method: str) -> LatencyTable | None:
    """The lookup table of a method's ``cost="latency"`` term (ProxylessNAS, Single-Path NAS): ``model`` (the
    method's ``hardware`` option) None or ``"lut"`` with ``options`` (``hardware_options``), or a
    :class:`~nasforge.evaluators.hardware.models.LatencyTable`; made now, so bad settings fail before any
    training. None for the other costs, where a hardware model would not be used (an error if one is given)."""
    if cost != "latency":
        if model is not None or options:
            raise ConfigError(f"{method}: hardware and hardware_options are the latency model of cost='latency'; "
                              f"with cost={cost!r} they would not be used")
        return None
    return lookup_table(model, options, device, who=f"{method} cost='latency'")


def peak_rss_mb() -> float:
    """This process's peak resident memory so far, in MB (``ru_maxrss``: KB on Linux, bytes on macOS)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024.0 * 1024.0) if sys.platform == "darwin" else peak / 1024.0


def lr_at(schedule: str, step: int, total: int, lr_max: float, lr_min: float, power: float = 10.0) -> float:
    """The weight learning rate at ``step`` of ``total`` for ``schedule`` (cosine, cosine-power, constant)."""
    if schedule == "constant" or total <= 0:
        return lr_max
    c = 0.5 * (1.0 + math.cos(math.pi * min(step, total) / total))
    if schedule == "cosine":
        return lr_min + (lr_max - lr_min) * c
    return lr_min + (lr_max - lr_min) * (power ** c - 1.0) / (power - 1.0)


class DifferentiableSearch:
    """DARTS-family search on a supernet (see the module docstring). ``name`` is the method."""

    name = "darts"
    #: whether the method trains a supernet to be searched (spos, fewshot, bignas) rather than deriving one
    searches = False
    order = 1
    weighting_default = "softmax"
    #: the weightings the method accepts
    weightings: tuple[str, ...] = ("softmax", "max-w")

    def __init__(self, space: SearchSpace, task: Any, *, epochs: int = 20, batch_size: int = 64,
                 w_lr: float = 0.025, w_lr_min: float = 0.001, w_momentum: float = 0.9,
                 w_weight_decay: float = 3e-4, grad_clip: float = 5.0, arch_lr: float = 3e-3,
                 arch_weight_decay: float = 1e-3, lr_schedule: str = "cosine", power: float = 10.0,
                 weighting: str | None = None, tau_max: float = 10.0, tau_min: float = 0.1,
                 select: str = "pt", pt_tune_steps: int = 20, pt_lr: float = 0.01, pt_val_batches: int = 4,
                 early_stop: bool = False, es_window: int = 5, es_ratio: float = 0.75, power_iterations: int = 8,
                 recalibrate_bn: bool = True, calib_batches: int = 4, seed: int = 0, threads: int | None = None,
                 device: str = "cpu") -> None:
        self.space, self.task = space, task
        self.epochs = check_int("epochs", epochs, minimum=1)
        self.batch_size = check_int("batch_size", batch_size, minimum=2)
        self.w_lr = check_number("w_lr", w_lr, 0.0, low_open=True)
        self.w_lr_min = check_number("w_lr_min", w_lr_min, 0.0)
        self.w_momentum = check_number("w_momentum", w_momentum, 0.0, 1.0, high_open=True)
        self.w_weight_decay = check_number("w_weight_decay", w_weight_decay, 0.0)
        self.grad_clip = check_number("grad_clip", grad_clip, 0.0, low_open=True)
        self.arch_lr = check_number("arch_lr", arch_lr, 0.0, low_open=True)
        self.arch_weight_decay = check_number("arch_weight_decay", arch_weight_decay, 0.0)
        self.lr_schedule = check_choice("lr_schedule", lr_schedule, LR_SCHEDULES)
        self.power = check_number("power", power, 1.0, low_open=True)
        weighting = self.weighting_default if weighting is None else weighting
        self.weighting = check_choice("weighting", weighting, self.weightings)
        self.tau_max = check_number("tau_max", tau_max, 0.0, low_open=True)
        self.tau_min = check_number("tau_min", tau_min, 0.0, low_open=True)
        self.select = check_choice("select", select, SELECTIONS)
        self.pt_tune_steps = check_int("pt_tune_steps", pt_tune_steps, minimum=0)
        self.pt_lr = check_number("pt_lr", pt_lr, 0.0, low_open=True)
        self.pt_val_batches = check_int("pt_val_batches", pt_val_batches, minimum=1)
        self.early_stop = check_bool("early_stop", early_stop)
        self.es_window = check_int("es_window", es_window, minimum=1)
        self.es_ratio = check_number("es_ratio", es_ratio, 0.0, 1.0, low_open=True, high_open=True)
        self.power_iterations = check_int("power_iterations", power_iterations, minimum=1)
        self.recalibrate_bn = check_bool("recalibrate_bn", recalibrate_bn)
        self.calib_batches = check_int("calib_batches", calib_batches, minimum=1)
        self.seed = check_int("seed", seed, minimum=0)
        self.threads = None if threads is None else check_int("threads", threads, minimum=1)
        resolve_device(device)  # an unknown or missing device is an error here, not after the supernet is built
        self.device = device

    # -- description ---------------------------------------------------------------
    def params(self) -> dict[str, Any]:
        """The method's options (JSON-able): recorded with the study and checked on resume."""
        keys = ("epochs", "batch_size", "w_lr", "w_lr_min", "w_momentum", "w_weight_decay", "grad_clip", "arch_lr",
                "arch_weight_decay", "lr_schedule", "power", "weighting", "select", "pt_tune_steps", "pt_lr",
                "pt_val_batches", "early_stop", "es_window", "es_ratio", "power_iterations", "recalibrate_bn",
                "calib_batches", "seed")
        out = {k: getattr(self, k) for k in keys}
        if self.name == "gdas":
            out.update(tau_max=self.tau_max, tau_min=self.tau_min)
        return {"method": self.name, **out}

    # -- the run -------------------------------------------------------------------
    def run(self, checkpoint_dir: str | os.PathLike[str] | None = None, resume: bool = False,
            progress: Callable[[dict[str, Any]], None] | None = None) -> OneShotOutcome:
        """Train the supernet, select an architecture, score it with inherited weights.

        ``progress`` receives one dict per epoch (``phase: "search"``) and per selection decision
        (``phase: "select"``). With ``checkpoint_dir`` every epoch and decision is checkpointed;
        ``resume=True`` continues from the checkpoint there (an error if there is none).
        """
        with hardware.torch_threads(self.threads):
            return self._run(checkpoint_dir, resume, progress or (lambda info: None))

    def _run(self, checkpoint_dir: Any, resume: bool, progress: Callable[[dict[str, Any]], None]) -> OneShotOutcome:
        start = time.perf_counter()
        t = task_tensors(self.task, self.device)
        self.data = t
        self.supernet = build_supernet(self.space, self.task, self.seed).to(t["device"])
        self.weights = self.supernet.weight_parameters()  # listed once: the steps below use it every batch
        self.w_opt = torch.optim.SGD(self.weights, lr=self.w_lr, momentum=self.w_momentum,
                                     weight_decay=self.w_weight_decay)
        self.a_opt = torch.optim.Adam(self.supernet.arch_parameters(), lr=self.arch_lr, betas=(0.5, 0.999),
                                      weight_decay=self.arch_weight_decay)
        self.gumbel = torch.Generator().manual_seed(self.seed + 7)
        self.supernet.controller.generator = self.gumbel
        state: dict[str, Any] = {"epoch": 0, "history": [], "eigenvalues": [], "alpha_history": [],
                                 "stopped_epoch": None, "select_order": None, "select_done": 0, "elapsed": 0.0,
                                 "phase": "search"}
        path = checkpoint_file(checkpoint_dir, CHECKPOINT, resume)
        if resume:
            state = self._load(path)  # type: ignore[arg-type]
        elapsed0 = float(state["elapsed"])
        n_train = len(t["y_train"])
        steps = max(1, math.ceil(n_train / self.batch_size))
        total_steps = steps * self.epochs

        def save() -> None:
            if path is not None:
                state["elapsed"] = elapsed0 + time.perf_counter() - start
                self._save(path, state)

        # -- search --------------------------------------------------------------------
        while state["phase"] == "search" and state["epoch"] < self.epochs:
            epoch = state["epoch"]
            t0 = time.perf_counter()
            info = self._train_epoch(epoch, steps, total_steps)
            state["alpha_history"].append([a.detach().clone() for a in self.supernet.alphas])
            if self.early_stop:
                state["eigenvalues"].append(self.dominant_eigenvalue())
                info["eigenvalue"] = state["eigenvalues"][-1]
            derived = self.supernet.derive()
            info.update(phase="search", epoch=epoch + 1, epochs=self.epochs, arch=str(derived),
                        val_acc=self._path_acc(derived), seconds=time.perf_counter() - t0)
            state["history"].append(info)
            state["epoch"] = epoch + 1
            if self.early_stop and self._should_stop(state["eigenvalues"]):
                back = state["alpha_history"][-1 - self.es_window]
                with torch.no_grad():
                    for a, v in zip(self.supernet.alphas, back):
                        a.copy_(v)
                state["stopped_epoch"] = epoch + 1
                info["early_stop"] = (f"the Hessian's dominant eigenvalue grew (window {self.es_window}); "
                                      f"architecture of epoch {epoch + 1 - self.es_window} restored")
                state["phase"] = "select"
            progress(info)
            save()
        state["phase"] = "select" if state["phase"] == "search" else state["phase"]

        # -- selection -------------------------------------------------------------------
        if self.select == "pt" and state["phase"] == "select":
            self._select_pt(state, progress, save)
        arch = self._selected(state)
        state["phase"] = "done"
        save()
        val = self._path_acc(arch)
        sn = self.supernet
        free = sn.param_free_fraction(arch)
        collapsed = free > 0.5
        if collapsed:
            warnings.warn(f"{self.name}: the derived architecture {arch} is dominated by parameter-free "
                          f"operations ({free:.0%} of its decisions: skip, pooling, none); the search may have "
                          f"collapsed (try select='pt', early_stop=True or weighting='max-w')", CollapseWarning,
                          stacklevel=3)
        metrics = {
            "val_acc": val,
            "supernet_epochs": state["epoch"],
            "search_seconds": elapsed0 + time.perf_counter() - start,
            "peak_rss_mb": peak_rss_mb(),
            "param_free_fraction": free,
            "collapsed": collapsed,
            "stopped_epoch": state["stopped_epoch"],
            "method": self.name,
            "select": self.select,
            "supernet_params": sum(p.numel() for p in self.weights),
            "alphas": sn.alpha_values(),
        }
        if state["eigenvalues"]:
            metrics["eigenvalues"] = [float(v) for v in state["eigenvalues"]]
        metrics.update(self._extra_metrics(arch))
        return OneShotOutcome(arch, val, metrics, list(state["history"]))

    def _extra_metrics(self, arch: Architecture) -> dict[str, Any]:
        """Method-specific metrics of the result, ``arch`` (ProxylessNAS: its cost term)."""
        return {}

    @property
    def path_trained(self) -> bool:
        """Whether the supernet is trained one sampled path at a time (its mixture is then meaningless)."""
        return self.weighting in ("gumbel", "binary")

    @property
    def train_weighting(self) -> str:
        """The weighting of weight steps."""
        return self.weighting

    # -- one epoch ---------------------------------------------------------------------
    def _tau(self, epoch: int) -> float:
        if self.epochs == 1:
            return self.tau_min
        return self.tau_max - (self.tau_max - self.tau_min) * epoch / (self.epochs - 1)

    def _set_mode(self, epoch: int) -> None:
        self.supernet.set_mixed(self.weighting, self._tau(epoch))

    def _train_epoch(self, epoch: int, steps: int, total_steps: int) -> dict[str, Any]:
        t, sn = self.data, self.supernet
        sn.train()
        gen = torch.Generator().manual_seed(self.seed * 1_000_003 + epoch)
        n_train, n_val = len(t["y_train"]), len(t["y_val"])
        perm_t = torch.randperm(n_train, generator=gen).to(t["device"])
        perm_v = torch.randperm(n_val, generator=gen).to(t["device"])
        val_steps = max(1, n_val // self.batch_size)
        loss_sum, correct, seen = 0.0, 0, 0
        for step in range(steps):
            idx = perm_t[step * self.batch_size:(step + 1) * self.batch_size]
            if len(idx) < 2:
                continue
            v = step % val_steps
            vidx = perm_v[v * self.batch_size:(v + 1) * self.batch_size]
            lr = lr_at(self.lr_schedule, epoch * steps + step, total_steps, self.w_lr, self.w_lr_min, self.power)
            for g in self.w_opt.param_groups:
                g["lr"] = lr
            xt, yt, xv, yv = t["X_train"][idx], t["y_train"][idx], t["X_val"][vidx], t["y_val"][vidx]
            self._set_mode(epoch)  # the architecture step's mode, then the weight step's
            self._arch_step(xt, yt, xv, yv, lr)
            self._weight_mode(epoch)
            out = sn(xt)
            loss = F.cross_entropy(out, yt)
            if not torch.isfinite(loss):
                raise FloatingPointError(f"{self.name}: the supernet's training loss is {loss.item()} at epoch "
                                         f"{epoch + 1}, step {step + 1}; lower w_lr (now {self.w_lr})")
            self.w_opt.zero_grad(set_to_none=True)
            loss.backward(inputs=self.weights)
            torch.nn.utils.clip_grad_norm_(self.weights, self.grad_clip)
            self.w_opt.step()
            loss_sum += float(loss.detach()) * len(idx)
            correct += int((out.detach().argmax(1) == yt).sum())
            seen += len(idx)
        return {"train_loss": loss_sum / max(seen, 1), "train_acc": 100.0 * correct / max(seen, 1), "lr": lr}

    def _weight_mode(self, epoch: int) -> None:
        """The supernet's mode for the weight step: ``train_weighting`` where it differs from the architecture
        step's (ProxylessNAS draws one path); the DARTS family keeps the mode it has."""
        if self.train_weighting != self.weighting:
            self.supernet.set_mixed(self.train_weighting, self._tau(epoch))

    def _arch_penalty(self) -> torch.Tensor | float:
        """A term added to the architecture step's loss (ProxylessNAS: the expected cost); none by default."""
        return 0.0

    def _arch_step(self, xt: torch.Tensor, yt: torch.Tensor, xv: torch.Tensor, yv: torch.Tensor, lr: float) -> None:
        alphas = self.supernet.arch_parameters()
        if self.order == 2:
            grads = self._unrolled_grads(xt, yt, xv, yv, lr)
        else:
            loss = F.cross_entropy(self.supernet(xv), yv) + self._arch_penalty()
            # a decision the sampled path does not reach (a block past a sampled depth) gets no gradient
            grads = [g if g is not None else torch.zeros_like(a)
                     for g, a in zip(torch.autograd.grad(loss, alphas, allow_unused=True), alphas)]
        self.a_opt.zero_grad(set_to_none=True)
        for a, g in zip(alphas, grads):
            a.grad = g.detach().clone()
        self.a_opt.step()

    def _unrolled_grads(self, xt: torch.Tensor, yt: torch.Tensor, xv: torch.Tensor, yv: torch.Tensor,
                        lr: float) -> list[torch.Tensor]:
        """DARTS' second-order architecture gradient, ``dL_val(w', a)/da - lr * (d2 L_train / da dw) v`` with
        ``w' = w - lr * (momentum + dL_train/dw + wd * w)`` the virtual step and ``v = dL_val(w', a)/dw'``.

        The mixed second derivative times ``v`` is computed exactly by double backpropagation. (DARTS
        approximates it by central finite differences at radius 0.01; on small ReLU networks that estimate
        jumps across activation kinks: in the tests it is off by several times the true value.)
        """
        sn = self.supernet
        weights, alphas = self.weights, sn.arch_parameters()
        backup = [w.detach().clone() for w in weights]
        dw = torch.autograd.grad(F.cross_entropy(sn(xt), yt), weights, allow_unused=True)
        with torch.no_grad():
            for w, g in zip(weights, dw):
                buf = self.w_opt.state.get(w, {}).get("momentum_buffer")
                step = (g if g is not None else torch.zeros_like(w)) + self.w_weight_decay * w
                if buf is not None:
                    step = step + self.w_momentum * buf
                w.sub_(lr * step)
        grads = torch.autograd.grad(F.cross_entropy(sn(xv), yv), alphas + weights, allow_unused=True)
        da = [g if g is not None else torch.zeros_like(a) for g, a in zip(grads[:len(alphas)], alphas)]
        v = [g for g in grads[len(alphas):]]
        with torch.no_grad():
            for w, b in zip(weights, backup):
                w.copy_(b)
        if lr == 0.0:
            return da
        gw = torch.autograd.grad(F.cross_entropy(sn(xt), yt), weights, create_graph=True, allow_unused=True)
        dot = sum((g * x).sum() for g, x in zip(gw, v) if g is not None and x is not None)
        if not isinstance(dot, torch.Tensor) or not dot.requires_grad:
            return da
        hv = torch.autograd.grad(dot, alphas, allow_unused=True)
        return [a - lr * (h if h is not None else torch.zeros_like(a)) for a, h in zip(da, hv)]

    # -- the RobustDARTS signal ----------------------------------------------------------
    def dominant_eigenvalue(self, batches: int = 2) -> float:
        """The largest eigenvalue of the Hessian of the validation loss w.r.t. the architecture parameters
        (power iteration on Hessian-vector products, softmax weighting, BatchNorm statistics untouched)."""
        sn, t = self.supernet, self.data
        alphas = sn.arch_parameters()
        n = min(len(t["y_val"]), batches * self.batch_size)
        X, y = t["X_val"][:n], t["y_val"][:n]
        gen = torch.Generator().manual_seed(self.seed + 11)
        saved = (sn.controller.weighting, sn.controller.tau)
        with bn_snapshot(sn):
            sn.train()
            sn.set_mixed("softmax")
            loss = F.cross_entropy(sn(X), y)
            grads = torch.autograd.grad(loss, alphas, create_graph=True)
            v = [torch.randn(a.shape, generator=gen) for a in alphas]
            lam = 0.0
            for _ in range(self.power_iterations):
                norm = torch.sqrt(sum((x * x).sum() for x in v))
                v = [x / norm for x in v]
                hv = torch.autograd.grad(grads, alphas, grad_outputs=v, retain_graph=True)
                lam = float(sum((h * x).sum() for h, x in zip(hv, v)))
                v = [h.detach() for h in hv]
            sn.set_mixed(*saved)
        return lam

    def _should_stop(self, eigs: list[float]) -> bool:
        k = self.es_window
        if len(eigs) < 2 * k:
            return False
        prev, cur = float(np.mean(eigs[-2 * k:-k])), float(np.mean(eigs[-k:]))
        return cur > 0 and prev / cur < self.es_ratio

    # -- selection -------------------------------------------------------------------------
    def _path_acc(self, arch: Architecture) -> float:
        t = self.data
        return path_accuracy(self.supernet, arch, t["X_val"], t["y_val"], X_calib=t["X_train"],
                             recalibrate=self.recalibrate_bn, calib_batches=self.calib_batches)

    def _mixed_acc(self, batches: int) -> float:
        """Validation accuracy (%) of the mixed supernet (softmax weighting) on its first ``batches`` batches."""
        from nasforge.evaluators.training import accuracy

        t, sn = self.data, self.supernet
        n = min(len(t["y_val"]), batches * 128)
        saved = (sn.controller.weighting, sn.controller.tau)
        sn.set_mixed("softmax")
        try:
            return accuracy(sn, t["X_val"][:n], t["y_val"][:n], batch_size=128)
        finally:
            sn.set_mixed(*saved)

    def _select_pt(self, state: dict[str, Any], progress: Callable[[dict[str, Any]], None],
                   save: Callable[[], None]) -> None:
        sn = self.supernet
        ctl = sn.controller
        groups = sn.topology_groups()
        if state["select_order"] is None:
            rng = np.random.default_rng(self.seed)
            keys = list(ctl.keys)
            order = [["op", keys[i]] for i in rng.permutation(len(keys))]
            order += [["edges", g] for g in rng.permutation(len(groups)).tolist()]
            state["select_order"] = order
        order = state["select_order"]
        while state["select_done"] < len(order):
            kind, what = order[state["select_done"]]
            t0 = time.perf_counter()
            if kind == "op" and self.path_trained:
                key = what
                options = ctl.decisions[key].options
                # a supernet trained one path at a time is scored one path at a time: the current architecture
                # with each candidate on this decision, inherited weights, BatchNorm recalibrated
                scores = [-math.inf if label == ctl.decisions[key].zero
                          else self._path_acc(sn.derive(override={key: i})) for i, label in enumerate(options)]
                prob = ctl.probabilities(key).numpy()
                keep = max(range(len(options)), key=lambda i: (scores[i], float(prob[i])))
                ctl.fixed[key] = keep
                info = {"phase": "select", "decision": key, "kept": options[keep],
                        "acc_with": {o: s for o, s in zip(options, scores) if math.isfinite(s)}}
            elif kind == "edges" and self.path_trained:
                keys, n_keep = groups[int(what)]
                pairs = list(itertools.combinations(keys, n_keep))
                scores = [self._path_acc(sn.derive(drop=[k for k in keys if k not in pair])) for pair in pairs]
                kept = list(pairs[int(np.argmax(scores))])
                for key in keys:
                    if key not in kept:
                        ctl.off.add(key)
                info = {"phase": "select", "decision": "/".join(keys), "kept": "+".join(kept)}
            elif kind == "op":
                key = what
                options = ctl.decisions[key].options
                scores = []
                for i, label in enumerate(options):
                    if label == ctl.decisions[key].zero:
                        scores.append(math.inf)  # never keep the zero op ('none') by removing it
                        continue
                    ctl.removed[key] = i
                    scores.append(self._mixed_acc(self.pt_val_batches))
                    del ctl.removed[key]
                # the removal that hurts most; ties (a supernet that ignores the decision) go to the largest weight
                prob = ctl.probabilities(key).numpy()
                keep = min(range(len(options)), key=lambda i: (scores[i], -float(prob[i])))
                ctl.fixed[key] = keep
                info = {"phase": "select", "decision": key, "kept": options[keep],
                        "acc_without": {o: s for o, s in zip(options, scores) if math.isfinite(s)}}
            else:
                keys, n_keep = groups[int(what)]
                scores = []
                for key in keys:
                    ctl.off.add(key)
                    scores.append(self._mixed_acc(self.pt_val_batches))
                    ctl.off.discard(key)
                strength = [float(ctl.probabilities(k).numpy()[ctl.fixed[k]]) if k in ctl.fixed else 0.0 for k in keys]
                kept = [keys[i] for i in sorted(range(len(keys)), key=lambda i: (scores[i], -strength[i]))[:n_keep]]
                for key in keys:
                    if key not in kept:
                        ctl.off.add(key)
                info = {"phase": "select", "decision": "/".join(keys), "kept": "+".join(kept)}
            self._finetune()
            state["select_done"] += 1
            info.update(done=state["select_done"], total=len(order), seconds=time.perf_counter() - t0)
            progress(info)
            save()

    def _finetune(self) -> None:
        """``pt_tune_steps`` weight steps on training batches at ``pt_lr`` (architecture parameters fixed)."""
        if self.pt_tune_steps == 0:
            return
        t, sn = self.data, self.supernet
        sn.train()
        # tuned the way it was trained: the mixture, or (GDAS, ProxylessNAS) sampled paths
        sn.set_mixed(self.train_weighting, self.tau_min)
        gen = torch.Generator().manual_seed(self.seed * 7_919 + len(sn.controller.fixed) + len(sn.controller.off))
        n = len(t["y_train"])
        for g in self.w_opt.param_groups:
            g["lr"] = self.pt_lr
        for _ in range(self.pt_tune_steps):
            idx = torch.randint(n, (self.batch_size,), generator=gen).to(t["device"])
            loss = F.cross_entropy(sn(t["X_train"][idx]), t["y_train"][idx])
            self.w_opt.zero_grad(set_to_none=True)
            loss.backward(inputs=self.weights)
            torch.nn.utils.clip_grad_norm_(self.weights, self.grad_clip)
            self.w_opt.step()

    def _selected(self, state: dict[str, Any]) -> Architecture:
        """The magnitude rule, which keeps what DARTS-PT fixed and leaves out the edges it switched off."""
        return self.supernet.derive()

    # -- checkpoints -------------------------------------------------------------------------
    def _save(self, path: Path, state: dict[str, Any]) -> None:
        ctl = self.supernet.controller
        atomic_save(path, {"params": self.params(), "space": self.space.name, "space_params": self.space.get_params(),
                           "state": state, "supernet": self.supernet.state_dict(), "w_opt": self.w_opt.state_dict(),
                           "a_opt": self.a_opt.state_dict(), "gumbel": self.gumbel.get_state(),
                           "fixed": dict(ctl.fixed), "off": sorted(ctl.off)})

    def _load(self, path: Path) -> dict[str, Any]:
        blob = read_checkpoint(path, self.data["device"])
        if blob.get("params") != self.params() or blob.get("space") != self.space.name:
            raise ConfigError(f"checkpoint {path} was written by another search ({blob.get('params')} on space "
                              f"{blob.get('space')!r}); resume with the same options, or start a new one")
        self.supernet.load_state_dict(blob["supernet"])
        self.w_opt.load_state_dict(blob["w_opt"])
        self.a_opt.load_state_dict(blob["a_opt"])
        self.gumbel.set_state(blob["gumbel"])
        ctl = self.supernet.controller
        ctl.fixed, ctl.off = dict(blob["fixed"]), set(blob["off"])
        return blob["state"]


class DARTS(DifferentiableSearch):
    """DARTS with the first-order architecture gradient."""

    name = "darts"
    order = 1


class DARTS2(DifferentiableSearch):
    """DARTS with the second-order (unrolled) architecture gradient."""

    name = "darts2"
    order = 2


class GDAS(DifferentiableSearch):
    """GDAS: Gumbel-softmax sampling of one candidate per decision, temperature annealed."""

    name = "gdas"
    order = 1
    weighting_default = "gumbel"
    weightings = ("gumbel",)


class ProxylessNAS(DifferentiableSearch):
    """ProxylessNAS (Cai et al. 2019): path binarisation, so only sampled paths are held in memory.

    Weight steps train one path drawn from ``softmax(alpha)`` per decision; architecture steps draw two
    candidates per decision, one active, and follow the binary-gate gradient (both candidates' outputs
    are computed, the inactive one with gate 0), so memory grows with 2, not with the number of
    candidates. The architecture loss adds ``cost_weight`` times the expected cost (``cost="flops"``:
    the FLOPs of each candidate at its place, weighted by the probabilities and by the probability that
    the place is used at all, a block past a sampled stage depth) divided by its value at uniform
    probabilities; ``cost="latency"``: the same with each candidate's latency at its place from a lookup
    table (:class:`~nasforge.evaluators.hardware.models.LatencyTable`, settings in ``hardware_options``:
    ``backend``, ``threads``, ``batch_size``, ...), as in the paper; ``cost="none"`` drops it.
    ``cost="auto"`` (the default) is ``flops`` for supernets whose every candidate computes (MobileNet
    blocks) and ``none`` where some are parameter-free (skip, pooling, none in cells): there a FLOPs or
    latency term drives the search to the free operations (measured: an NB201 cell of pooling and skips).
    The architecture is chosen by the magnitude rule by default (``select="pt"`` scores candidates one
    path at a time, as for GDAS).
    """

    name = "proxyless"
    order = 1
    weighting_default = "binary"
    weightings = ("binary",)
    COSTS = ("auto", "flops", "latency", "none")

    def __init__(self, space: SearchSpace, task: Any, *, cost: str = "auto", cost_weight: float = 0.1,
                 select: str = "magnitude", hardware: Any = None, hardware_options: dict[str, Any] | None = None,
                 **options: Any) -> None:
        super().__init__(space, task, select=select, **options)
        self.cost = check_choice("cost", cost, self.COSTS)
        self.cost_weight = check_number("cost_weight", cost_weight, 0.0)
        self.hardware_options = dict(hardware_options or {})
        self.latency_table = latency_cost_table(self.cost, hardware, self.hardware_options, self.device, self.name)
        self._cost_table: list[tuple[str, torch.Tensor]] | None = None
        self._cost_ref = 1.0

    def params(self) -> dict[str, Any]:
        out = {**super().params(), "cost": self.cost, "cost_weight": self.cost_weight}
        if self.cost == "latency":  # only then: studies recorded before this cost resume unchanged
            out.update(hardware_options=self.hardware_options)
        return out

    @property
    def train_weighting(self) -> str:
        return "sample"

    @property
    def cost_used(self) -> str:
        """The cost term in use: ``cost``, with ``auto`` resolved on the supernet (needs it built)."""
        if self.cost != "auto":
            return self.cost
        return "none" if any(d.param_free for d in self.supernet.decisions) else "flops"

    def _set_mode(self, epoch: int) -> None:
        if self.cost_used != "none" and self._cost_table is None:
            self.candidate_costs()  # before any forward whose graph the table's own forward could disturb
        super()._set_mode(epoch)

    def candidate_costs(self) -> list[tuple[str, torch.Tensor]]:
        """Per choice op: its decision key and each candidate's cost at the input it receives (FLOPs, or
        milliseconds from the lookup table, profiled once per distinct operation and input shape)."""
        if self._cost_table is None:
            from nasforge.oneshot.supernet import ChoiceOp

            sn, shapes = self.supernet, {}

            def remember(name: str) -> Callable[..., None]:
                def hook(module: Any, inputs: Any) -> None:
                    shapes.setdefault(name, tuple(inputs[0].shape))
                return hook

            hooks = [m.register_forward_pre_hook(remember(name)) for name, m in sn.named_modules()
                     if isinstance(m, ChoiceOp)]
            saved = (sn.controller.weighting, sn.controller.tau)
            try:
                with bn_snapshot(sn), torch.no_grad():
                    sn.set_mixed("softmax")
                    sn.eval()
                    sn(self.data["X_train"][:1])
            finally:
                for h in hooks:
                    h.remove()
                sn.set_mixed(*saved)
                sn.train()
            table = []
            lut = self.latency_table if self.cost_used == "latency" else None
            for name, m in sn.named_modules():
                if isinstance(m, ChoiceOp) and name in shapes:
                    shape = tuple(shapes[name][1:])
                    if lut is None:
                        costs = [float(hardware.count_flops(op, shape)) for op in m.ops]
                    else:  # a copy: profiling puts a module in eval mode and runs it
                        costs = [lut.unit_latency(copy.deepcopy(op), shape) for op in m.ops]
                    table.append((m.key, torch.tensor(costs, device=self.data["device"])))
            self._cost_table = table
            with torch.no_grad():
                self._cost_ref = max(float(self.expected_cost(uniform=True)), 1.0)
        return self._cost_table

    def expected_cost(self, uniform: bool = False) -> torch.Tensor:
        """The expected cost (FLOPs or ms) of the choice ops under the current probabilities (differentiable)."""
        sn = self.supernet
        total = torch.zeros((), device=self.data["device"])
        for key, flops in self.candidate_costs():
            alpha = sn.alphas[sn.controller.index[key]]
            p = torch.full_like(alpha, 1.0 / len(alpha)) if uniform else torch.softmax(alpha, dim=-1)
            total = total + sn.usage_probability(key, uniform) * (p * flops).sum()
        return total

    def _extra_metrics(self, arch: Architecture) -> dict[str, Any]:
        out: dict[str, Any] = {"cost": self.cost_used}
        if self.cost_used == "flops":
            with torch.no_grad():
                out["expected_flops"] = float(self.expected_cost())
        elif self.cost_used == "latency":
            with torch.no_grad():
                out["expected_latency_ms"] = float(self.expected_cost())  # the choice ops' entries only
            # the derived network by the same table, calibrated on whole networks as `--hardware lut` is
            out["latency_ms"] = self.latency_table.latency(self.space, arch, self.task)
            out["hardware"] = self.latency_table.describe()
        return out

    def _arch_penalty(self) -> torch.Tensor | float:
        if self.cost_used == "none" or self.cost_weight == 0.0:
            return 0.0
        return self.cost_weight * self.expected_cost() / self._cost_ref
