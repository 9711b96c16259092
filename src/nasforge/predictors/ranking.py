"""A pairwise ranking surrogate: learn which of two architectures is better, not how good each is.

The idea of ReNAS (Xu et al., CVPR 2021) and CTNAS (Chen et al., CVPR 2021):
a search only needs the *order* of candidates, and an order is easier to
learn from few examples than accurate values. A small MLP scores one
encoded architecture; it is trained on every pair ``(a, b)`` of training
rows with ``y_a > y_b`` so that ``score(a) - score(b)`` is positive, with a
logistic loss ``log(1 + exp(-(s_a - s_b)))`` (RankNet) or a hinge loss
``max(0, margin - (s_a - s_b))``. Scoring each row separately keeps the
ranker antisymmetric and lets it sort any number of candidates in one pass.
Pairs whose objectives differ by less than ``tie`` (in standard deviations of
``y``) are ignored as noise.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from nasforge.options import check_int, check_number
from nasforge.predictors.base import (Predictor, check_hidden, check_xy,
                                      normalized, one_thread, resolve_seed, standardize)
from nasforge.predictors.mlp import adam, forward, init_layers, input_gradients

RANKING_LOSSES = ("logistic", "hinge")


class PairwiseRanker(Predictor):
    """An MLP scorer trained with a pairwise ranking loss; ``predict`` gives scores that order rows."""

    name = "ranking"

    def __init__(self, hidden: tuple[int, ...] = (32,), epochs: int = 150, lr: float = 0.01,
                 weight_decay: float = 1e-4, loss: str = "logistic", margin: float = 1.0, tie: float = 0.0,
                 random_state: int | None = None) -> None:
        who = "PairwiseRanker"
        self.hidden = check_hidden(who, hidden)
        self.epochs = check_int("epochs", epochs, 1, who=who)
        self.lr = check_number("lr", lr, 0.0, low_open=True, who=who)
        self.weight_decay = check_number("weight_decay", weight_decay, 0.0, who=who)
        if loss not in RANKING_LOSSES:
            raise ValueError(f"{who}: loss must be one of {', '.join(RANKING_LOSSES)}; got {loss!r}")
        self.loss = loss
        self.margin = check_number("margin", margin, 0.0, low_open=True, who=who)
        self.tie = check_number("tie", tie, 0.0, who=who)
        self.random_state = random_state
        self._params: list[Any] | None = None

    def fit(self, X: np.ndarray, y: np.ndarray) -> "PairwiseRanker":
        import torch

        X, y = check_xy(X, y, "PairwiseRanker")
        with one_thread(torch), torch.enable_grad():  # also when called under no_grad
            return self._fit(torch, X, y)

    def _fit(self, torch: Any, X: np.ndarray, y: np.ndarray) -> "PairwiseRanker":
        z, _, _ = standardize(y)
        better = torch.from_numpy((z[:, None] - z[None, :]) > max(self.tie, 1e-12))  # better[i, j]: i beats j
        gen = torch.Generator().manual_seed(resolve_seed(self.random_state))
        params = init_layers(torch, [X.shape[1], *self.hidden, 1], 1, gen)
        Xt = torch.from_numpy(X)
        opt = adam(torch, params, self.lr, self.weight_decay)
        if bool(better.any()):
            for _ in range(self.epochs):
                opt.zero_grad(set_to_none=True)
                s = forward(torch, params, Xt)[0]
                diff = (s[:, None] - s[None, :])[better]
                if self.loss == "logistic":
                    loss = torch.nn.functional.softplus(-diff).mean()
                else:
                    loss = torch.relu(self.margin - diff).mean()
                loss.backward()
                opt.step()
        self._params = [p.detach() for p in params]
        self.feature_importances_ = normalized(input_gradients(torch, self._params, Xt))
        return self

    def predict(self, X: np.ndarray) -> np.ndarray:
        import torch

        if self._params is None:
            raise RuntimeError("PairwiseRanker: call fit before predict")
        with torch.no_grad(), one_thread(torch):
            out = forward(torch, self._params, torch.from_numpy(np.asarray(X, dtype=np.float32)))
        return out[0].numpy().astype(np.float64)

    def prefers(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """How strongly each row of ``a`` is preferred to the matching row of ``b``: the logistic of
        the score gap, in (0, 1), above 0.5 when ``a`` ranks higher (the pairwise view of the model)."""
        gap = self.predict(a) - self.predict(b)
        return 1.0 / (1.0 + np.exp(-gap))
