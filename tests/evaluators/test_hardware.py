"""Hardware measurements (params, FLOPs, latency) on built networks, and the evaluator reporting them."""

from __future__ import annotations

import dataclasses

import pytest
import torch
import torch.nn as nn

import nasforge.evaluators.zero_cost as zc
from nasforge.errors import ConfigError
from nasforge.evaluators.hardware import (HARDWARE_METRICS, HardwareEvaluator, LatencyMeasurement, count_flops,
                                          count_params, measure_latency, torch_threads)
from nasforge.registry import create_strategy
from nasforge.study import Study
from nasforge.testing import TinyTrainableSpace


def net() -> nn.Module:
    return nn.Sequential(nn.Flatten(), nn.Linear(6, 8), nn.ReLU(), nn.Linear(8, 3))


def test_counts_on_known_networks():
    assert count_params(net()) == 6 * 8 + 8 + 8 * 3 + 3
    assert count_flops(net(), (6,)) == 2 * (6 * 8 + 8 * 3)
    conv = nn.Conv2d(1, 4, 3, padding=1)
    assert count_flops(conv, (1, 5, 5)) == 2 * 4 * 25 * 9
    m = net().train()
    count_flops(m, (6,))
    assert m.training  # the mode is restored


def test_zero_cost_params_and_flops_are_the_hardware_counts():
    m, x = net(), torch.randn(5, 6)
    y = torch.zeros(5, dtype=torch.long)
    assert zc.params(m, x, y) == count_params(m) and zc.flops(m, x, y) == count_flops(m, (6,))


def test_latency_measurement_restores_threads_and_mode():
    m = net().train()
    before = torch.get_num_threads()
    lat = measure_latency(m, (6,), batch_size=4, warmup=1, repeats=7, threads=1)
    assert isinstance(lat, LatencyMeasurement)
    assert lat.median_ms > 0 and lat.iqr_ms >= 0 and lat.repeats == 7 and lat.warmup == 1
    assert lat.batch_size == 4 and lat.threads == 1 and lat.device == "cpu"
    assert lat.metrics() == {"latency_ms": lat.median_ms, "latency_iqr_ms": lat.iqr_ms}
    assert torch.get_num_threads() == before and m.training
    with pytest.raises(dataclasses.FrozenInstanceError):
        lat.median_ms = 0.0  # type: ignore[misc]
    assert measure_latency(m, (6,), warmup=0, repeats=1).threads == before


@pytest.mark.parametrize("kwargs,match", [
    ({"repeats": 0}, "repeats must be an integer >= 1, got 0"),
    ({"warmup": -1}, "warmup must be an integer >= 0"),
    ({"batch_size": 0}, "batch_size must be an integer >= 1"),
    ({"threads": 0}, "threads must be an integer >= 1"),
    ({"device": "tpu"}, "unknown device 'tpu'"),
])
def test_latency_options(kwargs, match):
    with pytest.raises(ConfigError, match=match):
        measure_latency(net(), (6,), **kwargs)


def test_torch_threads_restores_after_an_error():
    before = torch.get_num_threads()
    with pytest.raises(KeyError):
        with torch_threads(1):
            assert torch.get_num_threads() == 1
            raise KeyError("x")
    assert torch.get_num_threads() == before


def test_hardware_evaluator_reports_what_it_declares():
    sp = TinyTrainableSpace()
    ev = HardwareEvaluator(sp, (6,), 3, metrics=HARDWARE_METRICS, repeats=3, warmup=1, threads=1)
    caps = ev.capabilities()
    assert caps.metrics == HARDWARE_METRICS and caps.fidelity is None and not caps.reports_cost
    a = sp.make({"width": 32, "act": "tanh"})
    r = ev.evaluate(a)
    assert r.ok and set(r.metrics) == set(caps.metrics) and r.cost == 0.0
    model = sp.build(a, ev._task())
    assert r.metrics["params"] == count_params(model) == r.value and r.metrics["flops"] == count_flops(model, (6,))
    assert r.metrics["latency_ms"] > 0 and ev.objective == "params"
    assert ev.describe()["metrics"] == list(HARDWARE_METRICS)


def test_a_study_uses_hardware_metrics_as_objectives_and_constraints():
    sp = TinyTrainableSpace()
    ev = HardwareEvaluator(sp, (6,), 3, metrics="params,flops")
    st = Study(sp, create_strategy("random", sp, seed=0, replace=False), ev, objectives="flops:max",
               constraints="params <= 100")
    st.optimize(n_trials=4)
    # the largest network has the most FLOPs, but only the width-8 ones (83 parameters) are feasible
    assert len(st.trials) == 4 and st.best_trial().metrics["params"] == 6 * 8 + 8 + 8 * 3 + 3
    assert st.best_trial().metrics["flops"] == 2 * (6 * 8 + 8 * 3)


@pytest.mark.parametrize("kwargs,match", [
    ({"metrics": ("params", "energy")}, r"unknown metric\(s\) \['energy'\]; accepted: params, flops"),
    ({"metrics": ()}, "unknown metric"),
    ({"input_shape": ()}, "input_shape must hold at least one dimension"),
    ({"num_classes": 0}, "num_classes must be an integer >= 1"),
    ({"repeats": 0}, "repeats must be an integer >= 1"),
    ({"device": "tpu"}, "unknown device"),
])
def test_hardware_evaluator_options(kwargs, match):
    args = {"input_shape": (6,), "num_classes": 3, **kwargs}
    with pytest.raises(ConfigError, match=match):
        HardwareEvaluator(TinyTrainableSpace(), **args)


def test_flops_of_transformer_layers_are_counted():
    layer = nn.TransformerEncoderLayer(d_model=16, nhead=2, dim_feedforward=32, batch_first=True)
    flops = count_flops(layer, (5, 16))
    # the q, k, v and output projections (4 x 5 x 16 x 16 multiply-adds) and the feed-forward (2 x 5 x 16 x 32);
    # with the fused fast path on, the counter saw none of them
    assert flops >= 2 * (4 * 5 * 16 * 16 + 2 * 5 * 16 * 32)
    assert torch.backends.mha.get_fastpath_enabled()  # restored
