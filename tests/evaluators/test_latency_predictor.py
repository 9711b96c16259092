"""The HELP-style latency predictor: meta-training, adaptation, files, and the ``predictor`` hardware model.

Synthetic devices keep these fast: a device's latency is a known function of the encoding (two per-option
cost vectors mixed by the device's ``a``, plus a pairwise term) times a device factor, so no timing is needed.
One test measures real (tiny) networks through ``HARDWARE.create("predictor", ...)``.
"""

from __future__ import annotations

import json
import pickle
from typing import Any

import numpy as np
import pytest
from scipy.stats import spearmanr

from nasforge.data.task import Task
from nasforge.errors import ConfigError
from nasforge.evaluators.hardware.predictor import (ADAPT_STEPS, FINETUNE_LRS, LatencyPredictor, _choose_model,
                                                    adapt_predictor, encode_features, feature_size, fit_from_scratch,
                                                    load_predictor, meta_train, parse_device, reference_archs,
                                                    save_predictor)
from nasforge.registry import HARDWARE
from nasforge.spaces.base import Architecture, SearchSpace, categorical, sample_distinct
from nasforge.testing import TinyTrainableSpace, check_hardware_model, hidden_target_space

FAST = {"meta_steps": 300, "hidden": (32, 32)}
TINY = {"meta_steps": 40, "hidden": (16,)}


class Family:
    """Devices of one family on ``hidden_target_space(10, 4)``: latency(x) = (3 + a) (1 + x.w_a + (1 - a) 0.3 x'Px)."""

    def __init__(self, space: SearchSpace, seed: int = 123) -> None:
        g = np.random.default_rng(seed)
        E = space.encoding_size
        self.space, self.u, self.v, self.P = space, g.uniform(0, 2, E), g.uniform(0, 2, E), g.uniform(0, 1, (E, E))

    def ms(self, a: float, arch: Architecture) -> float:
        x = self.space.encode(arch)
        return float((3 + a) * (1 + x @ (a * self.u + (1 - a) * self.v) + (1 - a) * 0.3 * x @ self.P @ x))

    def device(self, a: float, archs: list[Architecture]) -> dict[str, float]:
        return {self.space.to_string(x): self.ms(a, x) for x in archs}


@pytest.fixture(scope="module")
def setup() -> dict[str, Any]:
    space = hidden_target_space(10, 4)
    fam = Family(space)
    refs = reference_archs(space, 10, seed=0)
    others = sample_distinct(space, 300, np.random.default_rng(5), exclude={space.key(r) for r in refs})
    pool, test = others[:150], others[150:]
    sources = {f"a={a:.3f}": fam.device(a, refs + pool) for a in np.linspace(0, 1, 8) if abs(a - 0.6) > 0.05}
    meta = meta_train(space, sources, refs, seed=0, **FAST)
    return {"space": space, "fam": fam, "refs": refs, "pool": pool, "test": test, "sources": sources, "meta": meta}


def target_measurements(s: dict[str, Any], n: int, a: float = 0.6) -> dict[str, float]:
    return s["fam"].device(a, s["refs"] + s["pool"][:n])


def test_adaptation_with_20_points_beats_training_on_them_alone(setup):
    s = setup
    truth = [s["fam"].ms(0.6, x) for x in s["test"]]
    measured = target_measurements(s, 20)
    adapted = s["meta"].adapt(s["space"], measured)
    scratch = fit_from_scratch(s["space"], measured)
    rho_help = spearmanr(adapted.predict(s["space"], s["test"]), truth)[0]
    rho_scratch = spearmanr(scratch.predict(s["space"], s["test"]), truth)[0]
    assert rho_help >= 0.9 and rho_help > rho_scratch + 0.05, (rho_help, rho_scratch)

    def mape(pred: Any) -> float:
        return float(np.mean(np.abs(pred.predict(s["space"], s["test"]) / np.asarray(truth) - 1)))

    assert mape(adapted) < 0.05 and mape(adapted) < mape(scratch)
    # with 10 points the gap is wider
    ten = target_measurements(s, 10)
    rho10 = spearmanr(s["meta"].adapt(s["space"], ten).predict(s["space"], s["test"]), truth)[0]
    assert rho10 > spearmanr(fit_from_scratch(s["space"], ten).predict(s["space"], s["test"]), truth)[0] + 0.1
    assert s["meta"].options["method"] == "multitask" and s["meta"].options["inner_lr"] in FINETUNE_LRS
    # the embedding alone (references only, no adaptation step) already knows the device
    zero = s["meta"].zero_shot(s["space"], measured)
    assert spearmanr(zero.predict(s["space"], s["test"]), truth)[0] > rho_scratch
    assert adapt_predictor(s["meta"], s["space"], measured).params[0].tolist() == adapted.params[0].tolist()


def test_adaptation_schedule_is_chosen_on_the_targets_own_measurements(setup):
    """A device unlike every source (its own random per-column costs): the meta-training's schedule (10 small
    steps) hardly moves from the sources, the cross-validated one moves as far as the target's samples say."""
    s = setup
    space, meta = s["space"], s["meta"]
    for seed in (0, 1):
        w = np.random.default_rng(seed + 100).uniform(0, 2, space.encoding_size)

        def ms(archs: list[Architecture]) -> dict[str, float]:
            return {space.to_string(x): float(1 + space.encode(x) @ w) for x in archs}

        measured = ms(s["refs"] + s["pool"][:20])
        truth = list(ms(s["test"]).values())
        chosen = meta.adapt(space, measured)
        fixed = meta.adapt(space, measured, steps=meta.options["inner_steps"], lr=meta.options["inner_lr"])
        rho_cv = spearmanr(chosen.predict(space, s["test"]), truth)[0]
        rho_fixed = spearmanr(fixed.predict(space, s["test"]), truth)[0]
        assert rho_cv > rho_fixed + 0.2, (seed, rho_cv, rho_fixed)
        sch = chosen.schedule
        assert sch["by"] == "cross-validation" and sch["select"] == "mse"
        assert sch["steps"] in ADAPT_STEPS and sch["lr"] in FINETUNE_LRS
        assert len(sch["scores"]) == 1 + len(ADAPT_STEPS) * len(FINETUNE_LRS)
        assert sch["scores"][f"{sch['steps']}@{sch['lr']:g}"] == max(sch["scores"].values())
        assert fixed.schedule == {"steps": meta.options["inner_steps"], "lr": meta.options["inner_lr"], "by": "given"}
    # rank correlation as the criterion; fewer than 4 samples: the meta-training's schedule
    assert meta.adapt(space, measured, select="spearman").schedule["select"] == "spearman"
    few = meta.adapt(space, target_measurements(s, 3)).schedule
    assert few == {"steps": meta.options["inner_steps"], "lr": meta.options["inner_lr"], "by": "meta-training"}
    with pytest.raises(ConfigError, match="unknown select 'r2'; accepted: mse, spearman"):
        meta.adapt(space, measured, select="r2")


def test_a_larger_model_must_beat_the_smaller_by_a_standard_error():
    # a lower mean by less than the noise between devices: the linear term stays
    assert _choose_model({"linear": [0.20, 0.30, 0.10, 0.25], "64,64": [0.19, 0.33, 0.05, 0.24]}) == "linear"
    # better on every device: the MLP
    assert _choose_model({"linear": [0.30, 0.32, 0.28, 0.35], "64,64": [0.10, 0.12, 0.11, 0.10]}) == "64,64"
    # worse: the linear term
    assert _choose_model({"linear": [0.10, 0.12], "64,64": [0.30, 0.31]}) == "linear"


def test_first_order_maml_adapts_too(setup):
    s = setup
    meta = meta_train(s["space"], s["sources"], s["refs"], method="fomaml", seed=0, **FAST)
    assert meta.options["method"] == "fomaml" and meta.options["inner_lr"] == 0.05
    truth = [s["fam"].ms(0.6, x) for x in s["test"]]
    measured = target_measurements(s, 20)
    adapted = meta.adapt(s["space"], measured)
    assert "10@0.05" in adapted.schedule["scores"]  # the schedule it was meta-trained for is a candidate
    rho = spearmanr(adapted.predict(s["space"], s["test"]), truth)[0]
    assert rho >= 0.85 and rho > spearmanr(fit_from_scratch(s["space"], measured).predict(s["space"], s["test"]),
                                           truth)[0]


def test_auto_model_is_chosen_on_held_out_source_devices(setup):
    s = setup
    meta = meta_train(s["space"], s["sources"], s["refs"], meta_steps=10, hidden="auto")
    sel = meta.options["hidden_selection"]
    assert set(sel) == {"linear", "64,64"} and all(0 <= v <= 2 for v in sel.values())
    # the MLP only if it did better (by more than the noise: test_a_larger_model_must_beat_the_smaller_...)
    assert meta.options["hidden"] == [] or (meta.options["hidden"] == [64, 64] and sel["64,64"] < sel["linear"])
    two = dict(list(s["sources"].items())[:2])  # too few devices to hold one out: the linear term alone
    small = meta_train(s["space"], two, s["refs"], meta_steps=5)
    assert small.options["hidden"] == [] and small.options["hidden_selection"] == {}
    with pytest.raises(ConfigError, match="hidden must be 'auto', 'linear' or a sequence"):
        meta_train(s["space"], two, s["refs"], hidden="big")


def test_features_hold_the_spaces_cost_features():
    from nasforge.spaces.nb201 import NB201Space

    space = NB201Space()
    archs = [space.parse("|nor_conv_1x1~0|+|avg_pool_3x3~0|nor_conv_3x3~1|+|none~0|skip_connect~1|none~2|"),
             space.parse("|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|nor_conv_3x3~0|nor_conv_3x3~1|none~2|")]
    X = encode_features(space, archs)
    assert X.shape == (2, feature_size(space)) == (2, 30 + 5 + len(space.cost_feature_names))
    assert np.array_equal(X[:, :30], np.stack([space.encode(a) for a in archs]))
    assert X[:, 30:35].tolist() == [[2, 1, 1, 1, 1], [1, 0, 0, 5, 0]]  # option counts: none, skip, 1x1, 3x3, pool
    assert np.array_equal(X[:, 35:], np.stack([space.cost_features(a) for a in archs]))
    # the option counts see five 3x3 convolutions in the second cell; three reach the output (node 2 feeds it
    # only through `none`), and the first cell's one does not
    reach3 = 35 + space.cost_feature_names.index("reaches:nor_conv_3x3")
    assert X[:, reach3].tolist() == [0, 3]


def test_same_seed_same_predictor(setup):
    s = setup
    first = meta_train(s["space"], s["sources"], s["refs"], seed=0, **TINY)
    again = meta_train(s["space"], s["sources"], s["refs"], seed=0, **TINY)
    assert all(np.array_equal(p, q) for p, q in zip(again.params, first.params))
    other = meta_train(s["space"], s["sources"], s["refs"], seed=1, **TINY)
    assert not np.array_equal(other.params[0], first.params[0])
    a = first.adapt(s["space"], target_measurements(s, 20)).predict(s["space"], s["test"])
    b = again.adapt(s["space"], target_measurements(s, 20)).predict(s["space"], s["test"])
    assert np.array_equal(a, b)


def test_save_load_round_trip(setup, tmp_path):
    s = setup
    path = save_predictor(s["meta"], tmp_path / "sub" / "pred.npz")
    back = load_predictor(path, s["space"])
    assert back.describe() == s["meta"].describe() and back.references == s["meta"].references
    assert json.loads(json.dumps(back.describe()))["options"]["method"] == "multitask"
    assert all(np.array_equal(p, q) for p, q in zip(back.params, s["meta"].params))
    m = target_measurements(s, 10)
    assert np.allclose(back.adapt(s["space"], m).predict(s["space"], s["test"]),
                       s["meta"].adapt(s["space"], m).predict(s["space"], s["test"]))


def test_a_predictor_for_another_space_is_refused(setup, tmp_path):
    s = setup
    path = save_predictor(s["meta"], tmp_path / "pred.npz")
    wider = hidden_target_space(10, 5)  # same name, another encoding
    with pytest.raises(ConfigError, match="encodes architectures in 50"):
        load_predictor(path, wider)
    renamed = SearchSpace(list(s["space"].choices), name="other")
    with pytest.raises(ConfigError, match="meta-trained for space 'hidden-target'.*this space is 'other'"):
        load_predictor(path, renamed)
    meta = meta_train(s["space"], s["sources"], s["refs"], input_shape=(3, 8, 8), meta_steps=1, hidden=(4,))
    save_predictor(meta, tmp_path / "shaped.npz")
    with pytest.raises(ConfigError, match=r"input shape \[3, 8, 8\]; this task's input shape is \[3, 16, 16\]"):
        load_predictor(tmp_path / "shaped.npz", s["space"], (3, 16, 16))
    with pytest.raises(ConfigError, match="does not exist"):
        load_predictor(tmp_path / "missing.npz")
    (tmp_path / "junk.npz").write_bytes(b"not a file of ours")
    with pytest.raises(ConfigError, match="not a latency predictor file"):
        load_predictor(tmp_path / "junk.npz")


def test_bad_inputs_are_named(setup):
    s = setup
    measured = target_measurements(s, 5)
    del measured[s["space"].to_string(s["refs"][3])]
    with pytest.raises(ConfigError, match="no latency for 1 of the 10 reference architectures"):
        s["meta"].adapt(s["space"], measured)
    with pytest.raises(ConfigError, match="must be a finite number > 0"):
        s["meta"].adapt(s["space"], {**target_measurements(s, 5), s["space"].to_string(s["pool"][0]): -1.0})
    with pytest.raises(ConfigError, match="unknown method 'maml2'; accepted: multitask, fomaml"):
        meta_train(s["space"], s["sources"], s["refs"], method="maml2")
    with pytest.raises(ConfigError, match="has 0 architectures besides the references"):
        meta_train(s["space"], {"d": s["fam"].device(0.1, s["refs"])}, s["refs"])
    assert parse_device("onnxruntime:2:8") == ("onnxruntime", 2, 8)
    with pytest.raises(ConfigError, match="unknown latency backend 'tpu'"):
        parse_device("tpu:1:1")
    with pytest.raises(ConfigError, match="malformed device 'torch:1'"):
        parse_device("torch:1")
    with pytest.raises(ConfigError, match="unknown method 'x'"):
        LatencyPredictor(method="x")


# ----------------------------------------------------------------------------- real measurement
class SmallMLPSpace(SearchSpace):
    """24 tiny MLPs (width x depth x activation) to measure for real in a few milliseconds each."""

    name = "small-mlp"

    def __init__(self) -> None:
        super().__init__([categorical("width", (8, 32, 128, 256)), categorical("depth", (1, 2, 3)),
                          categorical("act", ("relu", "tanh"))])

    def build(self, arch: Architecture, task: Any) -> Any:
        import torch.nn as nn

        w, layers, prev = int(arch["width"]), [nn.Flatten()], int(np.prod(task.input_shape))
        for _ in range(int(arch["depth"])):
            layers += [nn.Linear(prev, w), nn.ReLU() if arch["act"] == "relu" else nn.Tanh()]
            prev = w
        return nn.Sequential(*layers, nn.Linear(prev, task.num_classes))


def test_predictor_hardware_model_measures_adapts_and_pickles(tmp_path):
    space, task = SmallMLPSpace(), Task.shape_only("t", (64,), 4)
    opts = {"sources": "torch:1:8,torch:1:32,torch:1:1", "n_source_archs": 10, "references": 4, "adapt": 4,
            "meta_steps": 30, "warmup": 1, "repeats": 3, "cache": str(tmp_path / "lat.sqlite"), "verbose": False,
            "save": str(tmp_path / "meta.npz")}
    model = HARDWARE.create("predictor", **opts)
    assert isinstance(model, LatencyPredictor) and model.source_devices() == ["torch:1:8", "torch:1:32"]
    lines: list[str] = []
    model.prepare(space, task, progress=lines.append)
    assert any("14/14 architectures measured on 2 source devices" in ln for ln in lines)
    assert any("adapted to torch:1:1 with 4 measured architectures and 4 references" in ln
               and "chosen by cross-validation" in ln for ln in lines)
    archs = list(space.enumerate())
    lat = [model.latency(space, a, task) for a in archs]
    assert all(np.isfinite(x) and x > 0 for x in lat)
    measured = model.adapted.measured
    assert len(measured) == 8 and all(model.latency(space, a, task) == measured[space.key(a)]
                                      for a in archs if space.key(a) in measured)
    described = json.loads(json.dumps(model.describe()))
    assert described["hardware"] == "predictor" and described["sources"] == ["torch:1:8", "torch:1:32", "torch:1:1"]
    assert model.meta.describe()["devices"] == ["torch:1:8", "torch:1:32"] and model.meta.input_shape == [64]
    clone = pickle.loads(pickle.dumps(model))
    assert [clone.latency(space, a, task) for a in archs] == lat
    # a second model finds every measurement in the cache; one loading the saved predictor only adapts
    again = HARDWARE.create("predictor", **opts)
    again.prepare(space, task)
    assert again.cache.misses == 0 and [again.latency(space, a, task) for a in archs] == lat
    loaded = HARDWARE.create("predictor", path=str(tmp_path / "meta.npz"), adapt=4, warmup=1, repeats=3,
                             cache=str(tmp_path / "lat.sqlite"), verbose=False)
    loaded.prepare(space, task)
    assert [loaded.latency(space, a, task) for a in archs] == lat
    # the adaptation's criterion is an option of the hardware model, recorded in its settings
    assert model.adapted.schedule["select"] == "mse" and described["adapt_select"] == "mse"
    by_rank = HARDWARE.create("predictor", path=str(tmp_path / "meta.npz"), adapt=4, warmup=1, repeats=3,
                              cache=str(tmp_path / "lat.sqlite"), verbose=False, adapt_select="spearman")
    by_rank.prepare(space, task)
    assert by_rank.cache.misses == 0 and by_rank.adapted.schedule["select"] == "spearman"
    assert by_rank.adapted.schedule["by"] == "cross-validation" and by_rank.describe()["adapt_select"] == "spearman"
    with pytest.raises(ConfigError, match="unknown adapt_select 'mae'; accepted: mse, spearman"):
        HARDWARE.create("predictor", adapt_select="mae")
    with pytest.raises(ConfigError, match=r"input shape \[64\]; this task's input shape is \[32\]"):
        loaded.latency(space, archs[0], Task.shape_only("t", (32,), 4))


def test_predictor_keeps_the_hardware_model_contract(tmp_path):
    opts = {"sources": "torch:1:4", "references": 2, "n_source_archs": 2, "adapt": 2, "meta_steps": 5, "warmup": 1,
            "repeats": 3, "cache": str(tmp_path / "lat.sqlite"), "verbose": False}
    check_hardware_model(HARDWARE.create("predictor", **opts), TinyTrainableSpace(), Task.shape_only("t", (6,), 3))


def test_predictor_needs_a_source_besides_the_target():
    model = LatencyPredictor(sources="torch:1:1", cache=False, verbose=False)
    with pytest.raises(ConfigError, match="no source device besides the target 'torch:1:1'"):
        model.prepare(SmallMLPSpace(), Task.shape_only("t", (64,), 4))
