"""Latency through every backend, the persistent cache, the lookup table, and the hardware models' contract."""

from __future__ import annotations

import json
import pickle

import numpy as np
import pytest
import torch.nn as nn

from nasforge.data.task import Task
from nasforge.errors import ConfigError, UnknownNameError
from nasforge.evaluators.hardware import (BACKENDS, HardwareEvaluator, LatencyCache, LatencyMeasurement, LatencyTable,
                                          MeasuredLatency, make_hardware, measure_latency, trace_units)
from nasforge.evaluators.training import TrainingEvaluator
from nasforge.registry import HARDWARE, create_strategy
from nasforge.spaces import SearchSpace, categorical
from nasforge.study import Study
from nasforge.testing import TinyTrainableSpace, check_hardware_model, tiny_task

FAST = {"warmup": 1, "repeats": 5}


def net() -> nn.Module:
    return nn.Sequential(nn.Flatten(), nn.Linear(6, 8), nn.ReLU(), nn.Linear(8, 3))


@pytest.mark.parametrize("backend", BACKENDS)
def test_every_backend_measures_a_network(backend):
    m = net().train()
    lat = measure_latency(m, (6,), backend=backend, threads=1, **FAST)
    assert lat.backend == backend and lat.median_ms > 0 and lat.iqr_ms >= 0 and lat.threads == 1
    assert m.training  # the mode is restored


def test_the_stability_check_remeasures_a_wide_spread():
    loose = measure_latency(net(), (6,), max_spread=1e9, attempts=3, **FAST)
    assert loose.attempts == 1 and loose.stable
    # no spread is ever below 1e-12 of the median (the repeats differ), so every attempt is made
    tight = measure_latency(net(), (6,), max_spread=1e-12, attempts=3, warmup=0, repeats=9)
    assert tight.attempts == 3 and not tight.stable and tight.spread > 1e-12


@pytest.mark.parametrize("kwargs,match", [
    ({"backend": "tensorrt"}, "unknown latency backend 'tensorrt'; accepted: torch, onnxruntime, onnxruntime-int8"),
    ({"max_spread": 0}, "max_spread must be a number > 0"),
    ({"attempts": 0}, "attempts must be an integer >= 1"),
])
def test_latency_option_errors(kwargs, match):
    with pytest.raises(ConfigError, match=match):
        measure_latency(net(), (6,), **kwargs)


def test_a_latency_measured_twice_is_read_from_the_cache(tmp_path):
    path = tmp_path / "lat.sqlite"
    cache = LatencyCache(path)
    built = []

    def build():
        built.append(1)
        return net()

    first = cache.measure("tiny", build, (6,), **FAST)
    second = cache.measure("tiny", build, (6,), **FAST)
    assert first == second and (cache.hits, cache.misses) == (1, 1) and len(built) == 1
    # other settings are another entry; the cache survives the process (a new object on the same file)
    cache.measure("tiny", build, (6,), backend="onnxruntime", **FAST)
    again = LatencyCache(path)
    assert len(again) == 2 and again.get("tiny", LatencyCache.settings((6,), 1, "torch", 1, "cpu")) == first
    # a file copied to another machine is not read there; a pickled cache reopens the file
    assert len(LatencyCache(path, machine="elsewhere")) == 0
    assert len(pickle.loads(pickle.dumps(cache))) == 2


def test_measured_latency_is_cached_per_architecture(tmp_path):
    sp, task = TinyTrainableSpace(), Task.shape_only("t", (6,), 3)
    hw = MeasuredLatency(cache=tmp_path / "c.sqlite", **FAST)
    a, b = sp.make({"width": 8, "act": "relu"}), sp.make({"width": 32, "act": "relu"})
    va = hw.latency(sp, a, task)
    assert hw.latency(sp, a, task) == va and hw.cache.hits == 1
    hw.latency(sp, b, task)
    assert hw.cache.misses == 2


# -- the lookup table ----------------------------------------------------------------
class Branchy(nn.Module):
    """Two linear units on the input, one of them dead, joined by a functional addition."""

    def __init__(self, width: int) -> None:
        super().__init__()
        self.a, self.b, self.dead = nn.Linear(4, 4), nn.Linear(4, 4), nn.Linear(4, width)
        self.head = nn.Linear(4, 2)

    def forward(self, x):
        self.dead(x)
        return self.head(self.a(x) + self.b(x))


def test_trace_finds_units_glue_and_dead_code():
    units = trace_units(Branchy(7), (4,))
    names = [type(m).__name__ for m, _, _ in units]
    assert names == ["Linear", "Linear", "Linear", "FunctionalUnit", "Linear"]
    live = {repr(m).split("(")[0] + str(i): lv for i, (m, _, lv) in enumerate(units)}
    assert live == {"Linear0": False, "Linear1": True, "Linear2": True, "FunctionalUnit3": True, "Linear4": True}
    # a named unit class hides its children
    seq = nn.Sequential(nn.Sequential(nn.Linear(4, 4), nn.ReLU()), nn.Linear(4, 2))
    assert [type(m).__name__ for m, _, _ in trace_units(seq, (4,), units=("Sequential",))] == ["Sequential", "Linear"]


class LinearSpace(SearchSpace):
    """Networks of known units: a chain of `depth` Linear(w, w) layers, then a head."""

    name = "linear-chain"

    def __init__(self) -> None:
        super().__init__([categorical("depth", (1, 2, 3)), categorical("width", (4, 8))])

    def build(self, arch, task):
        w = int(arch["width"])
        layers = [nn.Linear(task.input_shape[0], w)] + [nn.Linear(w, w) for _ in range(int(arch["depth"]))]
        network = nn.Sequential(*layers, nn.Linear(w, task.num_classes))
        network.whole = True  # what fake_ms charges the whole-network extra for
        return network


def fake_ms(model) -> float:
    """A machine where a call costs 0.05 ms, each Linear 0.001 ms per output feature, and a whole
    network 0.02 ms more than its parts."""
    body = sum(0.001 * m.out_features for m in model.modules() if isinstance(m, nn.Linear))
    whole = 0.02 if getattr(model, "whole", False) else 0.0
    return 0.05 + body + whole


def test_the_lookup_table_sums_known_operations(monkeypatch, tmp_path):
    sp, task = LinearSpace(), Task.shape_only("t", (4,), 2)
    lut = LatencyTable(calibration=4, profile=3, cache=False)

    def measure(self, key, model, input_shape):
        m = model() if callable(model) and not hasattr(model, "parameters") else model
        return LatencyMeasurement(fake_ms(m), 0.0, 1, 0, 1, 1, "cpu")

    monkeypatch.setattr(LatencyTable, "measure", measure)
    lut.prepare(sp, task)
    # entries are marginal costs: a Linear(w, w) alone costs 0.001 w beyond the call
    entries = {sig.split("|")[1]: ms for sig, ms in lut.table.items()}
    assert entries["Linear(in_features=8, out_features=8, bias=True)"] == pytest.approx(0.008)
    assert lut.scale == 1.0 and lut.constant == pytest.approx(0.07)  # the call and the whole network's extra
    for depth in (1, 2, 3):
        a = sp.make({"depth": depth, "width": 8})
        expected = 0.001 * 8 * (1 + depth) + 0.001 * 2 + 0.07
        assert lut.summed(sp, a, task) == pytest.approx(0.001 * 8 * (1 + depth) + 0.002)
        assert lut.latency(sp, a, task) == pytest.approx(expected)
        assert lut.latency(sp, a, task) == pytest.approx(fake_ms(sp.build(a, task)))
    assert lut.state()["entries"] == len(lut.table) > 0


def test_the_lookup_table_skips_dead_units_only_where_a_compiler_would(monkeypatch):
    class S(LinearSpace):
        def build(self, arch, task):
            return Branchy(int(arch["width"]))

    sp, task = S(), Task.shape_only("t", (4,), 2)
    a = sp.make({"depth": 1, "width": 8})
    eager, ort = LatencyTable(cache=False), LatencyTable(backend="onnxruntime", cache=False)
    assert len(eager.units_of(sp, a, task)) == 5 and len(ort.units_of(sp, a, task)) == 4


def test_a_real_lookup_table_tracks_measurement_on_a_small_space():
    from nasforge.spaces.nb201 import NB201Space

    sp, task = NB201Space(C=4, N=1), Task.shape_only("t", (3, 8, 8), 10)
    lut = LatencyTable(calibration=3, profile=2, **FAST)
    lut.prepare(sp, task)
    assert lut.table and all(v >= 0 for v in lut.table.values())
    a = sp.from_string("|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|nor_conv_3x3~0|nor_conv_3x3~1|nor_conv_3x3~2|")
    b = sp.from_string("|none~0|+|none~0|none~1|+|skip_connect~0|none~1|none~2|")
    assert lut.latency(sp, a, task) > lut.latency(sp, b, task) > 0  # six convolutions cost more than none


def test_lookup_table_options():
    with pytest.raises(ConfigError, match="unknown fit 'cubic'; accepted: constant, affine"):
        LatencyTable(fit="cubic")
    with pytest.raises(ConfigError, match="fit 'affine' needs calibration >= 2"):
        LatencyTable(fit="affine", calibration=1)
    with pytest.raises(ConfigError, match="threads must be an integer >= 1"):
        MeasuredLatency(threads=0)


# -- the registry's conformance suite ------------------------------------------------------
#: the smallest options of every registered hardware model (a new model must add its own here)
TINY = {"measured": FAST, "lut": {"calibration": 2, "profile": 1, **FAST},
        "predictor": {"sources": "torch:1:4", "references": 2, "n_source_archs": 2, "adapt": 2, "meta_steps": 5,
                      "verbose": False, **FAST}}


@pytest.mark.parametrize("name", HARDWARE.list())
def test_every_hardware_model_keeps_the_contract(name):
    assert name in TINY, f"hardware model {name!r}: give its smallest options in TINY"
    check_hardware_model(HARDWARE.create(name, **TINY[name]), TinyTrainableSpace(), Task.shape_only("t", (6,), 3))


def test_make_hardware_errors():
    with pytest.raises(UnknownNameError, match="unknown hardware model .gpu.; known: lut, measured, predictor"):
        make_hardware("gpu")
    with pytest.raises(ConfigError, match="has no option"):
        make_hardware("measured", {"colour": "red"})
    with pytest.raises(ConfigError, match="give hardware options when naming the model"):
        make_hardware(MeasuredLatency(), {"threads": 1})


# -- evaluators and studies -----------------------------------------------------------------
def test_training_and_hardware_evaluators_take_a_hardware_model():
    task, sp = tiny_task(), TinyTrainableSpace()
    ev = TrainingEvaluator(task, sp, epochs=1, hardware="lut", hardware_options={"calibration": 2, "profile": 1},
                           device="cpu")
    ev.prepare()
    r = ev.evaluate(sp.make({"width": 8, "act": "relu"}))
    assert r.ok and r.metrics["latency_ms"] >= 0 and ev.describe()["hardware"]["hardware"] == "lut"
    assert "hardware" not in TrainingEvaluator(task, sp, epochs=1).describe()  # old studies resume unchanged
    hw = HardwareEvaluator(sp, (6,), 3, metrics="latency_ms", hardware="lut", backend="onnxruntime",
                           hardware_options={"calibration": 2, "profile": 1})
    assert hw.hardware.backend == "onnxruntime" and json.dumps(hw.describe())
    with pytest.raises(ConfigError, match="latency_iqr_ms is the spread of a measurement"):
        HardwareEvaluator(sp, (6,), 3, metrics="latency_ms,latency_iqr_ms", hardware="lut")


def test_a_latency_constraint_is_never_violated_by_the_best():
    sp = TinyTrainableSpace()
    ev = HardwareEvaluator(sp, (6,), 3, metrics="params,latency_ms", hardware="lut",
                           hardware_options={"calibration": 2, "profile": 1})
    ev.prepare()
    lat = {sp.key(a): ev.evaluate(a).metrics["latency_ms"] for a in sp.enumerate()}
    bound = float(np.median(list(lat.values())))
    st = Study(sp, create_strategy("random", sp, seed=0, replace=False), ev, objectives="params:max",
               constraints=f"latency_ms <= {bound}")
    st.optimize(n_trials=4)
    best = st.best_trial()
    assert best.metrics["latency_ms"] <= bound
    assert best.metrics["params"] == max(r.metrics["params"] for r in st.trials if r.metrics["latency_ms"] <= bound)
