"""The surrogate-model interface shared by the predictors, and small helpers.

A predictor learns from encoded architectures ``X`` (one row each) and their
objectives ``y`` (higher is better) and scores new rows: ``fit(X, y)``
returns the predictor, ``predict(X)`` a score per row. Regressors predict the
objective itself; a ranking predictor's score only orders rows like ``y``
does. Ensembles also give ``predict_dist(X) -> (mean, std)``. After ``fit``,
``feature_importances_`` (non-negative, summing to 1) says how much each
column of ``X`` matters to the model; search-space pruning uses it.

Constructors take plain keyword options stored unchanged (like the rest of
nasforge), and ``random_state`` (an int) fixes every random draw, so the
same data and seed give the same model.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from contextlib import contextmanager
from typing import Any, Iterator

import numpy as np


class Predictor(ABC):
    """Base class: ``fit(X, y) -> self``, ``predict(X) -> scores``; higher scores are better."""

    name: str = "predictor"
    feature_importances_: np.ndarray

    @abstractmethod
    def fit(self, X: np.ndarray, y: np.ndarray) -> "Predictor":
        """Learn from rows ``X`` (n x d) and objectives ``y`` (n,)."""

    @abstractmethod
    def predict(self, X: np.ndarray) -> np.ndarray:
        """A score per row of ``X``, ordered like the objective."""

    def get_params(self) -> dict[str, Any]:
        import inspect

        return {p: getattr(self, p) for p in list(inspect.signature(type(self).__init__).parameters)[1:]}


@contextmanager
def one_thread(torch: Any) -> Iterator[None]:
    """Run torch on one intra-op thread for the duration (restoring the setting afterwards).

    The surrogates are tiny: extra threads only add synchronisation, which
    turns into seconds per fit when the cores are shared (two search
    processes on two cores, measured at 25-60x slower). One thread also makes
    the numbers independent of the machine's thread setting, so a search
    resumed elsewhere refits the same models.
    """
    threads = torch.get_num_threads()
    if threads == 1:
        yield
        return
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def check_xy(X: Any, y: Any, who: str, minimum: int = 2) -> tuple[np.ndarray, np.ndarray]:
    """``X`` as a 2-D float array and ``y`` as a matching finite 1-D array, or ValueError."""
    X = np.asarray(X, dtype=np.float32)
    y = np.asarray(y, dtype=np.float64)
    if X.ndim != 2 or y.ndim != 1 or len(X) != len(y):
        raise ValueError(f"{who}: X must be 2-D and y 1-D with as many rows; got shapes {X.shape} and {y.shape}")
    if len(y) < minimum:
        raise ValueError(f"{who}: needs at least {minimum} training rows, got {len(y)}")
    if not np.all(np.isfinite(y)):
        raise ValueError(f"{who}: y must be finite")
    return X, y


def check_hidden(who: str, hidden: Any) -> tuple[int, ...]:
    try:
        sizes = tuple(hidden)
    except TypeError:
        sizes = ()
    if not sizes or any(isinstance(h, bool) or not isinstance(h, (int, np.integer)) or h < 1 for h in sizes):
        raise ValueError(f"{who}: hidden must be a non-empty sequence of positive layer widths, got {hidden!r}")
    return tuple(int(h) for h in sizes)


def resolve_seed(random_state: int | None) -> int:
    """``random_state`` itself, or a fresh seed when it is None."""
    if random_state is None:
        return int(np.random.SeedSequence().entropy % (2**31))
    if isinstance(random_state, bool) or not isinstance(random_state, (int, np.integer)) or random_state < 0:
        raise ValueError(f"random_state must be a non-negative integer or None, got {random_state!r}")
    return int(random_state) % (2**31)


def standardize(y: np.ndarray) -> tuple[np.ndarray, float, float]:
    """``(y - mean) / std`` with the mean and std (std 1 when ``y`` is constant)."""
    mu = float(np.mean(y))
    sd = float(np.std(y))
    if not sd > 1e-12:
        sd = 1.0
    return (y - mu) / sd, mu, sd


def normalized(importance: np.ndarray) -> np.ndarray:
    importance = np.nan_to_num(np.abs(np.asarray(importance, dtype=np.float64)))
    total = importance.sum()
    return importance / total if total > 0 else np.full(len(importance), 1.0 / max(len(importance), 1))
