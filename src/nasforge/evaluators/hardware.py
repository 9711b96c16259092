"""Hardware measurements of a network: parameters, FLOPs, latency; and an evaluator reporting them.

The functions work on any built ``torch.nn.Module`` (``space.build(arch, task)``
or a model of your own) and are what every other part of nasforge calls: the
training evaluator reports them beside accuracy, the ``params`` and ``flops``
zero-cost proxies are these counts, and :class:`HardwareEvaluator` reports them
without training so a study can use them as objectives or constraints
(``objectives="val_acc:max,latency_ms:min"`` with a training evaluator, or
``constraints="params <= 1e5"``).

- :func:`count_params`: trainable and frozen parameters.
- :func:`count_flops`: FLOPs of one forward pass on one input, counted by torch's
  own ``torch.utils.flop_counter.FlopCounterMode`` (a multiply-add is 2 FLOPs).
- :func:`measure_latency`: forward passes in eval mode after warm-up, timed one by
  one; the median and interquartile range in milliseconds
  (:class:`LatencyMeasurement`), with the thread count set for the measurement
  and restored afterwards. Wall-clock latency depends on this machine and its load:
  compare figures measured on the same machine with the same ``threads``.

Where later hardware models go (one function or class each, in this module or a
``hardware/`` package when it grows): latency measured with ONNX Runtime (export
with :mod:`nasforge.export`, then time ``InferenceSession.run`` the same way as
:func:`measure_latency`, returning a :class:`LatencyMeasurement`); latency lookup
tables (per-operation latencies summed over an architecture's layout, as in
MnasNet/FBNet), and learned latency predictors (HELP). Those see (architecture,
layout, input shape) rather than a built network; each becomes a metric name that
:class:`HardwareEvaluator` can report (add it to :data:`HARDWARE_METRICS`) and a
``hardware models`` registry entry.
"""

from __future__ import annotations

import time
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Iterator, Sequence

import numpy as np

from nasforge.errors import ConfigError
from nasforge.evaluators.base import Capabilities, Evaluator
from nasforge.options import check_int
from nasforge.results import Result
from nasforge.spaces.base import Architecture, SearchSpace

#: the metrics :class:`HardwareEvaluator` can report
HARDWARE_METRICS = ("params", "flops", "latency_ms", "latency_iqr_ms")


def resolve_device(device: Any) -> Any:
    """``auto`` picks CUDA when available, else the CPU; otherwise a torch device (or its name).
    An unknown name, or CUDA where there is none, raises :class:`~nasforge.errors.ConfigError`."""
    import torch

    if isinstance(device, torch.device):
        dev = device
    elif device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    else:
        try:
            dev = torch.device(device)
        except (RuntimeError, TypeError) as exc:
            raise ConfigError(f"unknown device {device!r}; accepted: auto, cpu, cuda, cuda:N") from exc
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"device {device!r} asked for, but CUDA is not available here; use auto or cpu")
    return dev


def _model_device(model: Any) -> Any:
    import torch

    p = next(model.parameters(), None)
    return p.device if p is not None else torch.device("cpu")


@contextmanager
def torch_threads(threads: int | None) -> Iterator[None]:
    """Run the block with torch limited to ``threads`` threads (None: unchanged), then restore the count."""
    if threads is None:
        yield
        return
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(check_int("threads", threads, minimum=1))
    try:
        yield
    finally:
        torch.set_num_threads(before)


def count_params(model: Any) -> int:
    """Number of parameters of ``model`` (trainable or not)."""
    return int(sum(p.numel() for p in model.parameters()))


def count_flops(model: Any, input_shape: Sequence[int]) -> int:
    """FLOPs of one forward pass on a single input of ``input_shape`` (without the batch dimension),
    in eval mode, counted by torch's ``FlopCounterMode`` (multiply-add = 2 FLOPs)."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    dev = _model_device(model)
    was = model.training
    model.eval()
    try:
        with torch.no_grad(), FlopCounterMode(display=False) as counter:
            model(torch.zeros((1, *input_shape), device=dev))
    finally:
        model.train(was)
    return int(counter.get_total_flops())


@dataclass(frozen=True)
class LatencyMeasurement:
    """One latency measurement: median and interquartile range (75th - 25th percentile) of
    ``repeats`` timed forward passes of a batch of ``batch_size``, in milliseconds, on
    ``device`` with ``threads`` torch threads, after ``warmup`` untimed passes."""

    median_ms: float
    iqr_ms: float
    repeats: int
    warmup: int
    batch_size: int
    threads: int
    device: str

    def metrics(self) -> dict[str, float]:
        """``latency_ms`` and ``latency_iqr_ms``, as evaluators report them."""
        return {"latency_ms": self.median_ms, "latency_iqr_ms": self.iqr_ms}


def measure_latency(model: Any, input_shape: Sequence[int], batch_size: int = 1, warmup: int = 5,
                    repeats: int = 20, threads: int | None = None, device: Any = "cpu") -> LatencyMeasurement:
    """Time forward passes of ``model`` in eval mode on ``device`` (see :class:`LatencyMeasurement`).

    ``threads`` sets torch's thread count for the measurement (None keeps the current
    one) and is restored afterwards; the model is moved to ``device`` for the measurement
    and back afterwards, and its train/eval mode is restored.
    """
    import torch

    batch_size = check_int("batch_size", batch_size, minimum=1)
    warmup = check_int("warmup", warmup, minimum=0)
    repeats = check_int("repeats", repeats, minimum=1)
    dev = resolve_device(device)
    home = _model_device(model)
    was = model.training
    times = []
    with torch_threads(threads):
        used_threads = torch.get_num_threads()
        model.to(dev)
        model.eval()
        try:
            x = torch.zeros((batch_size, *input_shape), device=dev)
            with torch.no_grad():
                for i in range(warmup + repeats):
                    if dev.type == "cuda":
                        torch.cuda.synchronize(dev)
                    t0 = time.perf_counter()
                    model(x)
                    if dev.type == "cuda":
                        torch.cuda.synchronize(dev)
                    if i >= warmup:
                        times.append(time.perf_counter() - t0)
        finally:
            model.train(was)
            if dev != home:
                model.to(home)
    ms = np.asarray(times) * 1e3
    q25, q50, q75 = np.percentile(ms, [25, 50, 75])
    return LatencyMeasurement(float(q50), float(q75 - q25), repeats, warmup, batch_size, used_threads, str(dev))


class HardwareEvaluator(Evaluator):
    """Reports hardware metrics of an architecture's network without training it.

    Builds ``space.build(arch, task)`` for a task of ``input_shape`` and ``num_classes``
    (initialised with ``seed``) and reports ``metrics`` (a subset of
    :data:`HARDWARE_METRICS`, or a comma-separated string). The first metric is the evaluator's ``objective``; as every
    one of them is better smaller, give the study ``objectives="params:min"`` (or use them
    as constraints beside another evaluator's objective). No cost is reported. Latency
    options: ``batch_size``, ``warmup``, ``repeats``, ``threads``, ``device``.
    """

    def __init__(self, space: SearchSpace, input_shape: Sequence[int], num_classes: int,
                 metrics: Sequence[str] = ("params", "flops", "latency_ms"), batch_size: int = 1,
                 warmup: int = 5, repeats: int = 20, threads: int | None = None, device: str = "cpu",
                 seed: int = 0) -> None:
        self.space, self.input_shape, self.num_classes, self.metrics = space, input_shape, num_classes, metrics
        self.batch_size, self.warmup, self.repeats, self.threads = batch_size, warmup, repeats, threads
        self.device, self.seed = device, seed
        self._validate()

    def _validate(self) -> None:
        who = "HardwareEvaluator"
        m = self.metrics
        names = tuple(x.strip() for x in m.split(",") if x.strip()) if isinstance(m, str) else tuple(m)
        bad = [m for m in names if m not in HARDWARE_METRICS]
        if bad or not names:
            raise ConfigError(f"{who}: unknown metric(s) {bad or list(names)}; accepted: "
                              f"{', '.join(HARDWARE_METRICS)}")
        shape = tuple(self.input_shape)
        if not shape:
            raise ConfigError(f"{who}: input_shape must hold at least one dimension, got {self.input_shape!r}")
        for d in shape:
            check_int("input_shape dimension", d, minimum=1, who=who)
        check_int("num_classes", self.num_classes, minimum=1, who=who)
        check_int("batch_size", self.batch_size, minimum=1, who=who)
        check_int("warmup", self.warmup, minimum=0, who=who)
        check_int("repeats", self.repeats, minimum=1, who=who)
        if self.threads is not None:
            check_int("threads", self.threads, minimum=1, who=who)
        check_int("seed", self.seed, minimum=0, who=who)
        resolve_device(self.device)
        self._names = names

    @property
    def objective(self) -> str:  # type: ignore[override]
        return self._names[0]

    @property
    def report(self) -> str:  # type: ignore[override]
        return self.objective

    def capabilities(self) -> Capabilities:
        return Capabilities(fidelity=None, reports_cost=False, metrics=self._names)

    def _task(self) -> Any:
        from types import SimpleNamespace

        shape = tuple(int(d) for d in self.input_shape)
        return SimpleNamespace(name="hardware", input_shape=shape, num_classes=int(self.num_classes),
                               kind="image" if len(shape) == 3 else "tabular")

    def build(self, arch: Architecture) -> Any:
        """The network of ``arch`` (seeded initialisation; the weights do not change the metrics)."""
        import torch

        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(self.seed)
            return self.space.build(arch, self._task())

    def prepare(self) -> None:
        """Build one sampled architecture, so a space that cannot serve this input fails before any trial."""
        self.build(self.space.sample(np.random.default_rng(0)))

    def evaluate(self, arch: Architecture, fidelity: float | None = None) -> Result:
        model = self.build(arch)
        shape = tuple(int(d) for d in self.input_shape)
        wanted = self._names
        out: dict[str, Any] = {}
        if "params" in wanted:
            out["params"] = count_params(model)
        if "flops" in wanted:
            out["flops"] = count_flops(model, shape)
        if "latency_ms" in wanted or "latency_iqr_ms" in wanted:
            lat = measure_latency(model, shape, batch_size=self.batch_size, warmup=self.warmup,
                                  repeats=self.repeats, threads=self.threads, device=self.device)
            out.update({k: v for k, v in lat.metrics().items() if k in wanted})
        metrics = {m: out[m] for m in wanted}
        return Result(metrics=metrics, value=float(metrics[self.objective]), cost=0.0)

    def describe(self) -> dict[str, Any]:
        return {"evaluator": "hardware", "space_params": self.space.get_params(),
                "input_shape": [int(d) for d in self.input_shape], "num_classes": int(self.num_classes),
                "metrics": list(self._names), "batch_size": self.batch_size, "warmup": self.warmup,
                "repeats": self.repeats, "threads": self.threads, "device": self.device, "seed": self.seed,
                "objective": self.objective, "report": self.report}


__all__ = ["HARDWARE_METRICS", "LatencyMeasurement", "HardwareEvaluator", "count_params", "count_flops",
           "measure_latency", "resolve_device", "torch_threads"]
