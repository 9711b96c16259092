"""Zero-cost proxies: known answers on tiny networks, determinism, data sources, failures."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn as nn

from nasforge.evaluators import zero_cost as zc
from nasforge.evaluators.zero_cost import (PROXY_NAMES, ProxyScorer, check_proxies, compute_proxies, naswot_kernel,
                                           proxy_batch)
from nasforge.spaces.nb201 import NB201Space


def _linear_net(w1: list[list[float]], w2: list[list[float]]) -> nn.Module:
    net = nn.Sequential(nn.Linear(len(w1[0]), len(w1), bias=False), nn.Linear(len(w2[0]), len(w2), bias=False))
    with torch.no_grad():
        net[0].weight.copy_(torch.tensor(w1))
        net[1].weight.copy_(torch.tensor(w2))
    return net


def test_params_and_flops_known_answers():
    net = nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 2, bias=False))
    x, y = torch.zeros(2, 4), torch.zeros(2, dtype=torch.long)
    assert zc.params(net, x, y) == 4 * 3 + 3 + 3 * 2
    assert zc.flops(net, x, y) == 2 * (4 * 3 + 3 * 2)  # a multiply-add is 2 FLOPs


def test_synflow_sign_and_scaling_on_a_linear_network():
    w1 = [[1.0, -2.0], [0.5, 3.0], [-1.0, 1.0]]
    w2 = [[2.0, -1.0, 0.5]]
    net = _linear_net(w1, w2)
    x, y = torch.randn(4, 2), torch.zeros(4, dtype=torch.long)
    # R = 1^T |W2| |W1| 1 is linear in each layer's weights, so each layer contributes R: synflow = 2 R
    R = float((np.abs(np.array(w2)) @ np.abs(np.array(w1)) @ np.ones(2))[0])
    assert zc.synflow(net, x, y) == pytest.approx(2 * R)
    assert zc.synflow(net, x, y) > 0  # signs do not matter: weights are taken in absolute value
    scaled = _linear_net([[3 * v for v in row] for row in w1], w2)
    assert zc.synflow(scaled, x, y) == pytest.approx(3 * 2 * R)
    # BatchNorm is removed (identity), whatever its statistics
    with_bn = nn.Sequential(net[0], nn.BatchNorm1d(3), net[1])
    with_bn[1].running_var.fill_(100.0)
    assert zc.synflow(with_bn, x, y) == pytest.approx(2 * R)


def test_naswot_kernel_and_score_on_hand_checked_patterns():
    K = naswot_kernel([np.array([[1, 0, 1], [1, 1, 0]])])
    assert K.tolist() == [[3, 1], [1, 3]]  # the two inputs agree on one of three units
    # Linear -> ReLU: pre-activations [1, -1, 0] -> code 100, [-1, 2, 1] -> code 011 (no unit agrees)
    net = nn.Sequential(nn.Linear(2, 3, bias=False), nn.ReLU())
    with torch.no_grad():
        net[0].weight.copy_(torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]]))
    x = torch.tensor([[1.0, -1.0], [-1.0, 2.0]])
    assert zc.naswot(net, x, torch.zeros(2, dtype=torch.long)) == pytest.approx(math.log(9.0))
    # two inputs with the same pattern make the kernel singular: NaN with the reason
    same = torch.tensor([[1.0, -1.0], [2.0, -2.0]])  # both code 100
    batch = zc.ProxyBatch(same, torch.zeros(2, dtype=torch.long), "noise", 0)
    values, _, errors = compute_proxies(net, batch, ["naswot"])
    assert math.isnan(values["naswot"]) and "singular" in errors["naswot"]


def test_gradient_proxies_match_a_hand_derivation():
    torch.manual_seed(0)
    lin = nn.Linear(3, 2, bias=False)
    x, y = torch.randn(5, 3), torch.tensor([0, 1, 1, 0, 1])
    W = lin.weight.detach().numpy().astype(np.float64)
    X = x.numpy().astype(np.float64)
    logits = X @ W.T
    p = np.exp(logits - logits.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    d = (p - np.eye(2)[y.numpy()]) / len(X)  # d(mean cross-entropy)/d(logits)
    G = d.T @ X
    assert zc.grad_norm(lin, x, y) == pytest.approx(np.linalg.norm(G), rel=1e-5)
    assert zc.snip(lin, x, y) == pytest.approx(np.abs(G * W).sum(), rel=1e-5)
    # fisher on the layer's output: 0.5 * mean_n (a * dL/da)^2 summed over outputs
    assert zc.fisher(lin, x, y) == pytest.approx(0.5 * ((logits * d) ** 2).mean(0).sum(), rel=1e-4)
    assert zc.l2_norm(lin, x, y) == pytest.approx(np.linalg.norm(W), rel=1e-6)
    # grasp = -w . (H g); for a linear softmax model H g follows from autograd twice: check the sign convention
    g = torch.autograd.grad(nn.functional.cross_entropy(lin(x), y), lin.weight, create_graph=True)[0]
    hg = torch.autograd.grad((g * g.detach()).sum(), lin.weight)[0]
    assert zc.grasp(lin, x, y) == pytest.approx(float(-(lin.weight * hg).sum()), rel=1e-5)


def test_jacob_cov_on_a_linear_model():
    net = _linear_net([[1.0, 2.0], [0.0, -1.0]], [[1.0, 1.0], [2.0, 0.0], [0.0, 1.0]])
    n = 4
    x = torch.randn(n, 2)
    # d(sum of outputs)/dx is the same row for every input: the correlation matrix is all ones,
    # eigenvalues n and 0 (n - 1 times)
    k = 1e-5
    expected = -((math.log(n + k) + 1 / (n + k)) + (n - 1) * (math.log(k) + 1 / k))
    assert zc.jacob_cov(net, x, torch.zeros(n, dtype=torch.long)) == pytest.approx(expected, rel=1e-4)


def test_zen_redraws_weights_so_only_the_architecture_counts():
    def net() -> nn.Module:
        return nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(), nn.AdaptiveAvgPool2d(1),
                             nn.Flatten(), nn.Linear(4, 2))

    torch.manual_seed(0)
    a = net()
    torch.manual_seed(1)
    b = net()
    x, y = torch.randn(8, 3, 6, 6), torch.zeros(8, dtype=torch.long)
    za, zb = zc.zen(a, x, y, seed=3), zc.zen(b, x, y, seed=3)
    assert za == pytest.approx(zb) and math.isfinite(za)
    assert zc.zen(a, x, y, seed=4) != pytest.approx(za)  # the Gaussian draws follow the seed


def test_proxies_leave_the_model_unchanged():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                        nn.Linear(4, 3))
    before = {k: v.clone() for k, v in net.state_dict().items()}
    batch = proxy_batch("noise", input_shape=(3, 8, 8), num_classes=3, batch_size=6)
    values, seconds, errors = compute_proxies(net, batch)
    assert list(values) == list(PROXY_NAMES) and set(seconds) == set(PROXY_NAMES) and not errors
    assert all(torch.equal(before[k], v) for k, v in net.state_dict().items())
    assert all(p.grad is None for p in net.parameters())


def test_shared_passes_give_the_values_of_single_proxies():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 36, 3))
    batch = proxy_batch("noise", input_shape=(3, 8, 8), num_classes=3, batch_size=6)
    together, _, _ = compute_proxies(net, batch, ["grad_norm", "snip", "fisher", "naswot", "jacob_cov"])
    for name in together:
        alone, _, _ = compute_proxies(net, batch, [name])
        assert alone[name] == pytest.approx(together[name], rel=1e-6)


def test_a_failing_proxy_is_nan_with_its_reason_and_the_rest_still_run():
    net = nn.Sequential(nn.Flatten(), nn.Linear(12, 3), nn.Tanh())  # no ReLU module
    batch = proxy_batch("noise", input_shape=(3, 2, 2), num_classes=3, batch_size=4)
    values, _, errors = compute_proxies(net, batch, ["naswot", "grad_norm", "jacob_cov"])
    assert math.isnan(values["naswot"]) and "nn.ReLU" in errors["naswot"]
    assert values["grad_norm"] > 0 and "grad_norm" not in errors
    assert math.isfinite(values["jacob_cov"]) and "jacob_cov" not in errors  # shares naswot's pass


def test_proxy_batches_and_their_errors():
    p = proxy_batch("patches", input_shape=(3, 32, 32), num_classes=10, batch_size=16, seed=1)
    assert tuple(p.inputs.shape) == (16, 3, 32, 32) and p.targets.max() < 10
    assert abs(float(p.inputs.mean())) < 1e-4 and p.describe()["data"] == "patches"
    assert torch.equal(p.inputs, proxy_batch("patches", input_shape=(3, 32, 32), num_classes=10, batch_size=16,
                                             seed=1).inputs)
    assert not torch.equal(p.inputs, proxy_batch("patches", input_shape=(3, 32, 32), num_classes=10,
                                                 batch_size=16, seed=2).inputs)
    with pytest.raises(ValueError, match="unknown proxy data source 'cifar'; accepted: task, patches, noise"):
        proxy_batch("cifar", input_shape=(3, 8, 8), num_classes=2)
    with pytest.raises(ValueError, match="3-channel"):
        proxy_batch("patches", input_shape=(1, 8, 8), num_classes=2)
    with pytest.raises(ValueError, match="needs a task"):
        proxy_batch("task", input_shape=(3, 8, 8), num_classes=2)
    with pytest.raises(ValueError, match=r"batch_size must be an integer >= 2 \(the kernels compare inputs\), got 1"):
        proxy_batch("noise", input_shape=(3, 8, 8), num_classes=2, batch_size=1)
    with pytest.raises(ValueError, match=r"unknown proxy name\(s\) \['synflo'\]; accepted: grad_norm"):
        check_proxies("synflo,naswot")
    assert check_proxies("all") == PROXY_NAMES


def test_task_batches_come_from_the_training_split():
    from nasforge.testing import tiny_task

    task = tiny_task()
    b = proxy_batch("task", task=task, batch_size=8, seed=0)
    rows = {tuple(r) for r in task.X_train.reshape(len(task.X_train), -1).round(5).tolist()}
    assert all(tuple(r) in rows for r in b.inputs.numpy().reshape(8, -1).round(5).tolist())


def test_scorer_is_deterministic_for_a_seed_and_caches():
    space = NB201Space(C=4, N=1)
    arch = space.from_string("|nor_conv_3x3~0|+|skip_connect~0|nor_conv_1x1~1|+|none~0|avg_pool_3x3~1|nor_conv_3x3~2|")
    kw = dict(proxies="naswot,snip,synflow", batch_size=8, input_shape=(3, 8, 8), num_classes=5)
    a, b = ProxyScorer(space, seed=0, **kw), ProxyScorer(space, seed=0, **kw)
    va, vb = a(arch), b(arch)
    assert va == vb and all(math.isfinite(v) for v in va.values())
    assert a(arch) == va and len(a.seconds["naswot"]) == 1  # cached: computed once
    assert ProxyScorer(space, seed=1, **kw)(arch)["snip"] != va["snip"]
    assert a.describe()["data"] == "patches" and a.describe()["batch_size"] == 8
    assert ProxyScorer(space, proxies="naswot", input_shape=(1, 8, 8), batch_size=4).data == "noise"
    with pytest.raises(ValueError, match="seed must be a non-negative integer"):
        ProxyScorer(space, seed=-1)
