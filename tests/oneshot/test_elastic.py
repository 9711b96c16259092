"""The elastic MobileNet supernet: shared weights (leading channels, centre kernels), extraction, superkernel mode."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from nasforge.data.task import Task
from nasforge.errors import ConfigError
from nasforge.evaluators.hardware import count_flops
from nasforge.oneshot.elastic import BlockGates, ElasticMobileNetSupernet
from nasforge.oneshot.methods import build_supernet
from nasforge.registry import SUPERNETS
from nasforge.spaces.mobilenet import MobileNetSpace
from nasforge.testing import check_supernet, tiny_task

TINY = tiny_task(n=60, classes=3, image=True)  # 1x4x4: the maps shrink to 1x1, so kernels barely matter
#: the same space as test_supernet.py's mobilenet case
SPACE = MobileNetSpace(width_mult=0.25, max_depth=2, stages=((16, 1), (24, 2)), head_channels=32)


def _image_task(n: int = 24, size: int = 8, channels: int = 3, classes: int = 3) -> Task:
    """Random images large enough (8x8 -> 4x4 maps) that every kernel tap of a 7x7 depthwise conv is used."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(n, channels, size, size)).astype(np.float32)
    y = (np.arange(n) % classes).astype(np.int64)
    return Task("img", X, y, X[:8], y[:8], X[:8], y[:8], classes, tuple(map(str, range(classes))))


TASK = _image_task()


@pytest.fixture(autouse=True)
def _one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _supernet(space: MobileNetSpace = SPACE, task: Task = TASK, seed: int = 0) -> ElasticMobileNetSupernet:
    """The supernet with its BatchNorm affine parameters and SE biases made random (so a wrong slice shows)."""
    sn = build_supernet(space, task, seed, kind="elastic")
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in sn.named_parameters():
            if not name.startswith("alphas") and (p.dim() == 1):
                p.add_(0.3 * torch.randn(p.shape, generator=gen))
    return sn


def _x(task: Task = TASK, n: int = 8) -> torch.Tensor:
    return torch.as_tensor(task.X_train[:n])


def _move_bn(sn: ElasticMobileNetSupernet, archs, X: torch.Tensor) -> None:
    sn.train()
    with torch.no_grad():
        for arch in archs:
            sn.set_arch(arch)
            sn(X)
    sn.eval()


#: blocks covering expansion 1 (no expand conv), SE, every kernel, residual and stride-2 blocks
MIXED_BLOCKS = [[[(3, 1, True), (5, 6, False)], [(7, 3, True), (3, 1, False)]],
                [[(7, 1, False)], [(5, 1, True)]],
                [[(3, 3, True), (7, 6, True)], [(5, 6, False)]]]


def test_registered_and_built_by_kind() -> None:
    assert "mobilenet:elastic" in SUPERNETS
    sn = build_supernet(SPACE, TINY, kind="elastic")
    assert isinstance(sn, ElasticMobileNetSupernet) and sn.supports_mixed is False
    assert [d.key for d in sn.decisions] == list(SPACE.layout.names)  # one decision per choice, layout order
    assert sn.controller.decisions["s0.b1.se"].options == ("False", "True")
    # one weight per block, not one per option
    assert sum(1 for n, _ in sn.named_parameters() if n.endswith("dw_conv.weight")) == 2 * 2
    assert sn.stages[0].blocks[0].dw_conv.weight.shape == (8 * 6, 1, 7, 7)


@pytest.mark.parametrize("task", [TINY, TASK], ids=["4x4", "8x8"])
def test_conformance_check(task) -> None:
    check_supernet(SPACE, task, n=6, kind="elastic")


def test_conformance_check_catches_a_wrong_kernel_crop() -> None:
    class LeadingCrop(ElasticMobileNetSupernet):
        def subnet_state_dict(self, arch, standalone):  # the top-left k x k instead of the centre
            out = super().subnet_state_dict(arch, standalone)
            mine = self.state_dict()
            for key, target in standalone.state_dict().items():
                src = self.map_key(arch, {}, key)
                if src.endswith("dw_conv.weight"):
                    k = target.shape[-1]
                    out[key] = mine[src][: target.shape[0], :, :k, :k].clone()
            return out

    SUPERNETS.register("mobilenet:elastic", LeadingCrop)
    try:
        with pytest.raises(AssertionError, match="single path"):
            check_supernet(SPACE, TASK, n=6, kind="elastic")
    finally:
        SUPERNETS.register("mobilenet:elastic", "nasforge.oneshot.elastic:ElasticMobileNetSupernet")


def test_path_equals_the_extracted_network_in_eval_and_training_mode() -> None:
    sn = _supernet()
    X = _x()
    rng = np.random.default_rng(1)
    archs = [SPACE.from_blocks(b) for b in MIXED_BLOCKS] + [sn.sample_arch(rng) for _ in range(6)]
    _move_bn(sn, archs[::-1], X)
    for arch in archs:
        sn.eval()
        sn.set_arch(arch)
        net = sn.extract(arch).eval()
        with torch.no_grad():
            assert float((sn(X) - net(X)).abs().max()) < 1e-5, arch
        # training mode: the same batch statistics, and the same running statistics afterwards
        sn.train()
        net.train()
        with torch.no_grad():
            gap = float((sn(X) - net(X)).abs().max())
        assert gap < 1e-4, arch
        after = sn.subnet_state_dict(arch, net)
        for key, value in net.state_dict().items():
            assert torch.allclose(after[key].float(), value.float(), atol=1e-5), (arch, key)


def test_extraction_slices_leading_channels_and_crops_the_centre_kernel() -> None:
    sn = _supernet()
    arch = SPACE.from_blocks(MIXED_BLOCKS[0])  # s0.b0: k3 e1 se; s0.b1: k5 e6; s1.b0: k7 e3 se; s1.b1: k3 e1
    net = sn.extract(arch)
    b0, b1 = sn.stages[0].blocks
    stand0, stand1 = net.stages[0]
    # e == 1: no expand conv, the depthwise conv reads the input; centre 3x3 of the 7x7 kernel
    assert len(stand0.body) == 3 + 1 + 2 and isinstance(stand0.body[0], torch.nn.Conv2d)
    assert torch.equal(stand0.body[0].weight, b0.dw_conv.weight[:8, :, 2:5, 2:5])
    assert torch.equal(stand0.body[3].reduce.weight, b0.se.reduce.weight[:, :8])
    assert torch.equal(stand0.body[3].expand.bias, b0.se.expand.bias[:8])
    assert torch.equal(stand0.body[4].weight, b0.project_conv.weight[:, :8])
    # e == 6, k == 5: the full expand conv, the centre 5x5
    assert torch.equal(stand1.body[0].weight, b1.expand_conv.weight[:48])
    assert torch.equal(stand1.body[3].weight, b1.dw_conv.weight[:, :, 1:6, 1:6])
    assert torch.equal(stand1.body[4].running_mean, b1.dw_bn.running_mean[:48])
    # the leading (top-left) crop is another network: its output differs from the path's
    _move_bn(sn, [arch], _x())
    sn.set_arch(arch)
    with torch.no_grad():
        ref = sn(_x())
        assert float((ref - sn.extract(arch).eval()(_x())).abs().max()) < 1e-5
        wrong = sn.extract(arch).eval()
        wrong.stages[0][0].body[0].weight.copy_(b0.dw_conv.weight[:8, :, :3, :3])
        assert float((ref - wrong(_x())).abs().max()) > 1e-3


def test_a_path_in_training_mode_moves_only_the_leading_slice_of_the_running_statistics() -> None:
    sn = _supernet()
    block = sn.stages[0].blocks[1]
    before_dw, before_exp = block.dw_bn.running_mean.clone(), block.expand_bn.running_mean.clone()
    sn.train()
    sn.set_arch(SPACE.from_blocks([[(3, 1, False), (3, 3, False)], [(3, 1, False)]]))
    with torch.no_grad():
        sn(_x())
    assert not torch.equal(block.dw_bn.running_mean[:24], before_dw[:24])
    assert torch.equal(block.dw_bn.running_mean[24:], before_dw[24:])
    assert not torch.equal(block.expand_bn.running_mean[:24], before_exp[:24])
    assert torch.equal(block.expand_bn.running_mean[24:], before_exp[24:])
    assert int(block.dw_bn.num_batches_tracked) == 1


def test_every_smaller_option_shares_the_weights_of_the_largest() -> None:
    sn = _supernet()
    small, large = sn.smallest_arch(), sn.largest_arch()
    w_before = sn.extract(large).stages[0][0].body[3].weight.clone()  # the largest arch's 7x7 depthwise kernel
    opt = torch.optim.SGD(sn.weight_parameters(), lr=0.5)
    sn.train()
    sn.set_arch(small)
    loss = torch.nn.functional.cross_entropy(sn(_x()), torch.as_tensor(TASK.y_train[:8]))
    loss.backward()
    assert all(a.grad is None for a in sn.arch_parameters())
    opt.step()
    w_after = sn.extract(large).stages[0][0].body[3].weight
    centre = (slice(0, 8), slice(None), slice(2, 5), slice(2, 5))  # the smallest: 3x3 centre, leading cin = 8
    assert not torch.equal(w_after[centre], w_before[centre])
    ring = w_after.clone() - w_before
    ring[centre] = 0.0
    assert float(ring.abs().max()) == 0.0  # the rest of the kernel, which the smallest arch does not use


def test_largest_and_smallest_archs_and_path_round_trip() -> None:
    sn = build_supernet(SPACE, TINY, kind="elastic")
    large, small = sn.largest_arch(), sn.smallest_arch()
    assert SPACE.contains(large) and SPACE.contains(small)
    assert SPACE.blocks(large) == [[(7, 6, True)] * 2] * 2 and SPACE.blocks(small) == [[(3, 1, False)]] * 2
    no_se = MobileNetSpace(width_mult=0.25, max_depth=2, stages=((16, 1), (24, 2)), head_channels=32,
                           se_options=(False,))
    assert SPACE.blocks(build_supernet(no_se, TINY, kind="elastic").largest_arch())[0][0] == (7, 6, False)
    rng = np.random.default_rng(0)
    for arch in [large, small] + [sn.sample_arch(rng) for _ in range(10)]:
        path = sn.path_of(arch)
        assert set(path) == set(arch.as_dict())  # blocks past a stage's depth are left out
        assert SPACE.key(sn.derive_from(path)) == SPACE.key(arch)
    assert SPACE.contains(sn.derive())


def test_mixed_mode_raises_a_clear_error() -> None:
    sn = build_supernet(SPACE, TINY, kind="elastic")
    for weighting in ("softmax", "gumbel"):
        sn.set_mixed(weighting)
        with pytest.raises(ConfigError, match=r"no mixed mode.*one sub-network at a time \(set_arch\).*superkernel"):
            sn(_x(TINY))
    sn.set_arch(sn.smallest_arch())
    assert sn(_x(TINY)).shape == (8, 3)


def _expand_above_one(space: MobileNetSpace, arch):
    return space.from_blocks([[(k, 3 if e == 1 else e, se) for k, e, se in stage] for stage in space.blocks(arch)])


def test_superkernel_of_hard_gates_equals_the_path() -> None:
    space = MobileNetSpace(width_mult=0.25, max_depth=3, stages=((16, 1), (24, 2)), head_channels=32)
    sn = _supernet(space)
    X = _x()
    rng = np.random.default_rng(2)
    archs = [space.from_blocks([[(5, 3, True)], [(3, 6, False), (7, 3, True), (5, 6, True)]]),
             space.from_blocks([[(7, 6, False), (3, 3, True)], [(3, 3, False)]])]
    archs += [_expand_above_one(space, sn.sample_arch(rng)) for _ in range(4)]
    _move_bn(sn, archs + [sn.largest_arch()], X)
    for arch in archs:
        sn.set_arch(arch)
        with torch.no_grad():
            path = sn(X)
        gates = sn.hard_gates(arch)
        sn.set_superkernel(gates)
        assert sn.mode == "superkernel"
        with torch.no_grad():
            sk = sn(X)
        assert float((sk - path).abs().max()) < 1e-5, arch
        assert space.key(sn.superkernel_arch(gates)) == space.key(arch)
    with pytest.raises(ValueError, match="expansion 1"):
        sn.hard_gates(sn.smallest_arch())


def test_superkernel_gates_get_gradients_and_set_arch_leaves_the_mode() -> None:
    space = MobileNetSpace(width_mult=0.25, max_depth=3, stages=((16, 1), (24, 2)), head_channels=32)
    sn = _supernet(space)
    arch = space.from_blocks([[(5, 3, True), (3, 6, False)], [(3, 6, False)]])
    gates = sn.hard_gates(arch, requires_grad=True)
    sn.train()
    sn.set_superkernel(gates)
    out = sn(_x())
    torch.nn.functional.cross_entropy(out, torch.as_tensor(TASK.y_train[:8])).backward()
    for g in gates.values():
        for t in [*g.kernel, *g.expand, g.se] + ([g.keep] if g.keep is not None else []):
            assert t.grad is not None
    assert float(gates["s0.b1"].keep.grad) != 0.0 and float(gates["s1.b0"].se.grad) != 0.0
    sn.set_arch(arch)
    assert sn.mode == "path"
    # a dropped middle block: the kept blocks' configurations follow in order
    g = sn.hard_gates(space.from_blocks([[(3, 3, False)], [(3, 6, False), (5, 3, True), (7, 6, True)]]))
    g["s1.b1"].keep = torch.tensor(0.0)
    assert space.blocks(sn.superkernel_arch(g))[1] == [(3, 6, False), (7, 6, True)]
    assert space.blocks(sn.superkernel_arch(g))[0] == [(3, 3, False)]


def test_superkernel_gate_validation() -> None:
    sn = build_supernet(SPACE, TINY, kind="elastic")
    gates = sn.hard_gates(sn.largest_arch())
    with pytest.raises(ConfigError, match="missing"):
        sn.set_superkernel({k: v for k, v in gates.items() if k != "s1.b1"})
    bad = dict(gates)
    bad["s0.b0"] = BlockGates(gates["s0.b0"].kernel[:1], gates["s0.b0"].expand, gates["s0.b0"].se)
    with pytest.raises(ConfigError, match="kernel gates"):
        sn.set_superkernel(bad)
    bad["s0.b0"] = BlockGates(gates["s0.b0"].kernel, gates["s0.b0"].expand, gates["s0.b0"].se, torch.tensor(1.0))
    with pytest.raises(ConfigError, match="keep gate"):
        sn.set_superkernel(bad)
    assert sn.mode == "mixed"  # a rejected set leaves the mode alone (a new supernet's controller is mixed)
    sn.set_superkernel(gates)
    assert sn.mode == "superkernel" and sn(_x(TINY)).shape == (8, 3)


@pytest.mark.parametrize("task", [TINY, TASK], ids=["4x4", "8x8"])
def test_arch_flops_are_the_stand_alone_networks(task) -> None:
    sn = build_supernet(SPACE, task, kind="elastic")
    rng = np.random.default_rng(3)
    for arch in [sn.largest_arch(), sn.smallest_arch()] + [sn.sample_arch(rng) for _ in range(3)]:
        assert sn.arch_flops(arch) == count_flops(SPACE.build(arch, task), task.input_shape)
    k3, k7 = sn.block_flops(0, 1, 3, 6, False), sn.block_flops(0, 1, 7, 6, False)
    assert 0 < k3 < k7 and sn.block_flops(0, 1, 3, 6, True) > k3
    assert 0 < sn.fixed_flops() < sn.arch_flops(sn.smallest_arch())


def test_path_accuracy_recalibrates_a_path_and_restores_superkernel_mode() -> None:
    from nasforge.oneshot.supernet import path_accuracy

    sn = _supernet()
    arch = SPACE.from_blocks(MIXED_BLOCKS[2])
    sn.set_superkernel(sn.hard_gates(arch))
    before = {k: v.clone() for k, v in sn.state_dict().items()}
    acc = path_accuracy(sn, arch, torch.as_tensor(TASK.X_val), torch.as_tensor(TASK.y_val),
                        X_calib=torch.as_tensor(TASK.X_train), calib_batches=2, batch_size=8)
    assert 0.0 <= acc <= 100.0
    assert sn.mode == "superkernel"  # the controller's mode is restored, and the gates were kept
    assert all(torch.equal(v, sn.state_dict()[k]) for k, v in before.items())
