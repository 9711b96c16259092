"""Supernets: one path equals the stand-alone network, modes, selection rules, BatchNorm recalibration."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from nasforge.oneshot.methods import build_supernet, lr_at
from nasforge.oneshot.nets import DartsSupernet, NB201Supernet
from nasforge.oneshot.supernet import bn_snapshot, path_accuracy
from nasforge.registry import SUPERNETS
from nasforge.spaces.darts import DartsSpace
from nasforge.spaces.mlp import MLPSpace
from nasforge.spaces.mobilenet import MobileNetSpace
from nasforge.spaces.nb201 import NB201Space
from nasforge.testing import check_supernet, tiny_task

TASK = tiny_task(n=60, classes=3, image=True)

#: one small space per registered supernet (and the DARTS space with distinct cells)
SPACES = {
    "nb201": [NB201Space(C=4, N=1)],
    "darts": [DartsSpace(C=4, layers=3), DartsSpace(C=4, layers=3, distinct_cells=True)],
    "mobilenet": [MobileNetSpace(width_mult=0.25, max_depth=2, stages=((16, 1), (24, 2)), head_channels=32)],
    "mobilenet:elastic": [MobileNetSpace(width_mult=0.25, max_depth=2, stages=((16, 1), (24, 2)), head_channels=32)],
    "mlp": [MLPSpace(widths=(4, 8, 16), max_depth=3),
            MLPSpace(widths=(4, 8), max_depth=2, norms=("layernorm",), dropouts=(0.0, 0.5))],
}


def test_every_registered_supernet_is_checked() -> None:
    assert set(SUPERNETS.list()) == set(SPACES)


@pytest.mark.parametrize("name, space", [(n, s) for n, spaces in SPACES.items() for s in spaces],
                         ids=lambda x: x if isinstance(x, str) else
                         ("distinct" if getattr(x, "distinct_cells", False) else "default"))
def test_supernet_contract(name, space) -> None:
    check_supernet(space, TASK, n=4, kind=name.partition(":")[2] or None)


def test_mlp_supernet_on_a_tabular_task_and_its_widths_share_one_weight() -> None:
    space, task = MLPSpace(widths=(4, 8, 16), max_depth=2, norms=("batchnorm",)), tiny_task(n=60, features=5)
    check_supernet(space, task, n=10)
    sn = build_supernet(space, task)
    narrow = space.make({"depth": 1, "l0.width": 4, "act": "relu", "dropout": 0.0, "norm": "batchnorm"})
    net = sn.extract(narrow)
    assert torch.equal(net[1].weight, sn.linears[0].weight[:4, :5])  # the leading block of the widest layer
    assert torch.equal(net[-1].weight, sn.head.weight[:, :4])
    assert sn.linears[0].weight.shape == (16, 5)


def test_conformance_check_catches_a_wrong_weight_mapping() -> None:
    class Shifted(NB201Supernet):
        def path_of(self, arch):  # every edge reads the next operation's weights
            return {k: (i + 1) % len(self.ops_names) for k, i in super().path_of(arch).items()}

    SUPERNETS.register("nb201", Shifted)
    try:
        with pytest.raises(AssertionError, match="derive_from|single path|extract"):
            check_supernet(NB201Space(C=4, N=1), TASK, n=4)
    finally:
        SUPERNETS.register("nb201", "nasforge.oneshot.nets:NB201Supernet")


def _calls(sn):
    counts = {}

    def hook(name):
        def f(module, inp, out):
            counts[name] = counts.get(name, 0) + 1
        return f

    for name, m in sn.named_modules():
        if name.count(".ops.") == 1 and name.split(".ops.")[1].isdigit():
            m.register_forward_hook(hook(name))
    return counts


def test_path_mode_computes_only_the_path_and_mixed_mode_every_candidate() -> None:
    space = NB201Space(C=4, N=1)
    sn = build_supernet(space, TASK)
    x = torch.as_tensor(TASK.X_train[:4])
    counts = _calls(sn)
    sn.set_arch(space.from_ops(["nor_conv_3x3"] * 6))
    sn(x)
    assert len(counts) == 6 * 3 and all(n.endswith(".ops.3") for n in counts)  # 3 cells x 6 edges
    counts.clear()
    sn.set_mixed()
    sn(x)
    assert len(counts) == 6 * 3 * 5


def test_gumbel_mode_samples_one_candidate_per_decision_shared_by_the_cells() -> None:
    sn = build_supernet(NB201Space(C=4, N=1), TASK)
    sn.controller.generator = torch.Generator().manual_seed(0)
    counts = _calls(sn)
    sn.set_mixed("gumbel", tau=1.0)
    out = sn(torch.as_tensor(TASK.X_train[:4]))
    assert len(counts) == 6 * 3
    chosen = {n.split(".layers.")[1] for n in counts}  # "<edge>.ops.<i>": the same per edge in every cell
    assert len(chosen) == 6
    out.sum().backward()
    assert all(a.grad is not None and float(a.grad.abs().sum()) > 0 for a in sn.arch_parameters())


def test_max_w_weights_and_removed_fixed_and_off_decisions() -> None:
    sn = build_supernet(NB201Space(C=4, N=1), TASK)
    ctl = sn.controller
    with torch.no_grad():
        sn.alphas[0].copy_(torch.tensor([0.0, 1.0, 2.0, 0.5, -1.0]))
    sn.set_mixed("max-w")
    ctl.begin_forward()
    w = torch.softmax(torch.tensor([0.0, 1.0, 2.0, 0.5, -1.0]), 0)
    assert torch.allclose(ctl.get(ctl.keys[0]), 1 - w.max() + w)
    assert float(ctl.get(ctl.keys[0]).detach().max()) == pytest.approx(1.0)
    sn.set_mixed("softmax")
    ctl.removed[ctl.keys[0]] = 2
    ctl.fixed[ctl.keys[1]] = 4
    ctl.off.add(ctl.keys[2])
    ctl.begin_forward()
    w0 = ctl.get(ctl.keys[0]).detach()
    assert float(w0[2]) == 0.0 and float(w0[1]) > 0
    assert ctl.get(ctl.keys[1]) == 4 and ctl.get(ctl.keys[2]) is None
    # an edge that is off adds nothing: the network still runs
    assert sn(torch.as_tensor(TASK.X_train[:2])).shape == (2, 3)


def test_magnitude_rule_on_nb201_never_picks_excluded_and_takes_the_largest() -> None:
    space = NB201Space(C=4, N=1)
    sn = build_supernet(space, TASK)
    target = ["nor_conv_1x1", "skip_connect", "avg_pool_3x3", "nor_conv_3x3", "nor_conv_3x3", "nor_conv_1x1"]
    with torch.no_grad():
        for i, op in enumerate(target):
            sn.alphas[i].zero_()
            sn.alphas[i][0] = 5.0  # 'none' strongest everywhere
            sn.alphas[i][space_ops().index(op)] = 3.0
    assert space.ops(sn.derive()) == tuple(target)
    assert set(space.ops(sn.derive(keep_zero=True))) == {"none"}
    assert sn.param_free_fraction(sn.derive(keep_zero=True)) == 1.0


def space_ops():
    from nasforge.spaces.nb201 import NB201_OPS

    return list(NB201_OPS)


def test_darts_magnitude_rule_keeps_each_nodes_two_strongest_edges() -> None:
    space = DartsSpace(C=4, layers=3)
    sn: DartsSupernet = build_supernet(space, TASK)  # type: ignore[assignment]
    ctl = sn.controller
    with torch.no_grad():
        for i, key in enumerate(ctl.keys):
            sn.alphas[i].zero_()
        # node 2 of the normal cell: strongest inputs 3 (sep_conv_5x5) and 0 (dil_conv_3x3)
        for src, op, v in ((0, "dil_conv_3x3", 2.0), (1, "max_pool_3x3", 0.5), (3, "sep_conv_5x5", 4.0)):
            sn.alphas[ctl.index[DartsSupernet.edge_key("normal", 2, src)]][list(sn.ops_names).index(op)] = v
    geno = space.genotype(sn.derive())
    assert geno["normal"][4:6] == [("dil_conv_3x3", 0), ("sep_conv_5x5", 3)]
    assert len(sn.topology_groups()) == 8 and all(n == 2 for _, n in sn.topology_groups())


def test_path_accuracy_recalibrates_without_changing_the_supernet() -> None:
    space = NB201Space(C=4, N=1)
    sn = build_supernet(space, TASK)
    X = torch.as_tensor(TASK.X_train)
    sn.train()
    sn.set_mixed()
    sn(X)  # mixed-mode statistics
    before = {k: v.clone() for k, v in sn.state_dict().items()}
    arch = space.sample(np.random.default_rng(1))
    Xv, yv = torch.as_tensor(TASK.X_val), torch.as_tensor(TASK.y_val)
    a1 = path_accuracy(sn, arch, Xv, yv, X_calib=X)
    a2 = path_accuracy(sn, arch, Xv, yv, X_calib=X)
    assert a1 == a2
    assert all(torch.equal(before[k], v) for k, v in sn.state_dict().items())
    assert sn.controller.mode == "mixed"
    # recalibrated statistics are those of the path on the calibration data
    with bn_snapshot(sn):
        sn.set_arch(arch)
        from nasforge.oneshot.supernet import recalibrate_bn

        recalibrate_bn(sn, X, batches=1, batch_size=len(X))
        bn = sn.stem[1]
        expected = sn.stem[0](X).mean((0, 2, 3))
        assert torch.allclose(bn.running_mean, expected.detach(), atol=1e-5)
    with pytest.raises(ValueError, match="X_calib"):
        path_accuracy(sn, arch, Xv, yv)


def test_learning_rate_schedules() -> None:
    assert lr_at("cosine", 0, 100, 0.1, 0.001) == pytest.approx(0.1)
    assert lr_at("cosine", 100, 100, 0.1, 0.001) == pytest.approx(0.001)
    assert lr_at("cosine", 50, 100, 0.1, 0.001) == pytest.approx(0.0505)
    power = [lr_at("cosine-power", t, 100, 0.1, 0.001, power=10) for t in range(101)]
    assert power[0] == pytest.approx(0.1) and power[-1] == pytest.approx(0.001)
    assert all(a >= b for a, b in zip(power, power[1:]))
    # below cosine in the middle (it decays faster), and close to cosine as the power tends to 1
    assert power[50] < lr_at("cosine", 50, 100, 0.1, 0.001)
    assert lr_at("cosine-power", 30, 100, 0.1, 0.001, power=1.0001) == pytest.approx(
        lr_at("cosine", 30, 100, 0.1, 0.001), rel=1e-3)
    assert lr_at("constant", 70, 100, 0.1, 0.001) == 0.1
    assert math.isfinite(lr_at("cosine-power", 0, 0, 0.1, 0.0))


def test_a_space_without_a_supernet_is_a_clear_error() -> None:
    from nasforge.errors import ConfigError

    class Other(MLPSpace):
        name = "other"

    with pytest.raises(ConfigError,
                       match="space 'other' has no supernet 'other'; supernets: darts, mlp, mobilenet, mobilenet:elastic, nb201"):
        build_supernet(Other(), tiny_task())
