"""The MLP space: choices, size, conditional depth, networks on tabular and image tasks, export."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import warnings

import numpy as np
import pytest

from nasforge.data.task import Task
from nasforge.spaces.mlp import ACTIVATIONS, NORMS, MLPSpace
from nasforge.testing import check_space

torch = pytest.importorskip("torch")


@pytest.fixture(autouse=True, scope="module")
def _one_torch_thread():
    """One intra-op thread: these nets are tiny, and two OpenMP threads on a busy 2-core machine
    spin against each other (measured 5-10x slower); restored afterwards."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)

SPACE = MLPSpace()


def make_task(shape: tuple[int, ...], num_classes: int = 3) -> Task:
    x = np.zeros((2, *shape), dtype=np.float32)
    y = np.zeros(2, dtype=np.int64)
    return Task("fake", x, y, x, y, x, y, num_classes=num_classes)


def arch_of(widths: list[int], act: str = "relu", dropout: float = 0.0, norm: str = "none", space=SPACE):
    values = {"depth": len(widths), **{f"l{i}.width": w for i, w in enumerate(widths)},
              "act": act, "dropout": dropout, "norm": norm}
    return space.make(values)


def test_importing_the_space_does_not_import_torch() -> None:
    code = "import sys, nasforge.spaces.mlp as m; m.MLPSpace(); assert 'torch' not in sys.modules, 'torch imported'"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_choices() -> None:
    by = {c.name: c for c in SPACE.choices}
    assert list(by) == ["depth", "l0.width", "l1.width", "l2.width", "l3.width", "act", "dropout", "norm"]
    assert by["depth"].options == (1, 2, 3, 4)
    assert by["l0.width"].options == (32, 64, 128, 256, 512) and by["l0.width"].when is None
    assert by["l2.width"].when == ("depth", (3, 4))
    assert by["act"].options == ACTIVATIONS == ("relu", "gelu", "tanh", "silu")
    assert by["dropout"].options == (0.0, 0.1, 0.3, 0.5)
    assert by["norm"].options == NORMS == ("none", "batchnorm", "layernorm")


def test_size_is_closed_form() -> None:
    assert len(SPACE) == SPACE.size() == (5 + 25 + 125 + 625) * 4 * 4 * 3
    small = MLPSpace(widths=(8, 16), max_depth=3, activations=("relu", "tanh"), dropouts=(0.0,))
    assert len(small) == (2 + 4 + 8) * 2 * 1 * 3 == sum(1 for _ in small.enumerate())


def test_depth_is_conditional() -> None:
    arch = arch_of([64, 128])
    assert [n for n, _ in arch.choices] == ["depth", "l0.width", "l1.width", "act", "dropout", "norm"]
    deeper = [nb for nb in SPACE.neighbors(arch) if nb["depth"] == 3]
    assert len(deeper) == 1 and SPACE.hidden_widths(deeper[0]) == [64, 128, 32]
    shallower = [nb for nb in SPACE.neighbors(arch) if nb["depth"] == 1]
    assert len(shallower) == 1 and SPACE.hidden_widths(shallower[0]) == [64]


def test_contract_and_string_forms() -> None:
    check_space(SPACE, n=20)
    arch = arch_of([64, 128], "gelu", 0.1, "layernorm")
    assert str(arch) == "depth=2,l0.width=64,l1.width=128,act=gelu,dropout=0.1,norm=layernorm"
    assert SPACE.parse(str(arch)) == arch == SPACE.parse(SPACE.to_json(arch))


def test_get_params_rebuilds_the_space() -> None:
    space = MLPSpace(widths=[16, 32], max_depth=2)
    assert space.get_params()["widths"] == [16, 32]
    assert MLPSpace(**space.get_params()).choices == space.choices
    assert MLPSpace(**json.loads(json.dumps(SPACE.get_params()))).choices == SPACE.choices


@pytest.mark.parametrize("shape, classes", [((13,), 3), ((1,), 2), ((64,), 10), ((1, 8, 8), 10), ((3, 5, 7), 4)])
def test_forward_shape(shape: tuple[int, ...], classes: int) -> None:
    arch = SPACE.sample(np.random.default_rng(len(shape) * 100 + classes))
    model = SPACE.build(arch, make_task(shape, classes))
    model.train()
    assert model(torch.randn(4, *shape)).shape == (4, classes)
    model.eval()
    with torch.no_grad():
        assert model(torch.randn(1, *shape)).shape == (1, classes)


def test_layers_follow_the_architecture() -> None:
    model = SPACE.build(arch_of([64, 32, 128], "silu", 0.3, "batchnorm"), make_task((3, 4, 4), 5))
    linears = [m for m in model if isinstance(m, torch.nn.Linear)]
    assert [(m.in_features, m.out_features) for m in linears] == [(48, 64), (64, 32), (32, 128), (128, 5)]
    assert sum(isinstance(m, torch.nn.BatchNorm1d) for m in model) == 3
    assert sum(isinstance(m, torch.nn.SiLU) for m in model) == 3
    assert [m.p for m in model if isinstance(m, torch.nn.Dropout)] == [0.3] * 3

    plain = SPACE.build(arch_of([32], "tanh", 0.0, "none"), make_task((7,)))
    assert [type(m).__name__ for m in plain] == ["Flatten", "Linear", "Tanh", "Linear"]
    ln = SPACE.build(arch_of([32], "gelu", 0.0, "layernorm"), make_task((7,)))
    assert [type(m).__name__ for m in ln] == ["Flatten", "Linear", "LayerNorm", "GELU", "Linear"]


def test_batchnorm_needs_more_than_one_sample_in_training_only() -> None:
    model = SPACE.build(arch_of([32], norm="batchnorm"), make_task((6,)))
    with pytest.raises(ValueError):
        model.train()(torch.randn(1, 6))
    with torch.no_grad():
        assert model.eval()(torch.randn(1, 6)).shape == (1, 3)


def test_build_is_deterministic_under_manual_seed() -> None:
    arch = arch_of([128, 64], "gelu", 0.0, "layernorm")
    torch.manual_seed(0)
    a = SPACE.build(arch, make_task((20,)))
    torch.manual_seed(0)
    b = SPACE.build(arch, make_task((20,)))
    for (ka, va), (kb, vb) in zip(a.state_dict().items(), b.state_dict().items()):
        assert ka == kb and torch.equal(va, vb)
    x = torch.randn(5, 20)
    assert torch.equal(a(x), b(x))


def test_backward_reaches_every_parameter() -> None:
    model = SPACE.build(arch_of([64, 32], "silu", 0.1, "batchnorm"), make_task((1, 8, 8), 10))
    loss = torch.nn.functional.cross_entropy(model(torch.randn(8, 1, 8, 8)), torch.arange(8))
    loss.backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in model.parameters())


def test_foreign_architecture_is_rejected() -> None:
    other = MLPSpace(widths=(7,))
    with pytest.raises(ValueError):
        SPACE.build(other.sample(np.random.default_rng(0)), make_task((4,)))


@pytest.mark.parametrize("act, norm", [("gelu", "layernorm"), ("silu", "batchnorm"), ("tanh", "none")])
def test_torchscript_and_onnx_match_pytorch(tmp_path, act: str, norm: str) -> None:
    ort = pytest.importorskip("onnxruntime")
    pytest.importorskip("onnx")
    model = SPACE.build(arch_of([64, 32], act, 0.3, norm), make_task((1, 8, 8), 10)).eval()
    g = torch.Generator().manual_seed(1)
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm1d):
            m.running_mean.uniform_(-0.5, 0.5, generator=g)
            m.running_var.uniform_(0.5, 2.0, generator=g)
    x = torch.randn(3, 1, 8, 8)
    with torch.no_grad():
        ref = model(x)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with torch.no_grad():
            traced = torch.jit.trace(model, x)
        buf = io.BytesIO()
        torch.jit.save(traced, buf)
        buf.seek(0)
        loaded = torch.jit.load(buf)
        torch.onnx.export(model, (x,), str(tmp_path / "m.onnx"), input_names=["input"], output_names=["logits"],
                          dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}}, dynamo=False)
    with torch.no_grad():
        assert torch.allclose(loaded(x), ref, atol=1e-4, rtol=0)
    sess = ort.InferenceSession(str(tmp_path / "m.onnx"), providers=["CPUExecutionProvider"])
    np.testing.assert_allclose(sess.run(None, {"input": x.numpy()})[0], ref.numpy(), atol=1e-4, rtol=0)
    np.testing.assert_allclose(sess.run(None, {"input": x[:1].numpy()})[0], ref[:1].numpy(), atol=1e-4, rtol=0)


@pytest.mark.parametrize("kwargs, fragment", [
    ({"widths": ()}, r"widths.*\(\)"),
    ({"widths": (32, 0)}, "widths contains 0"),
    ({"widths": (32, 32)}, "repeated"),
    ({"widths": 64}, "widths.*64"),
    ({"max_depth": 0}, "max_depth.*0"),
    ({"max_depth": True}, "max_depth.*True"),
    ({"activations": ("relu", "swish")}, "activations contains 'swish'.*relu, gelu, tanh, silu"),
    ({"dropouts": (0.0, 1.0)}, "dropouts contains 1.0"),
    ({"norms": ("groupnorm",)}, "norms contains 'groupnorm'.*none, batchnorm, layernorm"),
    ({"norms": "none"}, "norms.*'none'"),
])
def test_bad_options_raise(kwargs: dict, fragment: str) -> None:
    with pytest.raises(ValueError, match=fragment):
        MLPSpace(**kwargs)
