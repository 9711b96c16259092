"""Surrogate models: they learn, are deterministic for a seed, validate options, and report importances."""

from __future__ import annotations

from typing import Any, Callable

import numpy as np
import pytest
from scipy.stats import kendalltau

from nasforge.predictors import (PREDICTORS, GBDTRegressor, MLPEnsemble, PairwiseRanker, create_predictor)

FAST: dict[str, dict[str, Any]] = {
    "mlp_ensemble": {"n_members": 3, "epochs": 60},
    "gbdt": {"n_estimators": 40},
    "ranking": {"epochs": 60},
}


def one_hot_problem(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Four 4-way choices one-hot encoded; the objective is additive, dominated by choice 0."""
    rng = np.random.default_rng(seed)
    idx = rng.integers(4, size=(n, 4))
    X = np.zeros((n, 16), dtype=np.float32)
    X[np.arange(n)[:, None], idx + 4 * np.arange(4)] = 1.0
    weights = np.array([[0, 1, 2, 8], [0, 1, 0, 1], [1, 0, 0, 0], [0, 0, 1, 0]], dtype=float)
    y = weights[np.arange(4), idx].sum(1) + rng.normal(0, 0.1, n)
    return X, y


@pytest.fixture(scope="module")
def problem() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    X, y = one_hot_problem(200)
    return X[:80], y[:80], X[80:], y[80:]


@pytest.mark.parametrize("name", sorted(PREDICTORS))
def test_learns_the_order_of_held_out_rows(name: str, problem: Any) -> None:
    X, y, Xt, yt = problem
    model = create_predictor(name, random_state=0, **FAST[name]).fit(X, y)
    pred = model.predict(Xt)
    assert pred.shape == (len(Xt),)
    assert kendalltau(pred, yt)[0] > 0.6


@pytest.mark.parametrize("name", sorted(PREDICTORS))
def test_same_seed_same_model(name: str, problem: Any) -> None:
    X, y, Xt, _ = problem
    a = create_predictor(name, random_state=3, **FAST[name]).fit(X, y).predict(Xt)
    b = create_predictor(name, random_state=3, **FAST[name]).fit(X, y).predict(Xt)
    assert np.array_equal(a, b)


@pytest.mark.parametrize("name", ["mlp_ensemble", "ranking"])
def test_the_seed_sets_the_initialisation(name: str, problem: Any) -> None:
    X, y, Xt, _ = problem
    a = create_predictor(name, random_state=1, **FAST[name]).fit(X, y).predict(Xt)
    b = create_predictor(name, random_state=2, **FAST[name]).fit(X, y).predict(Xt)
    assert not np.array_equal(a, b)


@pytest.mark.parametrize("name", sorted(PREDICTORS))
def test_importances_point_at_the_dominant_choice(name: str, problem: Any) -> None:
    X, y, _, _ = problem
    imp = create_predictor(name, random_state=0, **FAST[name]).fit(X, y).feature_importances_
    assert imp.shape == (16,) and np.all(imp >= 0) and imp.sum() == pytest.approx(1.0)
    assert int(np.argmax(imp)) in (0, 1, 2, 3)  # the one-hot block of choice 0


def test_ensemble_gives_mean_and_spread(problem: Any) -> None:
    X, y, Xt, _ = problem
    model = MLPEnsemble(random_state=0, **FAST["mlp_ensemble"]).fit(X, y)
    members = model.predict_members(Xt)
    mean, std = model.predict_dist(Xt)
    assert members.shape == (3, len(Xt))
    assert np.allclose(mean, members.mean(0)) and np.allclose(model.predict(Xt), mean)
    assert np.all(std >= 0) and std.max() > 0
    # the targets are standardised for training and mapped back: predictions are on y's scale
    assert abs(float(mean.mean()) - float(y.mean())) < 1.0


def test_ranker_is_pairwise(problem: Any) -> None:
    X, y, Xt, yt = problem
    ranker = PairwiseRanker(loss="hinge", random_state=0, epochs=60).fit(X, y)
    i, j = int(np.argmax(yt)), int(np.argmin(yt))
    p = ranker.prefers(Xt[[i, j]], Xt[[j, i]])
    assert p[0] > 0.5 > p[1] and p[0] + p[1] == pytest.approx(1.0)


def test_ranker_ignores_ties() -> None:
    X = np.eye(4, dtype=np.float32)
    model = PairwiseRanker(tie=10.0, random_state=0, epochs=5).fit(X, np.array([0.0, 1.0, 2.0, 3.0]))
    assert model.predict(X).shape == (4,)  # no pair is a win beyond the tie: nothing to learn, no error


@pytest.mark.parametrize("cls", [MLPEnsemble, GBDTRegressor, PairwiseRanker])
def test_predict_before_fit(cls: Callable[..., Any]) -> None:
    with pytest.raises(RuntimeError, match="call fit before predict"):
        cls().predict(np.zeros((2, 3)))


@pytest.mark.parametrize(("cls", "options", "needle"), [
    (MLPEnsemble, {"n_members": 0}, "n_members must be an integer >= 1, got 0"),
    (MLPEnsemble, {"hidden": ()}, "hidden must be a non-empty sequence of positive layer widths"),
    (MLPEnsemble, {"hidden": (8, 0)}, "got \\(8, 0\\)"),
    (MLPEnsemble, {"loss": "huber"}, "loss must be one of mae, mse; got 'huber'"),
    (MLPEnsemble, {"lr": 0}, "lr must be a number > 0, got 0"),
    (MLPEnsemble, {"weight_decay": -1.0}, "weight_decay must be a number >= 0, got -1.0"),
    (GBDTRegressor, {"subsample": 1.5}, "GBDTRegressor: subsample must be a number > 0 and <= 1, got 1.5"),
    (GBDTRegressor, {"max_depth": 0}, "max_depth must be an integer >= 1, got 0"),
    (PairwiseRanker, {"loss": "mse"}, "loss must be one of logistic, hinge; got 'mse'"),
    (PairwiseRanker, {"margin": 0}, "margin must be a number > 0, got 0"),
])
def test_invalid_options(cls: Callable[..., Any], options: dict[str, Any], needle: str) -> None:
    with pytest.raises(ValueError, match=needle):
        cls(**options)


def test_invalid_training_data() -> None:
    with pytest.raises(ValueError, match="needs at least 2 training rows, got 1"):
        GBDTRegressor().fit(np.zeros((1, 3)), np.zeros(1))
    with pytest.raises(ValueError, match="X must be 2-D and y 1-D with as many rows"):
        MLPEnsemble().fit(np.zeros((4, 3)), np.zeros(5))
    with pytest.raises(ValueError, match="y must be finite"):
        PairwiseRanker().fit(np.zeros((2, 3)), np.array([1.0, np.nan]))
    with pytest.raises(ValueError, match="random_state must be a non-negative integer or None, got -1"):
        MLPEnsemble(random_state=-1).fit(np.zeros((2, 3)), np.zeros(2))


def test_unknown_predictor() -> None:
    with pytest.raises(ValueError, match="unknown predictor 'svm'; known: mlp_ensemble, gbdt, ranking"):
        create_predictor("svm")


def test_get_params_round_trip() -> None:
    model = PairwiseRanker(hidden=(8,), loss="hinge", random_state=5)
    assert PairwiseRanker(**model.get_params()).get_params() == model.get_params()


@pytest.mark.parametrize("name", ["mlp_ensemble", "ranking"])
def test_torch_models_train_on_one_thread_and_restore_the_setting(name: str, problem: Any) -> None:
    import torch

    X, y, Xt, _ = problem
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        with torch.no_grad():  # a caller's no_grad does not stop training
            a = create_predictor(name, random_state=0, **FAST[name]).fit(X, y).predict(Xt)
        assert torch.get_num_threads() == 2
        torch.set_num_threads(1)
        b = create_predictor(name, random_state=0, **FAST[name]).fit(X, y).predict(Xt)
    finally:
        torch.set_num_threads(before)
    assert np.array_equal(a, b)  # the same numbers whatever the thread setting
