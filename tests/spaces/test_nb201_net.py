"""The trainable NAS-Bench-201 network: ``NB201Space.build`` sizes, wiring, determinism and export."""

from __future__ import annotations

import io
import subprocess
import sys

import numpy as np
import pytest

from nasforge.data.task import Task
from nasforge.spaces.nb201 import NB201_EDGES, NB201_OPS, NB201Space

torch = pytest.importorskip("torch")

MIXED = "|nor_conv_3x3~0|+|none~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_1x1~1|nor_conv_3x3~2|"


def make_task(shape: tuple[int, ...], num_classes: int = 10) -> Task:
    X = np.zeros((2, *shape), np.float32)
    y = np.zeros(2, np.int64)
    return Task(name="t", X_train=X, y_train=y, X_val=X, y_val=y, X_test=X, y_test=y, num_classes=num_classes)


def n_params(model) -> int:
    return sum(p.numel() for p in model.parameters())


def randomize_bn(model) -> None:
    """Non-trivial batch-norm statistics, so eval-mode comparisons exercise them."""
    gen = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.copy_(torch.rand(m.num_features, generator=gen) - 0.5)
                m.running_var.copy_(torch.rand(m.num_features, generator=gen) + 0.5)


@pytest.mark.parametrize("op, expected", [("nor_conv_3x3", 1_531_546), ("skip_connect", 73_306)])
def test_parameter_counts_are_the_benchmarks(op: str, expected: int) -> None:
    space = NB201Space()
    model = space.build(space.from_ops([op] * 6), make_task((3, 32, 32), 10))
    assert n_params(model) == expected


def test_options_are_stored_and_defaults_keep_the_space() -> None:
    assert NB201Space().get_params() == {"C": 16, "N": 5}
    small = NB201Space(C=4, N=1)
    assert small.get_params() == {"C": 4, "N": 1}
    assert len(small) == len(NB201Space()) == 15_625
    assert small.from_string(MIXED) == NB201Space().from_string(MIXED)


def test_importing_the_space_does_not_import_torch() -> None:
    code = "import sys, nasforge.spaces.nb201; assert 'torch' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)


@pytest.mark.parametrize("shape, classes", [((1, 8, 8), 3), ((3, 32, 32), 10), ((3, 17, 23), 7),
                                            ((2, 4, 4), 2), ((5, 9, 4), 1)])
def test_output_shape(shape: tuple[int, ...], classes: int) -> None:
    space = NB201Space(C=4, N=1)
    model = space.build(space.from_string(MIXED), make_task(shape, classes))
    out = model(torch.randn(3, *shape))
    assert out.shape == (3, classes)
    assert torch.isfinite(out).all()


def test_stages_and_channels() -> None:
    from nasforge.spaces.nn import NB201Cell, ResNetBasicBlock

    model = NB201Space(C=8, N=2).build(NB201Space().from_string(MIXED), make_task((3, 8, 8)))
    kinds = [type(c).__name__ for c in model.cells]
    assert kinds == ["NB201Cell"] * 2 + ["ResNetBasicBlock"] + ["NB201Cell"] * 2 + ["ResNetBasicBlock"] \
        + ["NB201Cell"] * 2
    assert isinstance(model.cells[2], ResNetBasicBlock) and isinstance(model.cells[0], NB201Cell)
    assert model.classifier.in_features == 32


def test_cell_wiring() -> None:
    from nasforge.spaces.nn import NB201Cell

    x = torch.randn(2, 3, 5, 5)
    # all skips: node1 = x, node2 = x + node1, node3 = x + node1 + node2 = 4x
    torch.testing.assert_close(NB201Cell(["skip_connect"] * 6, 3, NB201_EDGES)(x), 4 * x)
    # only the edge 3<-1 is live, through 1<-0: the cell is the identity
    ops = ["skip_connect", "none", "none", "none", "skip_connect", "none"]
    torch.testing.assert_close(NB201Cell(ops, 3, NB201_EDGES)(x), x)
    # an all-none cell outputs zeros of the input's shape
    out = NB201Cell(["none"] * 6, 3, NB201_EDGES)(x)
    assert out.shape == x.shape and not out.any()


def test_cell_wiring_follows_the_given_edges() -> None:
    from nasforge.spaces.nn import NB201Cell

    x = torch.randn(2, 3, 5, 5)
    # a 3-node chain 1<-0, 2<-1 of skips is the identity; with the edges reversed in the list it still is
    torch.testing.assert_close(NB201Cell(["skip_connect"] * 2, 3, [(1, 0), (2, 1)])(x), x)
    torch.testing.assert_close(NB201Cell(["skip_connect"] * 2, 3, [(2, 1), (1, 0)])(x), x)
    # 2<-0 and 2<-1 (through 1<-0): 2x
    torch.testing.assert_close(NB201Cell(["skip_connect"] * 3, 3, [(1, 0), (2, 0), (2, 1)])(x), 2 * x)
    with pytest.raises(ValueError, match="one op per edge"):
        NB201Cell(["skip_connect"] * 2, 3, NB201_EDGES)
    with pytest.raises(ValueError, match="node 1 .*no incoming edge"):
        NB201Cell(["skip_connect"], 3, [(2, 0)])


def test_nn_defines_every_op_the_spaces_name() -> None:
    from nasforge.spaces.darts import DARTS_OPS
    from nasforge.spaces.nn import DARTS_OP_MODULES, NB201_OP_MODULES, darts_op, nb201_op

    assert set(NB201_OP_MODULES) == set(NB201_OPS)
    assert set(DARTS_OP_MODULES) == set(DARTS_OPS)
    with pytest.raises(ValueError, match="unknown NB201 op 'conv_5x5'; known: none, skip_connect"):
        nb201_op("conv_5x5", 4)
    with pytest.raises(ValueError, match="unknown DARTS op 'conv'"):
        darts_op("conv", 4, 1)


def test_nn_imports_no_space_module() -> None:
    from nasforge.registry import SPACES

    entries = [SPACES._entries[n] for n in SPACES.list()]
    space_modules = sorted({e.partition(":")[0] if isinstance(e, str) else e.__module__ for e in entries})
    assert "nasforge.spaces.nb201" in space_modules and "nasforge.spaces.darts" in space_modules
    code = (f"import sys, nasforge.spaces.nn; bad = [m for m in {space_modules!r} if m in sys.modules]; "
            f"assert not bad, bad")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_all_none_network_ignores_its_input() -> None:
    space = NB201Space(C=4, N=1)
    model = space.build(space.from_ops(["none"] * 6), make_task((3, 8, 8), 4)).eval()
    with torch.no_grad():
        torch.testing.assert_close(model(torch.randn(2, 3, 8, 8)), model(torch.randn(2, 3, 8, 8)))


def test_tabular_task_is_refused() -> None:
    space = NB201Space(C=4, N=1)
    with pytest.raises(ValueError, match=r"\(8,\).*'mlp'"):
        space.build(space.from_string(MIXED), make_task((8,), 3))


@pytest.mark.parametrize("params, bad", [({"C": 0}, "C must be an integer >= 1, got 0"),
                                         ({"N": 2.5}, "N must be an integer >= 1, got 2.5")])
def test_bad_options_are_named_at_build(params: dict, bad: str) -> None:
    space = NB201Space(**params)
    with pytest.raises(ValueError, match=bad):
        space.build(space.from_string(MIXED), make_task((3, 8, 8)))


def test_same_seed_same_network_and_outputs() -> None:
    space = NB201Space(C=4, N=1)
    arch, task = space.from_string(MIXED), make_task((3, 8, 8), 5)
    x = torch.randn(2, 3, 8, 8)
    outs, states = [], []
    for _ in range(2):
        torch.manual_seed(0)
        model = space.build(arch, task)
        states.append(model.state_dict())
        outs.append(model(x))
    assert all(torch.equal(states[0][k], states[1][k]) for k in states[0])
    assert torch.equal(outs[0], outs[1])


def test_backward_reaches_every_parameter() -> None:
    space = NB201Space(C=4, N=1)
    model = space.build(space.from_ops(["nor_conv_3x3"] * 3 + ["nor_conv_1x1"] * 3), make_task((3, 8, 8), 3))
    loss = torch.nn.functional.cross_entropy(model(torch.randn(4, 3, 8, 8)), torch.tensor([0, 1, 2, 0]))
    loss.backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in model.parameters())


def test_every_op_builds() -> None:
    space = NB201Space(C=2, N=1)
    for op in NB201_OPS:
        model = space.build(space.from_ops([op] * 6), make_task((1, 4, 4), 2))
        assert model(torch.randn(2, 1, 4, 4)).shape == (2, 2)


@pytest.fixture(scope="module")
def small_model():
    space = NB201Space(C=4, N=1)
    torch.manual_seed(0)
    model = space.build(space.from_string(MIXED), make_task((3, 9, 7), 5)).eval()
    randomize_bn(model)
    x = torch.randn(2, 3, 9, 7)
    with torch.no_grad():
        return model, x, model(x)


def test_torchscript_trace_round_trip(small_model) -> None:
    model, x, ref = small_model
    buf = io.BytesIO()
    torch.jit.save(torch.jit.trace(model, (x,)), buf)
    buf.seek(0)
    with torch.no_grad():
        out = torch.jit.load(buf)(torch.clone(x))
    torch.testing.assert_close(out, ref, atol=1e-4, rtol=0)


def test_onnx_round_trip(small_model, tmp_path) -> None:
    pytest.importorskip("onnx")
    ort = pytest.importorskip("onnxruntime")
    model, x, ref = small_model
    path = tmp_path / "nb201.onnx"
    torch.onnx.export(model, (x,), str(path), dynamo=False, input_names=["x"], output_names=["logits"])
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    out = session.run(None, {"x": x.numpy()})[0]
    np.testing.assert_allclose(out, ref.numpy(), atol=1e-4, rtol=0)
