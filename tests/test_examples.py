"""The spaces of ``examples/``: each is discovered from its file, builds networks that fit its task, and is
searched end to end (2 trials of 1 epoch); the module-choice CNN has a supernet that passes the contract."""

from __future__ import annotations

import csv
import importlib.util
from pathlib import Path

import numpy as np
import pytest
import torch

from nasforge import api
from nasforge.data import load_task
from nasforge.data.task import Task
from nasforge.spaces.user import UserSpace
from nasforge.testing import check_space, check_supernet, tiny_task

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def source(file: str, fn: str) -> str:
    return f"{EXAMPLES / file}:{fn}"


def sequence_task() -> Task:
    """A small learnable task shaped like MNIST-1D: inputs (1, 1, 40), 3 classes (MNIST-1D itself takes
    seconds to generate)."""
    t = tiny_task(n=90, features=40)
    return Task("tiny-seq", *(a.reshape(len(a), 1, 1, 40) if a.ndim == 2 else a
                              for a in (t.X_train, t.y_train, t.X_val, t.y_val, t.X_test, t.y_test)),
                num_classes=t.num_classes)


def wine_task(tmp_path: Path) -> Task:
    mlp_example = _load("mlp_space")
    return load_task(str(mlp_example.write_wine_csv(tmp_path / "wine.csv")), label_column="target")


def _load(stem: str):
    """The example file ``examples/<stem>.py`` imported as a module (for its helpers)."""
    spec = importlib.util.spec_from_file_location(f"example_{stem}", EXAMPLES / f"{stem}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def search_two(space: UserSpace, task: Task, **training) -> list:
    study = api.search(task=task, space=space, strategy="random", n_trials=2, seed=0, storage=None,
                       training_options={"epochs": 1, "device": "cpu", "measure_latency": False, **training})
    return study.trials


def assert_fits(space: UserSpace, task: Task, n: int = 6, batch: int = 5) -> None:
    """``n`` sampled architectures build and map a batch of the task's inputs to one score per class."""
    rng = np.random.default_rng(0)
    for _ in range(n):
        arch = space.sample(rng)
        model = space.build(arch, task).eval()
        with torch.no_grad():
            out = model(torch.randn(batch, *task.input_shape))
        assert out.shape == (batch, task.num_classes), space.to_string(arch)
        assert torch.isfinite(out).all(), space.to_string(arch)


# -- the CNN --------------------------------------------------------------------------------------
def test_cnn_space_discovers_conditional_blocks_and_fits_digits():
    digits = Task.shape_only("digits", (1, 8, 8), 10)
    sp = UserSpace(source("cnn_space.py", "cnn_space"), task=digits)
    when = {c.name: c.when for c in sp.choices}
    assert [c.name for c in sp.choices] == ["width", "blocks", "pool", "block0", "block1", "block2"]
    assert when["block0"] is None and when["block1"] == ("blocks", (2, 3)) and when["block2"] == ("blocks", (3,))
    assert sp.layout.choice("block0").options == ("conv3", "conv5", "sep3", "skip")
    assert sp.size() == 3 * 3 * (4 + 16 + 64)
    check_space(sp, n=20)
    assert_fits(sp, digits)
    big = sp.build(sp.make({"width": 32, "blocks": 3, "pool": "max", "block0": "sep3", "block1": "conv5",
                            "block2": "skip"}), digits)
    assert isinstance(big[2], torch.nn.MaxPool2d) and isinstance(big[4], torch.nn.Identity)


def test_cnn_space_search_on_digits():
    trials = search_two(UserSpace(source("cnn_space.py", "cnn_space"), task=load_task("digits")),
                        load_task("digits"))
    assert [t.status for t in trials] == ["complete", "complete"]
    assert all(0.0 <= t.metrics["val_acc"] <= 100.0 and t.metrics["params"] > 0 for t in trials)


def test_cnn_cells_has_a_supernet_that_matches_its_networks():
    task = tiny_task(image=True)  # 1x4x4 images
    sp = UserSpace(source("cnn_space.py", "cnn_cells"), task=task)
    assert all(c.when is None for c in sp.choices) and sp.size() == 4 * 3 * 4 * 4
    check_supernet(sp, task, n=4)
    assert_fits(sp, Task.shape_only("digits", (1, 8, 8), 10))
    assert_fits(sp, Task.shape_only("odd", (3, 7, 7), 5), n=3)  # the reductions agree on odd sizes
    assert [t.status for t in search_two(sp, task)] == ["complete", "complete"]


# -- the MLP --------------------------------------------------------------------------------------
def test_mlp_example_writes_the_wine_table(tmp_path):
    assert _load("mlp_space").main(["--make-csv", str(tmp_path / "t" / "wine.csv")]) == 0
    with open(tmp_path / "t" / "wine.csv", newline="") as fh:
        rows = list(csv.reader(fh))
    assert len(rows) == 179 and len(rows[0]) == 14 and rows[0][-1] == "target"
    assert {r[-1] for r in rows[1:]} == {"0", "1", "2"}


def test_mlp_space_widths_exist_by_depth_and_search_wine(tmp_path):
    wine = wine_task(tmp_path)
    assert wine.input_shape == (13,) and wine.num_classes == 3
    sp = UserSpace(source("mlp_space.py", "mlp_space"), task=wine)
    when = {c.name: c.when for c in sp.choices}
    assert when["layer0.width"] is None and when["layer1.width"] == ("depth", (2, 3))
    assert when["layer2.width"] == ("depth", (3,)) and sp.layout.choice("act").options == ("relu", "gelu", "tanh")
    assert sp.size() == 3 * 2 * 3 * (4 + 16 + 64)
    check_space(sp, n=20)
    assert_fits(sp, wine)
    net = sp.build(sp.make({"depth": 2, "act": "gelu", "norm": True, "dropout": 0.1, "layer0.width": 16,
                            "layer1.width": 64}), wine)
    kinds = [type(m).__name__ for m in net]
    assert kinds == ["Flatten", "Linear", "LayerNorm", "GELU", "Dropout", "Linear", "LayerNorm", "GELU", "Dropout",
                     "Linear"]
    trials = search_two(sp, wine, batch_size=16)
    assert [t.status for t in trials] == ["complete", "complete"]


# -- the transformer ------------------------------------------------------------------------------
def test_transformer_space_fits_mnist1d_shapes_and_searches():
    mnist1d = Task.shape_only("mnist1d", (1, 1, 40), 10)
    sp = UserSpace(source("transformer_space.py", "transformer_space"), task=mnist1d)
    assert [c.name for c in sp.choices] == ["patch", "dim", "heads", "layers", "ff_ratio", "pool"]
    assert sp.size() == 3 * 3 * 3 * 3 * 3 * 2
    assert_fits(sp, mnist1d)
    for pool, tokens in (("mean", 10), ("cls", 11)):
        net = sp.build(sp.make({"patch": 4, "dim": 16, "heads": 2, "layers": 2, "ff_ratio": 2, "pool": pool}),
                       mnist1d)
        assert net.position.shape == (1, tokens, 16) and len(net.encoder.layers) == 2
    seq = sequence_task()
    trials = search_two(UserSpace(source("transformer_space.py", "transformer_space"), task=seq), seq,
                        optimizer="adamw", lr=0.003)
    assert [t.status for t in trials] == ["complete", "complete"]


def test_transformer_refuses_a_patch_that_does_not_divide_the_sequence():
    odd = Task.shape_only("odd", (1, 1, 30), 10)  # 30 positions: patches of 4 and 8 do not fit
    sp = UserSpace(source("transformer_space.py", "transformer_space"), task=odd)
    assert sp.build(sp.make({"patch": 2, "dim": 16, "heads": 1, "layers": 1, "ff_ratio": 1, "pool": "mean"}), odd)
    with pytest.raises(ValueError, match="30 positions does not cut into patches of 4"):
        sp.build(sp.make({"patch": 4, "dim": 16, "heads": 1, "layers": 1, "ff_ratio": 1, "pool": "mean"}), odd)
