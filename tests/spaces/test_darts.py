"""The DARTS cell space: validity, string forms, edge-level moves, and the network ``build`` makes."""

from __future__ import annotations

import io
import itertools
import subprocess
import sys
from collections import Counter

import numpy as np
import pytest

from nasforge.data.task import Task
from nasforge.spaces.base import Architecture, InvalidArchitectureError
from nasforge.spaces.darts import DARTS_OPS, DARTS_V2, DartsSpace
from nasforge.testing import check_space

SPACE = DartsSpace()
V2 = SPACE.from_string(DARTS_V2)
# DARTS V2 as the DARTS code prints it (nodes' pairs not in input order)
V2_GENOTYPE = (
    "Genotype(normal=[('sep_conv_3x3', 0), ('sep_conv_3x3', 1), ('sep_conv_3x3', 0), ('sep_conv_3x3', 1), "
    "('sep_conv_3x3', 1), ('skip_connect', 0), ('skip_connect', 0), ('dil_conv_3x3', 2)], "
    "normal_concat=[2, 3, 4, 5], reduce=[('max_pool_3x3', 0), ('max_pool_3x3', 1), ('skip_connect', 2), "
    "('max_pool_3x3', 1), ('max_pool_3x3', 0), ('skip_connect', 2), ('skip_connect', 2), "
    "('max_pool_3x3', 1)], reduce_concat=range(2, 6))")


def make_task(shape: tuple[int, ...], num_classes: int = 10) -> Task:
    X = np.zeros((2, *shape), np.float32)
    y = np.zeros(2, np.int64)
    return Task(name="t", X_train=X, y_train=y, X_val=X, y_val=y, X_test=X, y_test=y, num_classes=num_classes)


def edges(space: DartsSpace, arch: Architecture) -> Counter:
    """The multiset of (cell, node, input, op) edges."""
    geno = space.genotype(arch)
    return Counter((cell, i // 2, src, op) for cell, pairs in geno.items() for i, (op, src) in enumerate(pairs))


# -- the space ------------------------------------------------------------------------


def test_choices_and_size() -> None:
    names = [c.name for c in SPACE.choices]
    assert names[:4] == ["normal.n0.in0", "normal.n0.op0", "normal.n0.in1", "normal.n0.op1"]
    assert len(names) == 32 and names[-1] == "reduce.n3.op1"
    assert SPACE.layout.choice("reduce.n3.in0").options == (0, 1, 2, 3, 4)
    assert SPACE.layout.choice("normal.n2.op1").options == DARTS_OPS
    assert len(SPACE) == SPACE.size() == (1 * 3 * 6 * 10 * 8 ** 8) ** 2
    first = list(itertools.islice(SPACE.enumerate(), 50))
    assert len(set(first)) == 50 and all(SPACE.contains(a) for a in first)


def test_options_are_stored() -> None:
    assert SPACE.get_params() == {"C": 16, "layers": 8, "stem_multiplier": 3, "drop_path": 0.0}
    assert DartsSpace(C=8, layers=5, stem_multiplier=2, drop_path=0.2).get_params() == {
        "C": 8, "layers": 5, "stem_multiplier": 2, "drop_path": 0.2}


def test_importing_the_space_does_not_import_torch() -> None:
    code = "import sys, nasforge.spaces.darts; assert 'torch' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_meets_the_space_contract() -> None:
    check_space(DartsSpace(C=4, layers=3), n=20)


def test_inputs_must_differ_and_be_ordered() -> None:
    values = V2.as_dict()
    assert values["normal.n2.in0"] == 0 and values["normal.n2.in1"] == 1
    assert SPACE.is_valid(V2)
    for in0, in1 in [(1, 1), (1, 0)]:
        bad = dict(values, **{"normal.n2.in0": in0, "normal.n2.in1": in1})
        with pytest.raises(InvalidArchitectureError):
            SPACE.make(bad)
        assert not SPACE.contains(Architecture("darts", tuple(bad.items())))
    # the twin that swaps a node's two edges is the same network; only the ordered form is in the space
    swapped = dict(values, **{"reduce.n1.in0": 2, "reduce.n1.op0": "skip_connect",
                              "reduce.n1.in1": 1, "reduce.n1.op1": "max_pool_3x3"})
    assert not SPACE.contains(Architecture("darts", tuple(swapped.items())))
    assert SPACE.canonical(V2) == V2


def test_string_form_and_round_trips() -> None:
    assert str(V2) == SPACE.to_string(V2) == DARTS_V2
    assert SPACE.from_string(V2_GENOTYPE) == V2
    assert SPACE.from_json(SPACE.to_json(V2)) == V2
    assert SPACE.parse(DARTS_V2) == V2
    geno = SPACE.genotype(V2)
    assert geno["normal"][4:6] == [("skip_connect", 0), ("sep_conv_3x3", 1)]
    assert SPACE.from_genotype(geno["normal"], geno["reduce"]) == V2
    # whitespace and a different field separator are fine
    assert SPACE.from_string(DARTS_V2.replace(";", " , ").replace(",(", ", (")) == V2
    rng = np.random.default_rng(0)
    for _ in range(50):
        a = SPACE.sample(rng)
        assert SPACE.from_string(str(a)) == a


@pytest.mark.parametrize("text, message", [
    (DARTS_V2.replace("dil_conv_3x3", "sep_conv_7x7"), r"unknown op 'sep_conv_7x7' at node 3 of the normal cell"),
    (DARTS_V2.replace("(dil_conv_3x3,2)", "(dil_conv_3x3,6)"), r"node 3 of the normal cell takes input 6.*0\.\.4"),
    (DARTS_V2.replace("(skip_connect,0),(sep_conv_3x3,1)", "(skip_connect,0),(sep_conv_3x3,0)"),
     r"node 2 of the normal cell takes input 0 twice"),
    (DARTS_V2.replace(",(dil_conv_3x3,2)]", "]"), r"normal cell has 7 \(op, input\) pairs; expected 8"),
    (DARTS_V2.split(";")[0], r"no 'reduce' cell"),
    (DARTS_V2 + ";normal_concat=[2,3]", r"normal_concat=\[2,3\] is not supported"),
    (DARTS_V2.replace("normal=", "nromal="), r"bad field 'nromal=\["),
    (DARTS_V2.replace("(dil_conv_3x3,2)", "(dil_conv_3x3,x)"), r"bad input 'x' for op 'dil_conv_3x3'"),
    (DARTS_V2.replace("(dil_conv_3x3,2)", "dil_conv_3x3,2"), r"malformed normal cell"),
    (DARTS_V2 + ";" + DARTS_V2.split(";")[1], r"'reduce' given twice"),
    ("", r"no 'normal' cell"),
    ("|nor_conv_3x3~0|+|none~0|none~1|+|none~0|none~1|none~2|", r"bad field"),
])
def test_malformed_strings_name_the_problem(text: str, message: str) -> None:
    with pytest.raises(InvalidArchitectureError, match=message):
        SPACE.from_string(text)


# -- moves --------------------------------------------------------------------------------


def test_neighbors_are_the_136_single_edge_changes() -> None:
    nbs = SPACE.neighbors(V2)
    assert len(nbs) == len(set(nbs)) == 136  # per cell: 2 * (4 * 7) op changes + 2 * (0+1+2+3) source changes
    base = edges(SPACE, V2)
    for nb in nbs:
        diff = edges(SPACE, nb) - base
        assert sum(diff.values()) == 1 and sum((base - edges(SPACE, nb)).values()) == 1
    # replacing a node's smaller input by a larger one is one move (the pair is re-sorted):
    # normal node 3 is (skip_connect, 0), (dil_conv_3x3, 2); moving the skip to input 3 gives
    target = dict(V2.as_dict(), **{"normal.n3.in0": 2, "normal.n3.op0": "dil_conv_3x3",
                                   "normal.n3.in1": 3, "normal.n3.op1": "skip_connect"})
    assert SPACE.make(target) in nbs


def test_mutate_changes_one_edge_and_is_seeded() -> None:
    rng = np.random.default_rng(1)
    for _ in range(100):
        child = SPACE.mutate(V2, rng)
        assert SPACE.contains(child) and child != V2
        assert sum((edges(SPACE, child) - edges(SPACE, V2)).values()) == 1
    assert SPACE.mutate(V2, np.random.default_rng(5)) == SPACE.mutate(V2, np.random.default_rng(5))


def test_crossover_takes_whole_nodes() -> None:
    rng = np.random.default_rng(2)
    a, b = SPACE.sample(rng), SPACE.sample(rng)
    na, nb = SPACE._nodes(a), SPACE._nodes(b)
    for _ in range(20):
        child = SPACE.crossover(a, b, rng)
        assert SPACE.contains(child)
        assert all(n in (x, y) for n, x, y in zip(SPACE._nodes(child), na, nb))


def test_sample_covers_every_input_pair() -> None:
    rng = np.random.default_rng(3)
    pairs = Counter((a["reduce.n3.in0"], a["reduce.n3.in1"]) for a in (SPACE.sample(rng) for _ in range(500)))
    assert set(pairs) == set(itertools.combinations(range(5), 2))


# -- the network ------------------------------------------------------------------------

torch = pytest.importorskip("torch")


def n_params(model) -> int:
    return sum(p.numel() for p in model.parameters())


def test_darts_v2_parameter_count_is_the_papers() -> None:
    # DARTS (2nd order) on CIFAR-10: 36 channels, 20 cells, 3.3M parameters without the auxiliary head
    model = DartsSpace(C=36, layers=20).build(V2, make_task((3, 32, 32), 10))
    assert n_params(model) == 3_349_342


@pytest.mark.parametrize("layers, reductions", [(8, [2, 5]), (3, [1, 2]), (2, [0, 1]), (1, [0])])
def test_reduction_cells_and_channels(layers: int, reductions: list) -> None:
    model = DartsSpace(C=4, layers=layers).build(V2, make_task((3, 8, 8)))
    assert [i for i, c in enumerate(model.cells) if c.reduction] == reductions
    assert model.classifier.in_features == 4 * 4 * 2 ** len(reductions)


@pytest.mark.parametrize("shape, classes, C, layers", [
    ((1, 8, 8), 3, 4, 3), ((3, 17, 23), 7, 3, 4), ((3, 4, 4), 2, 2, 5), ((2, 12, 6), 10, 4, 2), ((3, 1, 1), 5, 2, 3),
])
def test_output_shape(shape: tuple[int, ...], classes: int, C: int, layers: int) -> None:
    space = DartsSpace(C=C, layers=layers)
    for seed in range(2):
        model = space.build(space.sample(np.random.default_rng(seed)), make_task(shape, classes))
        out = model(torch.randn(2, *shape))
        assert out.shape == (2, classes) and torch.isfinite(out).all()


def test_every_op_builds_in_both_cells() -> None:
    space = DartsSpace(C=2, layers=3)
    for op in DARTS_OPS:
        pairs = [(op, 0), (op, 1)] * 4
        model = space.build(space.from_genotype(pairs, pairs), make_task((1, 5, 5), 2))
        assert model(torch.randn(2, 1, 5, 5)).shape == (2, 2)


def test_tabular_task_is_refused() -> None:
    with pytest.raises(ValueError, match=r"\(8,\).*'mlp'"):
        DartsSpace(C=4, layers=3).build(V2, make_task((8,), 3))


@pytest.mark.parametrize("params, bad", [({"layers": 0}, "layers=0"), ({"C": -1}, "C=-1"),
                                         ({"drop_path": 1.0}, "drop_path=1.0")])
def test_bad_options_are_named_at_build(params: dict, bad: str) -> None:
    with pytest.raises(ValueError, match=bad):
        DartsSpace(**params).build(V2, make_task((3, 8, 8)))


def test_same_seed_same_network_and_outputs() -> None:
    space = DartsSpace(C=4, layers=3, drop_path=0.3)
    x = torch.randn(2, 3, 8, 8)
    outs, states = [], []
    for _ in range(2):
        torch.manual_seed(0)
        model = space.build(V2, make_task((3, 8, 8), 5))
        states.append(model.state_dict())
        outs.append(model(x))  # training mode: drop path draws from the seeded generator too
    assert all(torch.equal(states[0][k], states[1][k]) for k in states[0])
    assert torch.equal(outs[0], outs[1])


def test_drop_path_acts_only_in_training() -> None:
    torch.manual_seed(0)
    model = DartsSpace(C=4, layers=3, drop_path=0.5).build(V2, make_task((3, 8, 8), 5))
    assert model.drop_path_prob == 0.5
    x = torch.randn(4, 3, 8, 8)
    torch.manual_seed(1)
    a = model(x)
    torch.manual_seed(2)
    assert not torch.equal(a, model(x))
    model.eval()
    torch.manual_seed(1)
    e1 = model(x)
    torch.manual_seed(2)
    assert torch.equal(e1, model(x))


def test_backward_reaches_every_parameter() -> None:
    space = DartsSpace(C=4, layers=3)
    pairs = [("sep_conv_3x3", 0), ("dil_conv_5x5", 1), ("skip_connect", 0), ("sep_conv_5x5", 2),
             ("dil_conv_3x3", 1), ("skip_connect", 3), ("sep_conv_3x3", 2), ("max_pool_3x3", 4)]
    model = space.build(space.from_genotype(pairs, pairs), make_task((3, 8, 8), 3))
    loss = torch.nn.functional.cross_entropy(model(torch.randn(4, 3, 8, 8)), torch.tensor([0, 1, 2, 0]))
    loss.backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in model.parameters())


@pytest.fixture(scope="module")
def small_model():
    space = DartsSpace(C=4, layers=3)
    torch.manual_seed(0)
    model = space.build(V2, make_task((3, 9, 7), 5)).eval()
    gen = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.copy_(torch.rand(m.num_features, generator=gen) - 0.5)
                m.running_var.copy_(torch.rand(m.num_features, generator=gen) + 0.5)
        x = torch.randn(2, 3, 9, 7)
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
    path = tmp_path / "darts.onnx"
    torch.onnx.export(model, (x,), str(path), dynamo=False, input_names=["x"], output_names=["logits"])
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    out = session.run(None, {"x": x.numpy()})[0]
    np.testing.assert_allclose(out, ref.numpy(), atol=1e-4, rtol=0)


def test_factorized_reduce_is_darts_on_even_sizes_and_fits_odd_ones() -> None:
    from nasforge.spaces.nn import FactorizedReduce

    F = torch.nn.functional
    torch.manual_seed(0)
    m = FactorizedReduce(3, 6).eval()
    x = torch.randn(2, 3, 6, 10)
    r = F.relu(x)
    darts = m.bn(torch.cat([F.conv2d(r, m.conv_1.weight, stride=2),
                            F.conv2d(r[:, :, 1:, 1:], m.conv_2.weight, stride=2)], dim=1))
    torch.testing.assert_close(m(x), darts)
    assert m(torch.randn(2, 3, 5, 7)).shape == (2, 6, 3, 4)
