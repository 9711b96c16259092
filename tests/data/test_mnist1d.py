"""The built-in MNIST-1D task: made locally by the mnist1d generator, seeded, one-row images the image spaces train on."""

from __future__ import annotations

import random
import socket
import sys

import numpy as np
import pytest

from nasforge.data import DataError, Task, list_datasets, load_task
from nasforge.errors import ConfigError

mnist1d_data = pytest.importorskip("mnist1d.data")


def _splits(task: Task) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    return {"train": (task.X_train, task.y_train), "val": (task.X_val, task.y_val), "test": (task.X_test, task.y_test)}


@pytest.fixture(scope="module")
def m1d() -> Task:
    return load_task("mnist1d")


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Any download, and any socket connection, raises."""
    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("network access attempted")

    monkeypatch.setattr(mnist1d_data, "get_dataset", refuse)
    monkeypatch.setattr(mnist1d_data.requests, "get", refuse)
    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


def test_listed() -> None:
    assert "mnist1d" in list_datasets()


def test_shapes_sizes_and_types(m1d: Task) -> None:
    assert m1d.name == "mnist1d" and m1d.input_shape == (1, 1, 40) and m1d.kind == "image"
    assert m1d.num_classes == 10 and m1d.classes == tuple(str(i) for i in range(10))
    assert (len(m1d.y_train), len(m1d.y_val), len(m1d.y_test)) == (3500, 750, 750)
    for X, y in _splits(m1d).values():
        assert X.dtype == np.float32 and y.dtype == np.int64 and X.shape == (len(y), 1, 1, 40)
        assert np.isfinite(X).all()
    assert m1d.info["source"] == "mnist1d.data.make_dataset"
    assert m1d.info["num_samples"] == 5000 and m1d.info["generator_seed"] == 42
    # standardised with training statistics: the training split has mean 0 and std 1
    assert abs(float(m1d.X_train.mean())) < 1e-4 and abs(float(m1d.X_train.std()) - 1) < 1e-3


def test_labels_balanced_in_every_split(m1d: Task) -> None:
    assert m1d.info["class_counts"] == {str(k): 500 for k in range(10)}
    for part, (_, y) in _splits(m1d).items():
        share = np.bincount(y, minlength=10) / len(y)
        np.testing.assert_allclose(share, 0.1, atol=0.005, err_msg=part)


def test_made_locally_without_network(no_network: None) -> None:
    task = load_task("mnist1d", options={"num_samples": 200})
    assert task.input_shape == (1, 1, 40) and len(task.y_train) + len(task.y_val) + len(task.y_test) == 200


def test_same_options_give_identical_arrays(m1d: Task) -> None:
    again = load_task("mnist1d", options={"num_samples": 5000, "generator_seed": 42}, seed=0)
    for (xa, ya), (xb, yb) in zip(_splits(m1d).values(), _splits(again).values()):
        np.testing.assert_array_equal(xa, xb)
        np.testing.assert_array_equal(ya, yb)


def test_generator_seed_changes_the_signals_and_split_seed_the_split() -> None:
    a = load_task("mnist1d", options={"num_samples": 500})
    b = load_task("mnist1d", options={"num_samples": 500, "generator_seed": 7})
    c = load_task("mnist1d", options={"num_samples": 500}, seed=1)
    assert not np.allclose(a.X_train, b.X_train)
    assert not np.array_equal(a.X_test, c.X_test)
    # the same pool of signals, split differently: the sorted raw values agree
    raw_a = load_task("mnist1d", options={"num_samples": 500}, normalize=False)
    raw_c = load_task("mnist1d", options={"num_samples": 500}, seed=1, normalize=False)
    pool = [np.sort(np.concatenate([t.X_train, t.X_val, t.X_test]).ravel()) for t in (raw_a, raw_c)]
    np.testing.assert_array_equal(*pool)


def test_global_random_state_left_alone() -> None:
    random.seed(123)
    np.random.seed(123)
    expected = (random.random(), np.random.random())
    random.seed(123)
    np.random.seed(123)
    load_task("mnist1d", options={"num_samples": 100, "generator_seed": 5})
    assert (random.random(), np.random.random()) == expected


def test_option_errors() -> None:
    with pytest.raises(ConfigError, match="multiple of 10"):
        load_task("mnist1d", options={"num_samples": 1234})
    with pytest.raises(ConfigError, match="num_samples"):
        load_task("mnist1d", options={"num_samples": 0})
    with pytest.raises(ConfigError, match=r"no option 'samples'; known: num_samples, generator_seed"):
        load_task("mnist1d", options={"samples": 100})
    with pytest.raises(ConfigError, match="no option 'num_samples'; known: none"):
        load_task("digits", options={"num_samples": 100})


def test_options_refused_for_files(tmp_path) -> None:
    path = tmp_path / "d.npz"
    np.savez(path, X=np.zeros((30, 4)), y=np.repeat(np.arange(3), 10))
    with pytest.raises(ConfigError, match="for built-in tasks"):
        load_task(str(path), options={"num_samples": 100})


def test_missing_package_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "mnist1d.data", None)  # import mnist1d.data now raises ImportError
    with pytest.raises(DataError, match=r"pip install 'nasforge\[mnist1d\]'"):
        load_task("mnist1d", options={"num_samples": 100})


@pytest.mark.parametrize("space,options", [("nb201", {"C": 4, "N": 1}), ("mobilenet", {"width_mult": 0.25,
                                                                                          "max_depth": 1}),
                                           ("darts", {"C": 4, "layers": 3})])
def test_image_spaces_build_on_one_row(m1d: Task, space: str, options: dict) -> None:
    import torch

    from nasforge.registry import create_space

    sp = create_space(space, **options)
    model = sp.build(sp.sample(np.random.default_rng(0)), m1d)
    out = model(torch.from_numpy(m1d.X_train[:8]))
    assert out.shape == (8, 10)
    out.logsumexp(1).sum().backward()


def test_a_convolutional_cell_learns_it() -> None:
    """A tiny real run: an all-3x3-convolution NB201 cell trained 4 epochs on 1,000 signals is far above chance."""
    import torch

    from nasforge.evaluators.training import TrainingEvaluator
    from nasforge.registry import create_space

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        task = load_task("mnist1d", options={"num_samples": 1000})
        sp = create_space("nb201", C=8, N=1)
        ev = TrainingEvaluator(task, sp, epochs=4, seed=0, device="cpu", measure_latency=False)
        result = ev.evaluate(sp.from_ops(["nor_conv_3x3"] * 6))
    finally:
        torch.set_num_threads(threads)
    assert result.status == "complete"
    assert result.metrics["val_acc"] > 30  # chance is 10 (it reaches about 50)


def test_search_and_retrain_by_name_through_the_api(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`--task mnist1d` end to end: the study records the name, and retrain rebuilds the task from it."""
    import torch

    from nasforge import api

    monkeypatch.chdir(tmp_path)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        storage = f"sqlite:///{tmp_path}/s.db"
        study = api.search(task="mnist1d", space="nb201", space_options={"C": 2, "N": 1},
                           training_options={"epochs": 1, "device": "cpu"}, strategy="random", n_trials=2,
                           seed=0, storage=storage, study="m")
        study.close()
        result = api.retrain("m", storage, epochs=1, device="cpu", baseline_random=2, seed=0)
    finally:
        torch.set_num_threads(threads)
    assert result["task"] == "mnist1d" and result["random_baseline"]["n"] == 2
    assert 0 <= result["test_acc"] <= 100 and result["random_baseline"]["sem_test_acc"] is not None
