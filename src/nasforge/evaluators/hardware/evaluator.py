"""An evaluator reporting hardware metrics (parameters, FLOPs, latency) of architectures without training."""

from __future__ import annotations

from typing import Any, Mapping, Sequence

from nasforge.errors import ConfigError
from nasforge.evaluators.base import Capabilities, Evaluator, check_buildable
from nasforge.evaluators.hardware.measure import count_flops, count_params, resolve_device
from nasforge.evaluators.hardware.models import HardwareModel, MeasuredLatency, build_network, make_hardware
from nasforge.options import check_int
from nasforge.results import Result
from nasforge.spaces.base import Architecture, SearchSpace

#: the metrics :class:`HardwareEvaluator` can report
HARDWARE_METRICS = ("params", "flops", "latency_ms", "latency_iqr_ms")


class HardwareEvaluator(Evaluator):
    """Reports hardware metrics of an architecture's network without training it.

    Builds ``space.build(arch, task)`` for a task of ``input_shape`` and ``num_classes``
    (initialised with ``seed``) and reports ``metrics`` (a subset of
    :data:`HARDWARE_METRICS`, or a comma-separated string). The first metric is the evaluator's ``objective``; as every
    one of them is better smaller, give the study ``objectives="params:min"`` (or use them
    as constraints beside another evaluator's objective). No cost is reported.

    ``latency_ms`` comes from the hardware model ``hardware`` (``measured``, ``lut`` or
    ``predictor``, with ``hardware_options``, or a :class:`HardwareModel`); the measurement options
    ``batch_size``, ``warmup``, ``repeats``, ``threads``, ``device`` (and ``backend``) are passed to it.
    ``latency_iqr_ms`` (the spread of a measurement) needs ``hardware="measured"``.
    """

    def __init__(self, space: SearchSpace, input_shape: Sequence[int], num_classes: int,
                 metrics: Sequence[str] = ("params", "flops", "latency_ms"), batch_size: int = 1,
                 warmup: int = 5, repeats: int = 20, threads: int | None = None, device: str = "cpu",
                 seed: int = 0, hardware: str | HardwareModel = "measured", backend: str = "torch",
                 hardware_options: Mapping[str, Any] | None = None) -> None:
        self.space, self.input_shape, self.num_classes, self.metrics = space, input_shape, num_classes, metrics
        self.batch_size, self.warmup, self.repeats, self.threads = batch_size, warmup, repeats, threads
        self.device, self.seed, self.backend = device, seed, backend
        self.hardware_options = dict(hardware_options or {})
        self._validate()
        # the default is left out of describe(), so studies recorded before hardware models resume unchanged
        self._default_hw = hardware == "measured" and backend == "torch" and not self.hardware_options
        if isinstance(hardware, HardwareModel):
            self.hardware = make_hardware(hardware)
        else:
            import torch

            opts = {"backend": backend, "batch_size": batch_size, "warmup": warmup, "repeats": repeats,
                    "threads": threads or torch.get_num_threads(), "device": str(resolve_device(device)),
                    **self.hardware_options}
            self.hardware = make_hardware(hardware, opts)
        if "latency_iqr_ms" in self._names and not isinstance(self.hardware, MeasuredLatency):
            raise ConfigError(f"HardwareEvaluator: latency_iqr_ms is the spread of a measurement; hardware model "
                              f"{self.hardware.name!r} estimates latency (use hardware='measured')")

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
        from nasforge.data.task import Task

        return Task.shape_only("hardware", self.input_shape, self.num_classes)

    def build(self, arch: Architecture) -> Any:
        """The network of ``arch`` (seeded initialisation; the weights do not change the metrics)."""
        return build_network(self.space, arch, self._task(), self.seed)

    def prepare(self) -> None:
        """Build one sampled architecture, so a space that cannot serve this input fails before any trial;
        then let the hardware model prepare (a lookup table profiles, a predictor adapts)."""
        check_buildable(self.space, self.build)
        if "latency_ms" in self._names:
            self.hardware.prepare(self.space, self._task())

    def evaluate(self, arch: Architecture, fidelity: float | None = None) -> Result:
        model = self.build(arch)
        shape = tuple(int(d) for d in self.input_shape)
        wanted = self._names
        out: dict[str, Any] = {}
        if "params" in wanted:
            out["params"] = count_params(model)
        if "flops" in wanted:
            out["flops"] = count_flops(model, shape)
        if "latency_iqr_ms" in wanted:
            assert isinstance(self.hardware, MeasuredLatency)
            out.update(self.hardware.measurement(self.space, arch, self._task(), model).metrics())
        elif "latency_ms" in wanted:
            out["latency_ms"] = self.hardware.latency(self.space, arch, self._task(), model)
        metrics = {m: out[m] for m in wanted}
        return Result(metrics=metrics, value=float(metrics[self.objective]), cost=0.0)

    def describe(self) -> dict[str, Any]:
        return {"evaluator": "hardware", "space_params": self.space.get_params(),
                "input_shape": [int(d) for d in self.input_shape], "num_classes": int(self.num_classes),
                "metrics": list(self._names), "batch_size": self.batch_size, "warmup": self.warmup,
                "repeats": self.repeats, "threads": self.threads, "device": self.device, "seed": self.seed,
                **({} if self._default_hw else {"hardware": self.hardware.describe()}),
                "objective": self.objective, "report": self.report}


