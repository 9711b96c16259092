"""DARTS, second-order DARTS and GDAS: tiny real runs, selection, the Hessian signal, checkpoints and resume."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from nasforge.errors import ConfigError, UnknownNameError
from nasforge.oneshot.methods import CHECKPOINT, DifferentiableSearch
from nasforge.registry import ONESHOT
from nasforge.spaces.darts import DartsSpace
from nasforge.spaces.mlp import MLPSpace
from nasforge.spaces.mobilenet import MobileNetSpace
from nasforge.spaces.nb201 import NB201Space
from nasforge.testing import tiny_task

TASK = tiny_task(n=90, classes=3, image=True)
#: the methods that derive an architecture from architecture parameters (spos, fewshot, bignas train a supernet to
#: search: tests/oneshot/test_spos.py)
DIFFERENTIABLE = [m for m in ONESHOT.list() if issubclass(ONESHOT.get(m), DifferentiableSearch)]


def make(method: str = "darts", space=None, **options):
    opts = {"epochs": 2, "batch_size": 16, "threads": 1, "select": "magnitude", **options}
    return ONESHOT.create(method, space if space is not None else NB201Space(C=2, N=1), TASK, **opts)


@pytest.mark.parametrize("method", DIFFERENTIABLE)
def test_each_method_finishes_a_tiny_run_with_an_architecture_of_the_space(method: str) -> None:
    space = NB201Space(C=2, N=1)
    seen = []
    out = make(method, space).run(progress=seen.append)
    assert space.contains(out.arch)
    assert [i["epoch"] for i in seen] == [1, 2] and all(i["phase"] == "search" for i in seen)
    assert 0.0 <= out.val_acc <= 100.0 and out.metrics["val_acc"] == out.val_acc
    assert out.metrics["method"] == method and out.metrics["supernet_epochs"] == 2
    assert out.metrics["search_seconds"] > 0 and out.metrics["peak_rss_mb"] > 0
    assert set(out.metrics["alphas"]) == {"1<-0", "2<-0", "2<-1", "3<-0", "3<-1", "3<-2"}


def test_same_seed_same_architecture_and_parameters() -> None:
    a, b = make("gdas", seed=3).run(), make("gdas", seed=3).run()
    assert a.arch == b.arch and a.metrics["alphas"] == b.metrics["alphas"] and a.val_acc == b.val_acc
    c = make("gdas", seed=4).run()
    assert c.metrics["alphas"] != a.metrics["alphas"]


def test_architecture_parameters_learn_from_the_validation_split() -> None:
    m = make("darts", epochs=1)
    out = m.run()
    assert any(abs(v) > 1e-2 for vals in out.metrics["alphas"].values() for v in vals)


def test_second_order_gradient_reduces_to_first_order_without_a_virtual_step() -> None:
    m = make("darts2")
    m.run()
    t = m.data
    xt, yt, xv, yv = t["X_train"][:16], t["y_train"][:16], t["X_val"][:16], t["y_val"][:16]
    sn = m.supernet
    sn.eval()  # fixed BatchNorm statistics: the losses are deterministic functions of the weights
    first = torch.autograd.grad(torch.nn.functional.cross_entropy(sn(xv), yv), sn.arch_parameters())
    second = m._unrolled_grads(xt, yt, xv, yv, lr=0.0)
    for f, s in zip(first, second):
        assert torch.allclose(f, s, atol=1e-6)
    with_step = m._unrolled_grads(xt, yt, xv, yv, lr=0.5)
    assert any(not torch.allclose(f, s, atol=1e-6) for f, s in zip(first, with_step))


def test_second_order_gradient_matches_the_exact_unrolled_gradient() -> None:
    from torch.func import functional_call

    m = make("darts2", w_momentum=0.0, w_weight_decay=0.0)
    m.run()
    sn = m.supernet
    sn.eval()
    t = m.data
    xt, yt, xv, yv = t["X_train"][:16], t["y_train"][:16], t["X_val"][:16], t["y_val"][:16]
    lr = 0.05
    names = [n for n, p in sn.named_parameters() if not n.startswith("alphas.")]
    weights = {n: p for n, p in sn.named_parameters() if not n.startswith("alphas.")}
    alphas = {n: p for n, p in sn.named_parameters() if n.startswith("alphas.")}
    loss = torch.nn.functional.cross_entropy(functional_call(sn, {**weights, **alphas}, (xt,)), yt)
    grads = torch.autograd.grad(loss, [weights[n] for n in names], create_graph=True, allow_unused=True)
    stepped = {n: weights[n] - lr * (g if g is not None else 0) for n, g in zip(names, grads)}
    loss_v = torch.nn.functional.cross_entropy(functional_call(sn, {**stepped, **alphas}, (xv,)), yv)
    exact = torch.autograd.grad(loss_v, list(alphas.values()))
    approx = m._unrolled_grads(xt, yt, xv, yv, lr=lr)
    e, a = torch.cat([x.flatten() for x in exact]), torch.cat([x.flatten() for x in approx])
    assert torch.allclose(a, e, rtol=1e-2, atol=1e-4), (a - e).abs().max()


def test_dominant_eigenvalue_matches_the_exact_hessian() -> None:
    m = make("darts", power_iterations=60)
    m.run()
    sn, t = m.supernet, m.data
    n = min(len(t["y_val"]), 2 * m.batch_size)
    X, y = t["X_val"][:n], t["y_val"][:n]
    from torch.func import functional_call

    names = [n for n, _ in sn.named_parameters() if n.startswith("alphas.")]
    sizes = [p.numel() for n, p in sn.named_parameters() if n.startswith("alphas.")]
    flat0 = torch.cat([p.detach().flatten() for n, p in sn.named_parameters() if n.startswith("alphas.")])

    def loss(flat):
        parts = dict(zip(names, torch.split(flat, sizes)))
        return torch.nn.functional.cross_entropy(functional_call(sn, parts, (X,)), y)

    sn.train()
    from nasforge.oneshot.supernet import bn_snapshot

    with bn_snapshot(sn):
        H = torch.autograd.functional.hessian(loss, flat0)
    eig = torch.linalg.eigvalsh((H + H.T) / 2)
    biggest = float(eig[eig.abs().argmax()])
    assert m.dominant_eigenvalue() == pytest.approx(biggest, rel=0.05, abs=1e-6)


def test_early_stop_rule_restores_an_earlier_architecture() -> None:
    m = make("darts", es_window=2)
    assert not m._should_stop([1.0, 1.0, 1.1, 1.2])
    assert m._should_stop([1.0, 1.0, 1.5, 1.6])  # mean grew from 1.0 to 1.55: ratio 0.65 < 0.75
    assert not m._should_stop([1.0, 1.5, 1.6])  # fewer than two windows

    class Growing(type(m)):
        values = iter([1.0, 1.0, 2.0, 2.0, 2.0, 2.0])

        def dominant_eigenvalue(self, batches: int = 2) -> float:
            return next(self.values)

    g = Growing(NB201Space(C=2, N=1), TASK, epochs=6, batch_size=16, threads=1, early_stop=True, es_window=2,
                select="magnitude")
    seen = []
    out = g.run(progress=seen.append)
    assert out.metrics["stopped_epoch"] == 4 and out.metrics["supernet_epochs"] == 4
    assert "early_stop" in seen[-1] and "epoch 2 restored" in seen[-1]["early_stop"]
    assert out.metrics["eigenvalues"] == [1.0, 1.0, 2.0, 2.0]


@pytest.mark.parametrize("method", ["darts", "gdas"])
def test_perturbation_selection_fixes_every_decision(method: str) -> None:
    seen = []
    m = make(method, select="pt", pt_tune_steps=2)
    out = m.run(progress=seen.append)
    picks = [i for i in seen if i["phase"] == "select"]
    assert len(picks) == 6 and picks[-1]["done"] == 6
    ctl = m.supernet.controller
    assert set(ctl.fixed) == set(ctl.keys)
    space = m.space
    ops = dict(zip([f"{t}<-{f}" for t, f in ((1, 0), (2, 0), (2, 1), (3, 0), (3, 1), (3, 2))], space.ops(out.arch)))
    assert all(ops[k] == ctl.decisions[k].options[i] for k, i in ctl.fixed.items())
    assert "none" not in ops.values()


def test_perturbation_selection_chooses_two_inputs_per_darts_node() -> None:
    space = DartsSpace(C=2, layers=3)
    m = make("darts", space, epochs=1, select="pt", pt_tune_steps=0, pt_val_batches=1)
    out = m.run()
    ctl = m.supernet.controller
    assert len(ctl.off) == 2 * (0 + 1 + 2 + 3)  # node k has k+2 inputs and keeps 2
    geno = space.genotype(out.arch)
    for cell in ("normal", "reduce"):
        for k in range(4):
            (op0, s0), (op1, s1) = geno[cell][2 * k:2 * k + 2]
            for src, op in ((s0, op0), (s1, op1)):
                key = f"{cell}.n{k}.e{src}"
                assert key not in ctl.off and ctl.decisions[key].options[ctl.fixed[key]] == op


def test_collapse_is_flagged_and_warned() -> None:
    from nasforge.oneshot.methods import CollapseWarning

    class SkipLover(type(make())):
        def _selected(self, state):
            return self.space.from_ops(["skip_connect"] * 4 + ["nor_conv_3x3"] * 2)

    m = SkipLover(NB201Space(C=2, N=1), TASK, epochs=1, batch_size=16, threads=1, select="magnitude")
    with pytest.warns(CollapseWarning, match="67% of its decisions"):
        out = m.run()
    assert out.metrics["collapsed"] is True and out.metrics["param_free_fraction"] == pytest.approx(4 / 6)


def test_resume_after_an_interruption_ends_with_the_uninterrupted_architecture(tmp_path) -> None:
    full = make("darts", epochs=3, select="pt", pt_tune_steps=2).run(checkpoint_dir=tmp_path / "a")

    class Stop(Exception):
        pass

    def stop_at_epoch_2(info):
        if info.get("epoch") == 2:
            raise Stop

    with pytest.raises(Stop):
        make("darts", epochs=3, select="pt", pt_tune_steps=2).run(tmp_path / "b", progress=stop_at_epoch_2)

    def stop_in_selection(info):
        if info.get("done") == 3:
            raise Stop

    with pytest.raises(Stop):
        make("darts", epochs=3, select="pt", pt_tune_steps=2).run(tmp_path / "b", resume=True,
                                                                  progress=stop_in_selection)
    seen = []
    resumed = make("darts", epochs=3, select="pt", pt_tune_steps=2).run(tmp_path / "b", resume=True,
                                                                        progress=seen.append)
    assert [i["done"] for i in seen] == [3, 4, 5, 6]  # decision 3 was not saved before the stop: done again
    assert resumed.arch == full.arch and resumed.metrics["alphas"] == full.metrics["alphas"]
    assert resumed.val_acc == full.val_acc


def test_checkpoint_errors_name_the_problem(tmp_path) -> None:
    make("gdas", epochs=1).run(tmp_path)
    with pytest.raises(ConfigError, match="exists from an earlier run"):
        make("gdas", epochs=1).run(tmp_path)
    with pytest.raises(ConfigError, match="written by another search"):
        make("gdas", epochs=2).run(tmp_path, resume=True)
    with pytest.raises(ConfigError, match="nothing to resume"):
        make("gdas", epochs=1).run(tmp_path / "empty", resume=True)
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / CHECKPOINT).write_bytes(b"not a checkpoint")
    with pytest.raises(ConfigError, match="cannot read checkpoint"):
        make("gdas", epochs=1).run(tmp_path / "bad", resume=True)


@pytest.mark.parametrize("options, match", [
    ({"select": "best"}, "select.*magnitude, pt"),
    ({"weighting": "gumbel"}, "weighting.*softmax, max-w"),
    ({"epochs": 0}, "epochs"),
    ({"lr_schedule": "step"}, "lr_schedule.*cosine, cosine-power, constant"),
    ({"es_ratio": 1.5}, "es_ratio"),
    ({"early_stop": "no"}, "early_stop must be True or False, got 'no'"),
    ({"recalibrate_bn": 1}, "recalibrate_bn must be True or False, got 1"),
    ({"device": "tpu"}, "unknown device 'tpu'; accepted: auto, cpu"),
])
def test_bad_options_are_named(options, match) -> None:
    with pytest.raises((ConfigError, ValueError), match=match):
        make("darts", **options)


def test_unknown_method_lists_the_known_ones() -> None:
    with pytest.raises(UnknownNameError, match="darts, darts2, fewshot, gdas"):
        ONESHOT.get("enas")


def test_perturbation_selection_is_the_default() -> None:
    # measured: magnitude selection collapsed 2 of 3 second-order DARTS seeds at 20 epochs, PT none of 18 cells
    assert ONESHOT.create("darts", NB201Space(C=2, N=1), TASK).select == "pt"


def test_methods_are_registered_subclasses() -> None:
    assert {"darts", "darts2", "gdas"} <= set(DIFFERENTIABLE)
    for name in ONESHOT.list():
        assert ONESHOT.get(name).name == name
    assert np.isfinite(make("darts2").order)


def test_perturbation_ties_fall_back_to_the_magnitude_rule() -> None:
    class Indifferent(type(make())):
        def _mixed_acc(self, batches: int) -> float:
            return 50.0  # removing anything changes nothing

    space = DartsSpace(C=2, layers=3)
    m = Indifferent(space, TASK, epochs=1, batch_size=16, threads=1, select="pt", pt_tune_steps=0)
    out = m.run()
    m.supernet.controller.fixed.clear()
    m.supernet.controller.off.clear()
    assert out.arch == m.supernet.derive()


@pytest.mark.parametrize("method", DIFFERENTIABLE)
@pytest.mark.parametrize("space", [DartsSpace(C=2, layers=3, distinct_cells=True),
                                   MobileNetSpace(width_mult=0.25, max_depth=2, stages=((16, 1), (24, 2)),
                                                  head_channels=32),
                                   MLPSpace(widths=(4, 8, 16), max_depth=3)],
                         ids=["darts-distinct", "mobilenet", "mlp"])
def test_each_method_runs_on_the_other_supernets(method: str, space) -> None:
    # GDAS on MobileNet samples depths that leave later blocks' parameters out of the graph
    select = "magnitude" if space.name == "darts" else "pt"  # PT on DARTS cells has its own (slower) test
    out = make(method, space, epochs=1, select=select, pt_tune_steps=1, pt_val_batches=1).run()
    assert space.contains(out.arch) and 0 <= out.val_acc <= 100


# ----------------------------------------------------------------------------- ProxylessNAS

def _count_candidate_calls(sn):
    from nasforge.oneshot.supernet import ChoiceOp

    calls = []
    for m in sn.modules():
        if isinstance(m, ChoiceOp):
            for i, op in enumerate(m.ops):
                op.register_forward_hook(lambda mod, inp, out, key=m.key, i=i: calls.append((key, i)))
    return calls


def test_binary_gates_compute_two_candidates_and_output_the_active_path() -> None:
    from nasforge.oneshot.methods import build_supernet

    space = NB201Space(C=2, N=1)
    sn = build_supernet(space, TASK)
    calls = _count_candidate_calls(sn)
    sn.controller.generator = torch.Generator().manual_seed(0)
    sn.eval()
    X = torch.as_tensor(TASK.X_train[:8])
    sn.set_mixed("binary")
    out = sn(X)
    per_key = {}
    for key, i in calls:
        per_key.setdefault(key, set()).add(i)
    assert all(len(v) == 2 for v in per_key.values()) and len(per_key) == 6  # two candidates, not five
    # forward, the binary mixture is exactly the active path
    active = {k: int(w.weights.detach().argmax()) for k, w in sn.controller._cache.items()}
    sn.controller.set_path(active)
    assert torch.allclose(out, sn(X), atol=1e-6)
    # backward, the gate gradient reaches only the two sampled candidates' parameters, as a softmax over the pair
    sn.set_mixed("binary")
    sn.controller.generator = torch.Generator().manual_seed(0)
    sn.zero_grad()
    sn(X).pow(2).sum().backward()
    for key, alpha in zip(sn.controller.keys, sn.arch_parameters()):
        g = alpha.grad
        pair = sorted(per_key[key])
        others = [i for i in range(5) if i not in pair]
        assert torch.all(g[others] == 0) and abs(float(g[pair].sum())) < 1e-5
    # weight steps draw one path
    calls.clear()
    sn.set_mixed("sample")
    sn(X)
    drawn = {}
    for key, i in calls:
        drawn.setdefault(key, []).append(i)
    # three cells share each decision: each computes the one drawn candidate
    assert len(drawn) == 6 and all(len(v) == 3 and len(set(v)) == 1 for v in drawn.values())


def test_proxyless_cost_term_pushes_towards_cheaper_architectures() -> None:
    space = MobileNetSpace(width_mult=0.25, max_depth=2, stages=((16, 1), (24, 2)), head_channels=32)
    costs = {}
    for weight in (0.0, 20.0):
        m = make("proxyless", space, epochs=3, cost_weight=weight, arch_lr=0.05)
        out = m.run()
        costs[weight] = float(m.expected_cost().detach())
        assert space.contains(out.arch)
    assert costs[20.0] < 0.9 * costs[0.0]


def test_proxyless_options() -> None:
    m = make("proxyless", select="magnitude")
    assert m.params()["cost"] == "auto" and m.weighting == "binary" and m.path_trained
    # a FLOPs term would push a cell towards its free operations: auto turns it off there, on for MobileNet
    assert m.run().metrics["cost"] == "none"
    mobile = MobileNetSpace(width_mult=0.25, max_depth=2, stages=((16, 1), (24, 2)), head_channels=32)
    out = make("proxyless", mobile, epochs=1).run()
    assert out.metrics["cost"] == "flops" and out.metrics["expected_flops"] > 0
    assert ONESHOT.create("proxyless", NB201Space(C=2, N=1), TASK).select == "magnitude"
    with pytest.raises(ConfigError, match="cost 'time'"):
        make("proxyless", cost="time")
    with pytest.raises(ConfigError, match="which a lookup table gives: hardware='lut'.*not 'measured'"):
        make("proxyless", cost="latency", hardware="measured")
    with pytest.raises(ConfigError, match="latency model of cost='latency'; with cost='auto' they would not be used"):
        make("proxyless", hardware_options={"backend": "onnxruntime"})
    with pytest.raises(ConfigError, match="weighting 'softmax'"):
        make("proxyless", weighting="softmax")


def test_proxyless_latency_cost_prices_each_candidate_by_the_lookup_table() -> None:
    from nasforge.oneshot.supernet import ChoiceOp
    from nasforge.testing import FakeLatencyTable

    space = MobileNetSpace(width_mult=0.25, max_depth=2, stages=((16, 1), (24, 2)), head_channels=32)
    costs = {}
    for weight in (0.0, 20.0):
        table = FakeLatencyTable()
        m = make("proxyless", space, epochs=3, cost="latency", cost_weight=weight, arch_lr=0.05, hardware=table)
        out = m.run()
        costs[weight] = float(m.expected_cost().detach())
        assert space.contains(out.arch) and out.metrics["cost"] == "latency"
        assert out.metrics["expected_latency_ms"] == pytest.approx(costs[weight])
        # the derived network by the same table, with the constant fitted on a measured network
        assert out.metrics["latency_ms"] == pytest.approx(table.latency(space, out.arch, TASK))
        assert table.constant == pytest.approx(0.25) and out.metrics["hardware"]["hardware"] == "lut"
        assert m.params()["hardware_options"] == {}
    # every candidate at its place is priced by its own table entry (here: a thousandth of a ms per weight)
    ops = {mod.key: mod for mod in m.supernet.modules() if isinstance(mod, ChoiceOp)}
    for key, c in m.candidate_costs():
        assert c.tolist() == pytest.approx([sum(p.numel() for p in op.parameters()) / 1000 for op in ops[key].ops])
    assert costs[20.0] < 0.9 * costs[0.0]
