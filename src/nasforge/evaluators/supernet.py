"""A trained supernet as an evaluator: sub-networks scored by validation accuracy with inherited weights.

``SupernetEvaluator(path)`` reads a supernet saved by ``nasforge oneshot
--method spos|fewshot|bignas`` (``supernet.pt``, see
:mod:`nasforge.oneshot.spos`). For each architecture it selects the path in
the (sub-)supernet that holds it, re-estimates BatchNorm statistics on a few
training batches (as the supernet was saved) and reports:

* ``val_acc``: validation accuracy (%) with the inherited weights (the objective);
* ``params`` and ``flops``: of the stand-alone network (``space.build``), for
  objectives and constraints (``params<=20000``);
* ``member``: which sub-supernet scored it (0 for a single supernet);
* ``latency_ms``, with a hardware model (``hardware="measured"``, ``"lut"`` or
  ``"predictor"`` with ``hardware_options``, or a
  :class:`~nasforge.evaluators.hardware.models.HardwareModel`): the stand-alone
  network's latency, as the training evaluator reports it (docs/hardware.md), so
  a search can be constrained by it (``latency_ms<=2``). None (the default): no
  latency, and nothing is measured.

The cost is the measured seconds of scoring. It is picklable (the file is
read again in each worker process), so searches with ``workers > 1`` work.
torch is imported only when the supernet is loaded.
"""

from __future__ import annotations

import os
import time
from typing import Any, Mapping

from nasforge.evaluators.base import Capabilities, Evaluator
from nasforge.evaluators.hardware import count_flops, count_params, torch_threads
from nasforge.evaluators.hardware.models import check_hardware, hardware_on
from nasforge.options import check_int
from nasforge.results import Result
from nasforge.spaces.base import Architecture

__all__ = ["SupernetEvaluator"]


class SupernetEvaluator(Evaluator):
    """Scores sub-networks of a trained supernet (a ``supernet.pt`` path, or a ``TrainedSupernet``)."""

    objective = "val_acc"
    report = "val_acc"
    provides_cost = True

    def __init__(self, supernet: str | os.PathLike[str] | Any, *, task: Any = None, device: str = "cpu",
                 threads: int | None = None, hardware: Any = None,
                 hardware_options: Mapping[str, Any] | None = None) -> None:
        self.threads = None if threads is None else check_int("threads", threads, minimum=1)
        self.device = device
        check_hardware(hardware, hardware_options)
        self.hardware = None if hardware is None else hardware_on(hardware, hardware_options, device)
        if isinstance(supernet, (str, os.PathLike)):
            from nasforge.oneshot.spos import load_supernet

            self.path: str | None = str(supernet)
            self._trained = load_supernet(self.path, task=task, device=device)
        else:
            self.path = supernet.path
            self._trained = supernet
        self.space = self._trained.space
        self.task = self._trained.task

    @property
    def trained(self) -> Any:
        return self._trained

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        if self.path is not None:  # a worker reads the file again rather than receiving the weights pickled
            state["_trained"] = None
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        if self._trained is None:
            from nasforge.oneshot.spos import load_supernet

            self._trained = load_supernet(self.path, device=self.device)  # type: ignore[arg-type]

    def capabilities(self) -> Capabilities:
        metrics = ("val_acc", "params", "flops", "member") + (("latency_ms",) if self.hardware is not None else ())
        return Capabilities(fidelity=None, reports_cost=True, metrics=metrics)

    def prepare(self) -> None:
        """Let the hardware model prepare, once, before any trial (a lookup table profiles, a predictor adapts)."""
        if self.hardware is not None:
            with torch_threads(self.threads):
                self.hardware.prepare(self.space, self.task)

    def describe(self) -> dict[str, Any]:
        t = self._trained
        return {"evaluator": "supernet", "supernet": self.path, "method": t.method, "members": len(t),
                "task": self.task.name, "space_params": self.space.get_params(),
                "recalibrate_bn": t.recalibrate, "calib_batches": t.calib_batches,
                **({"hardware": self.hardware.describe()} if self.hardware is not None else {})}

    def evaluate(self, arch: Architecture, fidelity: float | None = None) -> Result:
        start = time.perf_counter()
        with torch_threads(self.threads):
            t = self._trained
            member = t.member_of(arch)
            val = t.score(arch)
            net = self.space.build(arch, self.task)
            metrics = {"val_acc": val, "params": count_params(net),
                       "flops": count_flops(net, tuple(self.task.input_shape)), "member": member}
            if self.hardware is not None:
                metrics["latency_ms"] = self.hardware.latency(self.space, arch, self.task, net)
        return Result(metrics=metrics, value=val, cost=time.perf_counter() - start)
