"""Scoring an architecture by training it: the training evaluator.

:class:`TrainingEvaluator` builds ``space.build(arch, task)``, trains it on
the task's training split for ``epochs`` (the fidelity) with SGD or AdamW,
a cosine learning-rate schedule, weight decay and label smoothing, and
reports validation accuracy as the objective. Test accuracy is never looked
at during search; :func:`train_final` retrains a chosen architecture on
train+validation and reports it.

Each result also carries the training-loss curve, the parameter count,
FLOPs and measured latency on this machine (batch 1, median after warm-up),
all from :mod:`nasforge.evaluators.hardware`, and wall seconds (the cost). A trial
that diverges (non-finite loss), runs out of memory or passes its time limit
ends as failed with the reason.

Training is deterministic on the CPU for a seed: initialisation, batch order
and dropout all draw from generators seeded by ``seed``.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any, Mapping

import numpy as np

from nasforge.evaluators import hardware
from nasforge.evaluators.base import Capabilities, Evaluator, FidelityRange, check_buildable
from nasforge.evaluators.hardware import count_flops, count_params, resolve_device
from nasforge.evaluators.hardware.models import hardware_on
from nasforge.options import check_choice, check_int, check_number
from nasforge.results import Result
from nasforge.spaces.base import Architecture, SearchSpace

OPTIMIZERS = ("sgd", "adamw")
SCHEDULES = ("cosine", "constant")


class TrialFailure(RuntimeError):
    """Training stopped for a reason that makes the trial failed (divergence, time limit, memory)."""


@dataclass
class TrainOutcome:
    """What one training run produced."""

    model: Any
    loss_curve: list[float] = field(default_factory=list)
    seconds: float = 0.0
    epochs: int = 0


def task_tensors(task: Any, device: str = "auto") -> dict[str, Any]:
    """A task's splits as tensors on ``device`` (``auto``: CUDA when present): ``X_train``, ``y_train``,
    ``X_val``, ``y_val``, ``X_test``, ``y_test`` (float32 inputs, int64 labels) and ``device``."""
    import torch

    dev = resolve_device(device)

    def array(name: str) -> Any:
        a = getattr(task, name)
        # a read-only array (a task that came through Ray's object store) is copied: torch would share it
        return np.array(a) if isinstance(a, np.ndarray) and not a.flags.writeable else a

    return {
        "device": dev,
        **{f"X_{s}": torch.as_tensor(array(f"X_{s}"), dtype=torch.float32, device=dev)
           for s in ("train", "val", "test")},
        **{f"y_{s}": torch.as_tensor(array(f"y_{s}"), dtype=torch.long, device=dev)
           for s in ("train", "val", "test")},
    }


def accuracy(model: Any, X: Any, y: Any, batch_size: int = 512) -> float:
    """Top-1 accuracy (%) of ``model`` on tensors ``X``, ``y``, in eval mode."""
    import torch

    if len(y) == 0:
        return float("nan")
    was = model.training
    model.eval()
    correct = 0
    with torch.no_grad():
        for i in range(0, len(y), batch_size):
            correct += int((model(X[i:i + batch_size]).argmax(1) == y[i:i + batch_size]).sum())
    model.train(was)
    return 100.0 * correct / len(y)


class TrainingEvaluator(Evaluator):
    """Trains each architecture on a task and scores it by validation accuracy.

    Options (stored unchanged): ``epochs`` (the default fidelity), ``batch_size``,
    ``optimizer`` (sgd with Nesterov momentum 0.9, or adamw), ``lr``,
    ``weight_decay``, ``label_smoothing``, ``schedule`` (cosine or constant),
    ``seed``, ``device`` (``auto`` picks CUDA when present), ``time_limit``
    (seconds per trial, None for none), ``measure_latency``, ``threads`` (torch threads
    while training and evaluating; None keeps torch's setting, which in a worker process
    of a :class:`~nasforge.executors.ProcessExecutor` is already cores / workers).

    Latency (``latency_ms``, when ``measure_latency``) comes from the hardware model
    ``hardware`` (:mod:`nasforge.evaluators.hardware.models`: ``measured``, the default,
    ``lut`` or ``predictor``, with ``hardware_options`` such as ``backend``, ``threads``,
    ``batch_size``; or a :class:`~nasforge.evaluators.hardware.models.HardwareModel`). By
    default it is measured with eager PyTorch at batch 1 on one thread on the training
    device, so it does not depend on what else the machine does with its other cores,
    and cached per architecture.
    """

    objective = "val_acc"
    report = "val_acc"
    provides_cost = True

    def __init__(self, task: Any, space: SearchSpace, epochs: int = 10, batch_size: int = 64,
                 optimizer: str = "sgd", lr: float = 0.05, weight_decay: float = 5e-4,
                 label_smoothing: float = 0.0, schedule: str = "cosine", seed: int = 0, device: str = "auto",
                 time_limit: float | None = None, measure_latency: bool = True, threads: int | None = None,
                 hardware: Any = "measured", hardware_options: Mapping[str, Any] | None = None) -> None:
        self.task, self.space = task, space
        self.epochs, self.batch_size, self.optimizer, self.lr = epochs, batch_size, optimizer, lr
        self.weight_decay, self.label_smoothing, self.schedule, self.seed = weight_decay, label_smoothing, schedule, seed
        self.device, self.time_limit, self.measure_latency = device, time_limit, measure_latency
        self.threads = threads
        self.hardware_options = dict(hardware_options or {})
        self._validate()
        self._tensors: dict[str, Any] | None = None
        # the default is left out of describe(), so studies recorded before hardware models resume unchanged
        self._default_hw = isinstance(hardware, str) and hardware == "measured" and not self.hardware_options
        self.hardware = hardware_on(hardware, self.hardware_options, device)

    def _validate(self) -> None:
        check_int("epochs", self.epochs, minimum=1)
        check_int("batch_size", self.batch_size, minimum=1)
        check_choice("optimizer", self.optimizer, OPTIMIZERS)
        check_choice("schedule", self.schedule, SCHEDULES)
        check_number("lr", self.lr, 0.0, low_open=True)
        check_number("weight_decay", self.weight_decay, 0.0)
        check_number("label_smoothing", self.label_smoothing, 0.0, 1.0, high_open=True)
        if self.time_limit is not None:
            check_number("time_limit", self.time_limit, 0.0, low_open=True, extra=" (seconds) or None")
        check_int("seed", self.seed, minimum=0)
        if self.threads is not None:
            check_int("threads", self.threads, minimum=1)
        resolve_device(self.device)

    def capabilities(self) -> Capabilities:
        """Fidelity: epochs from 1 to ``epochs``; cost: wall seconds; every scalar metric of a complete result."""
        metrics = ("val_acc", "train_loss", "params", "flops", "epochs", "train_seconds")
        if self.measure_latency:
            metrics += ("latency_ms",)
        return Capabilities(FidelityRange("epochs", 1, self.epochs, default=self.epochs, integer=True),
                            reports_cost=True, metrics=metrics + ("wall_seconds",))

    def prepare(self) -> None:
        """Build one sampled architecture, so a space that cannot serve this task fails before any trial;
        then let the hardware model prepare (a lookup table profiles, a predictor adapts)."""
        check_buildable(self.space, lambda arch: self.space.build(arch, self.task))
        if self.measure_latency:
            self.hardware.prepare(self.space, self.task)

    def describe(self) -> dict[str, Any]:
        return {"evaluator": "training", "task": self.task.name, "space_params": self.space.get_params(),
                "epochs": self.epochs, "batch_size": self.batch_size, "optimizer": self.optimizer, "lr": self.lr,
                "weight_decay": self.weight_decay, "label_smoothing": self.label_smoothing,
                "schedule": self.schedule, "seed": self.seed, "objective": self.objective, "report": self.report,
                **({"hardware": self.hardware.describe()} if self.measure_latency and not self._default_hw else {})}

    # -- data ---------------------------------------------------------------------
    def tensors(self) -> dict[str, Any]:
        """The task's splits as tensors on the device (made once per process)."""
        if self._tensors is None:
            self._tensors = task_tensors(self.task, self.device)
        return self._tensors

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["_tensors"] = None  # tensors are rebuilt in each worker process
        return state

    # -- training -----------------------------------------------------------------
    def fit(self, arch: Architecture, X: Any, y: Any, epochs: int, deadline: float | None = None) -> TrainOutcome:
        """Build ``arch`` and train it on tensors ``X``, ``y`` for ``epochs``; raises TrialFailure."""
        import torch
        import torch.nn.functional as F

        dev = self.tensors()["device"]
        torch.manual_seed(self.seed)
        model = self.space.build(arch, self.task).to(dev)
        model.train()
        if self.optimizer == "sgd":
            opt: Any = torch.optim.SGD(model.parameters(), lr=self.lr, momentum=0.9, nesterov=True,
                                       weight_decay=self.weight_decay)
        else:
            opt = torch.optim.AdamW(model.parameters(), lr=self.lr, weight_decay=self.weight_decay)
        n = len(y)
        steps_per_epoch = max(1, math.ceil(n / self.batch_size))
        total = epochs * steps_per_epoch
        sched = (torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=total) if self.schedule == "cosine"
                 else None)
        gen = torch.Generator().manual_seed(self.seed)
        curve: list[float] = []
        t0 = time.perf_counter()
        for epoch in range(epochs):
            perm = torch.randperm(n, generator=gen).to(dev)
            running, seen = 0.0, 0
            for step in range(steps_per_epoch):
                idx = perm[step * self.batch_size:(step + 1) * self.batch_size]
                if len(idx) < 2 and n >= 2:  # BatchNorm cannot train on a trailing batch of one: skip it
                    continue
                out = model(X[idx])
                loss = F.cross_entropy(out, y[idx], label_smoothing=float(self.label_smoothing))
                if not torch.isfinite(loss):
                    raise TrialFailure(f"diverged: training loss is {loss.item()} at epoch {epoch + 1}, "
                                       f"step {step + 1}")
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                if sched is not None:
                    sched.step()
                running += float(loss.detach()) * len(idx)
                seen += len(idx)
                if deadline is not None and time.perf_counter() > deadline:
                    raise TrialFailure(f"time limit of {self.time_limit} s exceeded at epoch {epoch + 1}")
            curve.append(running / max(seen, 1))
        return TrainOutcome(model, curve, time.perf_counter() - t0, epochs)

    def evaluate(self, arch: Architecture, fidelity: float | None = None) -> Result:
        with hardware.torch_threads(self.threads):
            return self._evaluate(arch, fidelity)

    def _evaluate(self, arch: Architecture, fidelity: float | None = None) -> Result:
        epochs = int(fidelity) if fidelity is not None else int(self.epochs)
        if epochs < 1:
            raise ValueError(f"fidelity (epochs) must be >= 1, got {fidelity!r}")
        t = self.tensors()
        start = time.perf_counter()
        deadline = None if self.time_limit is None else start + float(self.time_limit)
        try:
            outcome = self.fit(arch, t["X_train"], t["y_train"], epochs, deadline)
        except TrialFailure as exc:
            return Result.failure(str(exc), cost=time.perf_counter() - start)
        except RuntimeError as exc:
            if "out of memory" in str(exc).lower():
                return Result.failure(f"out of memory: {exc}", cost=time.perf_counter() - start)
            raise
        model = outcome.model
        val = accuracy(model, t["X_val"], t["y_val"])
        metrics: dict[str, Any] = {
            "val_acc": val,
            "train_loss": outcome.loss_curve[-1],
            "train_loss_curve": outcome.loss_curve,
            "params": count_params(model),
            "flops": count_flops(model, self.task.input_shape),
            "epochs": epochs,
            "train_seconds": outcome.seconds,
        }
        if self.measure_latency:
            metrics["latency_ms"] = self.hardware.latency(self.space, arch, self.task, model)
        metrics["wall_seconds"] = time.perf_counter() - start
        return Result(metrics=metrics, value=val, cost=metrics["wall_seconds"], fidelity=float(epochs))


def train_final(evaluator: TrainingEvaluator, arch: Architecture, epochs: int | None = None) -> tuple[Any, dict[str, Any]]:
    """Retrain ``arch`` on train+validation for ``epochs`` and measure test accuracy.

    Returns the trained model and its metrics (test accuracy, loss curve, params, FLOPs, latency).
    """
    import torch

    t = evaluator.tensors()
    X = torch.cat([t["X_train"], t["X_val"]])
    y = torch.cat([t["y_train"], t["y_val"]])
    ep = int(epochs or evaluator.epochs)
    with hardware.torch_threads(evaluator.threads):
        outcome = evaluator.fit(arch, X, y, ep)
    model = outcome.model
    metrics = {
        "test_acc": accuracy(model, t["X_test"], t["y_test"]),
        "train_loss_curve": outcome.loss_curve,
        "params": count_params(model),
        "flops": count_flops(model, evaluator.task.input_shape),
        "latency_ms": evaluator.hardware.latency(evaluator.space, arch, evaluator.task, model),
        "epochs": ep,
        "train_seconds": outcome.seconds,
    }
    return model, metrics
