"""The MobileNet (MBConv) space: choices, size, string form, stride fitting, networks and export.

Forward passes use small widths (``width_mult=0.25``, a 64-channel head) so the
file runs in a few seconds on CPU. Nothing here enumerates the default space
(about 1.9e30 architectures).
"""

from __future__ import annotations

import io
import json
import subprocess
import sys
import warnings

import numpy as np
import pytest

from nasforge.data.task import Task
from nasforge.spaces.base import InvalidArchitectureError
from nasforge.spaces.mobilenet import DEFAULT_STAGES, MobileNetSpace, fit_strides, make_divisible
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

SPACE = MobileNetSpace()
SMALL = MobileNetSpace(width_mult=0.25, head_channels=64)
TINY = MobileNetSpace(width_mult=0.25, head_channels=32, stages=((16, 1), (24, 2), (32, 2)), max_depth=2)


def make_task(shape: tuple[int, ...], num_classes: int = 10) -> Task:
    x = np.zeros((2, *shape), dtype=np.float32)
    y = np.zeros(2, dtype=np.int64)
    return Task("fake", x, y, x, y, x, y, num_classes=num_classes)


def blocks_arch(space: MobileNetSpace, depth: int, kernel: int = 3, expand: int = 6, se: bool = True):
    """Every stage ``depth`` blocks deep, every block the same."""
    return space.from_blocks([[(kernel, expand, se)] * depth for _ in space.stages])


def randomize_eval_stats(model) -> None:
    """Non-trivial BatchNorm statistics and a larger classifier, so export comparisons are not vacuous."""
    g = torch.Generator().manual_seed(1)
    for m in model.modules():
        if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
            m.running_mean.uniform_(-0.5, 0.5, generator=g)
            m.running_var.uniform_(0.5, 2.0, generator=g)
            m.weight.data.uniform_(0.5, 1.5, generator=g)
            m.bias.data.uniform_(-0.2, 0.2, generator=g)
        elif isinstance(m, torch.nn.Linear):
            m.weight.data.normal_(0.0, 1.0, generator=g)


# -- choices and size ------------------------------------------------------------------


def test_importing_the_space_does_not_import_torch() -> None:
    code = ("import sys, nasforge.spaces.mobilenet as m; m.MobileNetSpace(); "
            "assert 'torch' not in sys.modules, 'torch imported'")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_choice_names_and_options() -> None:
    names = [c.name for c in SPACE.choices]
    assert names[:4] == ["s0.depth", "s0.b0.kernel", "s0.b0.expand", "s0.b0.se"]
    assert len(names) == len(DEFAULT_STAGES) * (1 + 4 * 3)
    by = {c.name: c for c in SPACE.choices}
    assert by["s0.depth"].options == (1, 2, 3, 4)
    assert by["s5.b3.kernel"].options == (3, 5, 7)
    assert by["s2.b1.expand"].options == (1, 3, 6)
    assert by["s1.b0.se"].options == (False, True) and by["s1.b0.se"].when is None
    assert by["s1.b2.se"].when == ("s1.depth", (3, 4))


def test_size_is_closed_form_and_matches_enumeration_on_a_small_space() -> None:
    small = MobileNetSpace(stages=((16, 1), (24, 2)), max_depth=2, kernels=(3, 5), expand_ratios=(1, 6),
                           se_options=(False,))
    per_stage = 4 + 4 ** 2
    assert small.size() == len(small) == per_stage ** 2 == sum(1 for _ in small.enumerate())
    assert SPACE.size() == (18 + 18 ** 2 + 18 ** 3 + 18 ** 4) ** 6
    with pytest.raises(OverflowError, match="size()"):
        len(SPACE)


def test_depth_is_conditional() -> None:
    arch = blocks_arch(SPACE, 2)
    active = [name for name, _ in arch.choices if name.startswith("s0.")]
    assert active == ["s0.depth", "s0.b0.kernel", "s0.b0.expand", "s0.b0.se",
                      "s0.b1.kernel", "s0.b1.expand", "s0.b1.se"]
    assert int(SPACE.encode(arch).sum()) == 6 * (1 + 2 * 3)
    # mutating a depth up activates the new blocks' choices (first option in neighbours)
    deeper = [nb for nb in SPACE.neighbors(arch) if nb["s0.depth"] == 3]
    assert len(deeper) == 1
    assert (deeper[0]["s0.b2.kernel"], deeper[0]["s0.b2.expand"], deeper[0]["s0.b2.se"]) == (3, 1, False)
    rng = np.random.default_rng(0)
    grown = 0
    for _ in range(300):
        child = SPACE.mutate(arch, rng)
        for s in range(len(DEFAULT_STAGES)):
            d = child[f"s{s}.depth"]
            assert all(f"s{s}.b{b}.kernel" in child.as_dict() for b in range(d))
            assert f"s{s}.b{d}.kernel" not in child.as_dict()
            grown += d > 2
    assert grown > 0


def test_contract() -> None:
    check_space(SPACE, n=8)
    check_space(TINY, n=8)


def test_get_params_rebuilds_the_space() -> None:
    params = SMALL.get_params()
    assert params["width_mult"] == 0.25 and params["head_channels"] == 64 and params["stages"] == DEFAULT_STAGES
    assert MobileNetSpace(**params).choices == SMALL.choices
    # a configuration file holds the same arguments as JSON lists
    assert MobileNetSpace(**json.loads(json.dumps(params))).choices == SMALL.choices


# -- string form -------------------------------------------------------------------------


def test_string_form_round_trips() -> None:
    rng = np.random.default_rng(3)
    for _ in range(20):
        arch = SPACE.sample(rng)
        assert str(arch) == SPACE.to_string(arch)
        assert SPACE.from_string(str(arch)) == arch == SPACE.parse(SPACE.to_json(arch))
        generic = ",".join(f"{k}={v}" for k, v in arch.choices)
        assert SPACE.from_string(generic) == arch


def test_readable_string() -> None:
    text = "k3e1|k5e6se,k3e3|k7e6|k3e6,k3e6|k5e6se|k3e6"
    arch = SPACE.from_string(text)
    assert str(arch) == text
    assert arch["s1.depth"] == 2 and arch["s1.b0.se"] is True and arch["s1.b1.se"] is False
    assert SPACE.blocks(arch)[1] == [(5, 6, True), (3, 3, False)]


@pytest.mark.parametrize("text, fragment", [
    ("k3e1|k3e1", "2 stages"),
    ("k3e1|x3e6|k3e1|k3e1|k3e1|k3e1", "'x3e6'"),
    ("k3e1|k4e6|k3e1|k3e1|k3e1|k3e1", "4 is not an option of choice 's1.b0.kernel'"),
    ("k3e1|k3e2|k3e1|k3e1|k3e1|k3e1", "2 is not an option of choice 's1.b0.expand'"),
    ("k3e1|k3e1,k3e1,k3e1,k3e1,k3e1|k3e1|k3e1|k3e1|k3e1", "stage 1 has 5 blocks"),
    ("k3e1||k3e1|k3e1|k3e1|k3e1", "bad block ''"),
])
def test_bad_strings_name_the_problem(text: str, fragment: str) -> None:
    with pytest.raises(InvalidArchitectureError, match=fragment.replace("(", r"\(")):
        SPACE.from_string(text)


# -- stride fitting ----------------------------------------------------------------------


def test_fit_strides_keeps_floor_log2_reductions() -> None:
    plan = [2, 1, 2, 2, 2, 1, 2]
    assert fit_strides(plan, 8, 8) == [2, 1, 2, 2, 1, 1, 1]
    assert fit_strides(plan, 32, 32) == plan
    assert fit_strides(plan, 17, 23) == [2, 1, 2, 2, 2, 1, 1]
    assert fit_strides(plan, 3, 100) == [2, 1, 1, 1, 1, 1, 1]
    assert fit_strides(plan, 1, 1) == [1] * 7


@pytest.mark.parametrize("shape, size", [
    ((1, 8, 8), (1, 1)), ((3, 32, 32), (1, 1)), ((3, 17, 23), (2, 2)), ((3, 64, 64), (2, 2)),
    ((3, 224, 224), (7, 7)), ((1, 4, 6), (1, 2)), ((1, 1, 1), (1, 1)),
])
def test_final_feature_map(shape: tuple[int, int, int], size: tuple[int, int]) -> None:
    assert SMALL.feature_size(shape) == size
    model = SMALL.build(blocks_arch(SMALL, 1, se=False), make_task(shape)).eval()
    with torch.no_grad():
        assert tuple(model.features(torch.zeros(1, *shape)).shape[2:]) == size


def test_digits_keep_three_reductions() -> None:
    stem, stages = SPACE.strides((1, 8, 8))
    assert [stem, *stages].count(2) == 3 and (stem, stages) == (2, [1, 2, 2, 1, 1, 1])


# -- networks ---------------------------------------------------------------------------


@pytest.mark.parametrize("shape, classes", [
    ((1, 8, 8), 10), ((3, 32, 32), 100), ((3, 17, 23), 2), ((3, 64, 64), 7)])
def test_forward_shape(shape: tuple[int, int, int], classes: int) -> None:
    arch = SMALL.sample(np.random.default_rng(sum(shape)))
    model = SMALL.build(arch, make_task(shape, classes))
    model.train()
    assert model(torch.randn(3, *shape)).shape == (3, classes)
    model.eval()
    with torch.no_grad():
        assert model(torch.randn(1, *shape)).shape == (1, classes)


def test_channels_scale_with_width_mult() -> None:
    assert make_divisible(32 * 0.25) == 8 and make_divisible(24 * 0.35) == 8 and make_divisible(40 * 0.5) == 24
    assert SMALL.channels() == (8, [8, 8, 16, 24, 32, 40], 16)
    assert SPACE.channels() == (32, [16, 24, 40, 80, 112, 160], 1280)
    model = SMALL.build(blocks_arch(SMALL, 2, expand=3), make_task((3, 32, 32)))
    convs = [m for m in model.modules() if isinstance(m, torch.nn.Conv2d)]
    assert convs[0].out_channels == 8 and model.classifier.in_features == 16


def test_blocks_follow_the_architecture() -> None:
    arch = SMALL.from_string("k3e1|k5e6se,k7e3|k3e1|k3e1|k3e1|k3e1")
    model = SMALL.build(arch, make_task((3, 32, 32)))
    stage1 = list(model.stages[1])
    assert len(stage1) == 2 and len(model.stages[0]) == 1
    first, second = stage1
    depthwise = [m for m in first.modules() if isinstance(m, torch.nn.Conv2d) and m.groups > 1]
    assert depthwise[0].kernel_size == (5, 5) and depthwise[0].stride == (2, 2)
    assert depthwise[0].in_channels == 8 * 6
    assert any(type(m).__name__ == "SqueezeExcite" for m in first.modules())
    assert not any(type(m).__name__ == "SqueezeExcite" for m in second.modules())
    # residual only where stride 1 and channels match; expand 1 has no expansion conv
    assert not first.residual and second.residual
    assert model.stages[0][0].residual  # stride 1, 8 -> 8 channels (the stem is 8 wide at width 0.25)
    assert len([m for m in model.stages[0][0].modules() if isinstance(m, torch.nn.Conv2d)]) == 2


def test_tabular_task_is_rejected() -> None:
    with pytest.raises(ValueError, match=r"\(64,\).*'mlp'"):
        SMALL.build(SMALL.sample(np.random.default_rng(0)), make_task((64,)))


def test_foreign_architecture_is_rejected() -> None:
    arch = TINY.sample(np.random.default_rng(0))
    with pytest.raises(InvalidArchitectureError):
        SMALL.build(arch, make_task((3, 32, 32)))


def test_build_is_deterministic_under_manual_seed() -> None:
    arch = SMALL.sample(np.random.default_rng(5))
    task = make_task((3, 32, 32))
    torch.manual_seed(0)
    a = SMALL.build(arch, task)
    torch.manual_seed(0)
    b = SMALL.build(arch, task)
    for (ka, va), (kb, vb) in zip(a.state_dict().items(), b.state_dict().items()):
        assert ka == kb and torch.equal(va, vb)
    x = torch.randn(2, 3, 32, 32)
    assert torch.equal(a(x), b(x))


def test_backward_reaches_every_parameter() -> None:
    arch = SMALL.from_blocks([[(3, 3, True), (5, 6, True)]] * len(DEFAULT_STAGES))
    model = SMALL.build(arch, make_task((3, 16, 16), 5))
    loss = torch.nn.functional.cross_entropy(model(torch.randn(4, 3, 16, 16)), torch.tensor([0, 1, 2, 3]))
    loss.backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in model.parameters())


def test_dropout_is_applied() -> None:
    space = MobileNetSpace(width_mult=0.25, head_channels=32, stages=((16, 1),), max_depth=1, dropout=0.5)
    model = space.build(space.sample(np.random.default_rng(0)), make_task((3, 8, 8)))
    assert model.dropout.p == 0.5


def test_whole_model_pickles() -> None:
    model = TINY.build(TINY.sample(np.random.default_rng(0)), make_task((3, 16, 16))).eval()
    buf = io.BytesIO()
    torch.save(model, buf)
    buf.seek(0)
    again = torch.load(buf, weights_only=False)
    x = torch.randn(2, 3, 16, 16)
    with torch.no_grad():
        assert torch.equal(again(x), model(x))


def test_torchscript_and_onnx_match_pytorch(tmp_path) -> None:
    ort = pytest.importorskip("onnxruntime")
    pytest.importorskip("onnx")
    # SE on, residual blocks (depth 2), all kernels and expansion ratios
    arch = SMALL.from_string("k3e1se,k5e1|k7e6se,k3e3|k5e3,k7e6se|k3e6|k5e6se,k3e1|k7e3")
    model = SMALL.build(arch, make_task((3, 20, 20), 7)).eval()
    randomize_eval_stats(model)
    x = torch.randn(3, 3, 20, 20)
    with torch.no_grad():
        ref = model(x)
    assert ref.abs().max() > 0.1  # the comparison is not vacuous

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
    got = sess.run(None, {"input": x.numpy()})[0]
    np.testing.assert_allclose(got, ref.numpy(), atol=1e-4, rtol=0)
    one = sess.run(None, {"input": x[:1].numpy()})[0]  # dynamic batch
    np.testing.assert_allclose(one, ref[:1].numpy(), atol=1e-4, rtol=0)


# -- constructor validation ----------------------------------------------------------------


@pytest.mark.parametrize("kwargs, fragment", [
    ({"width_mult": 0}, "width_mult.*0"),
    ({"width_mult": "wide"}, "width_mult.*'wide'"),
    ({"max_depth": 0}, "max_depth.*0"),
    ({"max_depth": 2.5}, "max_depth.*2.5"),
    ({"dropout": 1.0}, "dropout.*1.0"),
    ({"dropout": -0.1}, "dropout.*-0.1"),
    ({"stages": ()}, r"stages.*\(\)"),
    ({"stages": ((16, 3),)}, r"\(16, 3\)"),
    ({"stages": ((0, 1),)}, r"\(0, 1\)"),
    ({"stages": (16, 24)}, "16"),
    ({"kernels": (3, 4)}, "kernels contains 4"),
    ({"kernels": (3, 3)}, "repeated"),
    ({"expand_ratios": (1, 0)}, "expand_ratios contains 0"),
    ({"se_options": ("yes",)}, "se_options contains 'yes'"),
    ({"head_channels": 0}, "head_channels.*0"),
    ({"stem_channels": -8}, "stem_channels.*-8"),
])
def test_bad_options_raise(kwargs: dict, fragment: str) -> None:
    with pytest.raises(ValueError, match=fragment):
        MobileNetSpace(**kwargs)


def test_signal_survives_initialisation() -> None:
    # depthwise fan-out counted per group: a deep, fresh network in eval mode does not output ~0
    torch.manual_seed(0)
    for arch in (blocks_arch(SMALL, 4, kernel=7, expand=6, se=True),
                 blocks_arch(SMALL, 4, kernel=3, expand=1, se=False)):
        model = SMALL.build(arch, make_task((3, 32, 32))).eval()
        with torch.no_grad():
            assert model.features(torch.randn(4, 3, 32, 32)).std() > 1e-3  # was ~1e-7 with torch defaults
