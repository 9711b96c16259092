"""A gradient-boosted trees regressor (scikit-learn), the surrogate of GBDT-NAS (Luo et al., 2020).

Trees suit one-hot architecture encodings: a split asks "is this edge a 3x3
convolution?", and the impurity-based ``feature_importances_`` say which of
those questions matter, which GBDT-NAS uses to prune the search space.
The model is :class:`sklearn.ensemble.GradientBoostingRegressor`: exact
splits and a single thread suit the few hundred rows a search produces (the
binned, multi-threaded ``HistGradientBoostingRegressor`` pays for its setup
on data this small and needs 20 rows per leaf by default). It is
deterministic for a given ``random_state``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from nasforge.options import check_int, check_number
from nasforge.predictors.base import (Predictor, check_xy, normalized,
                                      resolve_seed)


class GBDTRegressor(Predictor):
    """Boosted regression trees on encoded architectures."""

    name = "gbdt"

    def __init__(self, n_estimators: int = 100, max_depth: int = 3, learning_rate: float = 0.1,
                 subsample: float = 1.0, min_samples_leaf: int = 2, random_state: int | None = None) -> None:
        who = "GBDTRegressor"
        self.n_estimators = check_int("n_estimators", n_estimators, 1, who=who)
        self.max_depth = check_int("max_depth", max_depth, 1, who=who)
        self.learning_rate = check_number("learning_rate", learning_rate, 0.0, low_open=True, who=who)
        self.subsample = check_number("subsample", subsample, 0.0, 1.0, low_open=True, who=who)
        self.min_samples_leaf = check_int("min_samples_leaf", min_samples_leaf, 1, who=who)
        self.random_state = random_state
        self._model: Any = None

    def fit(self, X: np.ndarray, y: np.ndarray) -> "GBDTRegressor":
        X, y = check_xy(X, y, "GBDTRegressor")
        seed = resolve_seed(self.random_state)
        from sklearn.ensemble import GradientBoostingRegressor

        model = GradientBoostingRegressor(
            n_estimators=self.n_estimators, max_depth=self.max_depth, learning_rate=self.learning_rate,
            subsample=self.subsample, min_samples_leaf=self.min_samples_leaf, random_state=seed)
        self._model = model.fit(X, y)
        self.feature_importances_ = normalized(model.feature_importances_)
        return self

    def predict(self, X: np.ndarray) -> np.ndarray:
        if self._model is None:
            raise RuntimeError("GBDTRegressor: call fit before predict")
        return np.asarray(self._model.predict(np.asarray(X, dtype=np.float32)), dtype=np.float64)
