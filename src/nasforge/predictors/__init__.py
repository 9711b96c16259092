"""Surrogate models used by predictor-guided strategies (BANANAS, GBDT-NAS) and their encodings.

All predictors share ``fit(X, y) -> self`` and ``predict(X) -> scores``
(higher is better); the MLP ensemble also gives ``predict_dist(X) -> (mean,
std)``. Heavy libraries (torch, scikit-learn) are imported only when a model
is fitted. :func:`create_predictor` builds one by name.
"""

from __future__ import annotations

from typing import Any

from nasforge.predictors.base import Predictor
from nasforge.predictors.encodings import ENCODINGS, PATH_ENCODINGS, encoder, has_path_encoding, nb201_paths
from nasforge.predictors.gbdt import GBDTRegressor
from nasforge.predictors.mlp import MLPEnsemble
from nasforge.predictors.ranking import PairwiseRanker

#: predictor name -> class
PREDICTORS: dict[str, type[Predictor]] = {
    "mlp_ensemble": MLPEnsemble,
    "gbdt": GBDTRegressor,
    "ranking": PairwiseRanker,
}


def create_predictor(name: str, **kwargs: Any) -> Predictor:
    """A predictor by name (``mlp_ensemble``, ``gbdt``, ``ranking``) with its keyword options."""
    if name not in PREDICTORS:
        raise ValueError(f"unknown predictor {name!r}; known: {', '.join(PREDICTORS)}")
    return PREDICTORS[name](**kwargs)


__all__ = ["ENCODINGS", "GBDTRegressor", "MLPEnsemble", "PATH_ENCODINGS", "PREDICTORS", "PairwiseRanker",
           "Predictor", "create_predictor", "encoder", "has_path_encoding", "nb201_paths"]
