"""The training evaluator: real (tiny) training runs, failures, determinism, final training."""

from __future__ import annotations

import math

import numpy as np
import pytest

from nasforge.evaluators.hardware import count_flops, count_params, resolve_device
from nasforge.evaluators.training import TrainingEvaluator, train_final
from nasforge.errors import ConfigError
from nasforge.evaluators.base import FidelityRange
from nasforge.testing import TinyTrainableSpace, tiny_task


@pytest.fixture(scope="module")
def task():
    return tiny_task()


def arch(space, **values):
    return space.make(values)


def test_training_lowers_loss_and_is_reproducible(task):
    sp = TinyTrainableSpace()
    ev = TrainingEvaluator(task, sp, epochs=8, batch_size=16, lr=0.05, seed=3)
    a = arch(sp, width=32, act="relu")
    r1, r2 = ev.evaluate(a), ev.evaluate(a)
    curve = r1.metrics["train_loss_curve"]
    assert len(curve) == 8 and curve[-1] < 0.7 * curve[0]
    assert r1.metrics["train_loss_curve"] == r2.metrics["train_loss_curve"] and r1.value == r2.value
    assert r1.value == r1.metrics["val_acc"] > 100 / 3  # learns better than chance
    assert "test_acc" not in r1.metrics  # test accuracy is for final models only
    other = TrainingEvaluator(task, sp, epochs=8, batch_size=16, lr=0.05, seed=4).evaluate(a)
    assert other.metrics["train_loss_curve"] != curve


def test_result_carries_cost_params_flops_latency(task):
    sp = TinyTrainableSpace()
    ev = TrainingEvaluator(task, sp, epochs=2, batch_size=32)
    a = arch(sp, width=8, act="tanh")
    r = ev.evaluate(a)
    # Linear(6, 8) + Linear(8, 3)
    assert r.metrics["params"] == 6 * 8 + 8 + 8 * 3 + 3
    assert r.metrics["flops"] == 2 * (6 * 8 + 8 * 3)
    assert r.metrics["latency_ms"] > 0 and r.cost == r.metrics["wall_seconds"] >= r.metrics["train_seconds"] > 0
    assert r.fidelity == 2.0 and r.metrics["epochs"] == 2
    r5 = ev.evaluate(a, fidelity=5)
    assert r5.fidelity == 5.0 and len(r5.metrics["train_loss_curve"]) == 5


@pytest.mark.parametrize("latency", [True, False])
def test_capabilities_name_every_scalar_metric_of_a_real_run(task, latency):
    sp = TinyTrainableSpace()
    ev = TrainingEvaluator(task, sp, epochs=3, batch_size=32, measure_latency=latency)
    caps = ev.capabilities()
    assert caps.fidelity == FidelityRange("epochs", 1, 3, default=3, integer=True) and caps.reports_cost
    r = ev.evaluate(arch(sp, width=8, act="relu"), fidelity=2)
    assert r.ok and set(caps.metrics) <= set(r.metrics)
    scalars = {k for k, v in r.metrics.items() if isinstance(v, (int, float))}
    assert scalars == set(caps.metrics)  # and nothing scalar is left undeclared
    assert ("latency_ms" in caps.metrics) == latency


def test_divergence_is_a_failed_trial(task):
    sp = TinyTrainableSpace(diverge=True)
    r = TrainingEvaluator(task, sp, epochs=2).evaluate(arch(sp, width=8, act="explode"))
    assert r.status == "failed" and r.error.startswith("diverged") and "epoch 1" in r.error


def test_time_limit_is_a_failed_trial(task):
    sp = TinyTrainableSpace()
    r = TrainingEvaluator(task, sp, epochs=10_000, batch_size=2, time_limit=0.2).evaluate(arch(sp, width=8, act="relu"))
    assert r.status == "failed" and "time limit of 0.2 s exceeded" in r.error and r.cost >= 0.2


def test_out_of_memory_is_a_failed_trial(task, monkeypatch):
    sp = TinyTrainableSpace()
    ev = TrainingEvaluator(task, sp, epochs=1)

    def oom(*a, **k):
        raise RuntimeError("CUDA out of memory. Tried to allocate 2.00 GiB")

    monkeypatch.setattr(ev, "fit", oom)
    r = ev.evaluate(arch(sp, width=8, act="relu"))
    assert r.status == "failed" and r.error.startswith("out of memory")


def test_other_errors_propagate_to_the_study(task):
    sp = TinyTrainableSpace()
    ev = TrainingEvaluator(task, sp, epochs=1)
    ev.space = type("Broken", (), {"build": lambda self, a, t: (_ for _ in ()).throw(ValueError("bad cell"))})()
    with pytest.raises(ValueError, match="bad cell"):
        ev.evaluate(arch(sp, width=8, act="relu"))


def test_final_training_reports_test_accuracy(task):
    sp = TinyTrainableSpace()
    ev = TrainingEvaluator(task, sp, epochs=10, batch_size=16)
    model, m = train_final(ev, arch(sp, width=32, act="relu"), epochs=10)
    assert 0 <= m["test_acc"] <= 100 and m["test_acc"] > 100 / 3 and len(m["train_loss_curve"]) == 10
    assert count_params(model) == m["params"]


def test_image_inputs_and_flops_counter(task):
    img = tiny_task(image=True)
    sp = TinyTrainableSpace()
    r = TrainingEvaluator(img, sp, epochs=1).evaluate(arch(sp, width=8, act="relu"))
    assert r.ok and r.metrics["params"] == 16 * 8 + 8 + 8 * 3 + 3
    import torch.nn as nn

    conv = nn.Conv2d(1, 4, 3, padding=1)
    assert count_flops(conv, (1, 5, 5)) == 2 * 4 * 25 * 9


@pytest.mark.parametrize("kwargs,match", [
    ({"epochs": 0}, "epochs must be an integer >= 1, got 0"),
    ({"batch_size": 1.5}, "batch_size must be an integer >= 1"),
    ({"optimizer": "adam"}, "unknown optimizer 'adam'; accepted: sgd, adamw"),
    ({"schedule": "step"}, "unknown schedule 'step'"),
    ({"lr": -1}, "lr must be a number > 0, got -1"),
    ({"label_smoothing": 1.0}, "label_smoothing must be a number >= 0 and < 1, got 1.0"),
    ({"time_limit": 0}, r"time_limit must be a number > 0 \(seconds\) or None, got 0"),
    ({"weight_decay": -0.1}, "weight_decay must be a number >= 0"),
    ({"seed": -1}, "seed must be an integer >= 0"),
    ({"device": "tpu"}, "unknown device 'tpu'"),
])
def test_bad_options(task, kwargs, match):
    with pytest.raises(ConfigError, match=match):
        TrainingEvaluator(task, TinyTrainableSpace(), **kwargs)


def test_device_auto():
    import torch

    assert resolve_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="CUDA is not available"):
            resolve_device("cuda")


def test_adamw_and_label_smoothing_train(task):
    sp = TinyTrainableSpace()
    r = TrainingEvaluator(task, sp, epochs=3, optimizer="adamw", lr=0.01, label_smoothing=0.1,
                          schedule="constant").evaluate(arch(sp, width=8, act="relu"))
    assert r.ok and all(math.isfinite(v) for v in r.metrics["train_loss_curve"])


def test_threads_option_limits_training_and_restores(monkeypatch):
    import torch

    from nasforge.evaluators.training import TrainingEvaluator
    from nasforge.spaces.mlp import MLPSpace
    from nasforge.testing import tiny_task

    seen = []
    ev = TrainingEvaluator(tiny_task(), MLPSpace(), epochs=1, threads=1, measure_latency=False)
    real_fit = ev.fit
    monkeypatch.setattr(ev, "fit", lambda *a, **k: (seen.append(torch.get_num_threads()), real_fit(*a, **k))[1])
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        res = ev.evaluate(ev.space.sample(__import__("numpy").random.default_rng(0)))
        assert res.ok and seen == [1] and torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)
    with pytest.raises(ValueError, match="threads must be an integer >= 1, got 0"):
        TrainingEvaluator(tiny_task(), MLPSpace(), threads=0)
