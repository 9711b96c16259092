"""Hardware: counts and measurements of networks, hardware models of latency, and an evaluator reporting them.

- :mod:`~nasforge.evaluators.hardware.measure`: :func:`count_params`, :func:`count_flops`,
  :func:`measure_latency` (PyTorch eager or ONNX Runtime, float or int8, with a stability
  check) and the persistent :class:`LatencyCache`.
- :mod:`~nasforge.evaluators.hardware.models`: hardware models (registry ``HARDWARE``):
  ``measured`` (:class:`MeasuredLatency`), ``lut`` (:class:`LatencyTable`, a per-operation
  lookup table) and ``predictor`` (a HELP-style latency predictor,
  :mod:`~nasforge.evaluators.hardware.predictor`), chosen with ``--hardware``.
- :mod:`~nasforge.evaluators.hardware.evaluator`: :class:`HardwareEvaluator`, reporting
  parameters, FLOPs and latency without training.
"""

from nasforge.evaluators.hardware.evaluator import HARDWARE_METRICS, HardwareEvaluator
from nasforge.evaluators.hardware.measure import (BACKENDS, LatencyCache, LatencyMeasurement, check_backend,
                                                  count_flops, count_params, default_cache_dir, machine_id,
                                                  measure_latency, onnx_session, resolve_device, torch_threads)
from nasforge.evaluators.hardware.models import (HardwareModel, LatencyTable, MeasuredLatency, arch_key,
                                                 build_network, hardware_on, lookup_table, make_hardware,
                                                 trace_units, unit_signature)

__all__ = ["BACKENDS", "HARDWARE_METRICS", "HardwareEvaluator", "HardwareModel", "LatencyCache", "LatencyMeasurement",
           "LatencyTable", "MeasuredLatency", "arch_key", "build_network", "check_backend", "count_flops",
           "count_params", "default_cache_dir", "hardware_on", "lookup_table", "machine_id", "make_hardware", "measure_latency", "onnx_session",
           "resolve_device", "torch_threads", "trace_units", "unit_signature"]
