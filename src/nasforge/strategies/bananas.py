"""BANANAS: Bayesian optimisation with a neural-network ensemble predictor (White et al., AAAI 2021).

After ``n_init`` random architectures, each proposal is chosen in three steps:

1. *candidates*: ``n_candidates`` mutations (1 to ``mutations`` successive
   single-choice changes) of parents drawn from the ``n_parents`` best
   architectures so far, plus ``n_random`` random architectures for global
   exploration, keeping only architectures never told and not pending (by
   ``space.key``);
2. *predict*: an ensemble of ``n_members`` MLPs (:class:`~nasforge.predictors.MLPEnsemble`,
   ``epochs`` full-batch Adam steps, other settings through
   ``predictor_options``) trained on the results so far scores them, with
   the members' spread as uncertainty; the ensemble is refitted once
   ``refit_every`` new results have arrived since the last fit;
3. *acquire*: the candidate with the best acquisition value is proposed:
   ``'its'`` independent Thompson sampling (a draw from N(mean, std) per
   candidate, the paper's choice), ``'ts'`` Thompson sampling (the
   predictions of one ensemble member drawn at random), or ``'ucb'``
   (mean + ``kappa`` x std).

``encoding='path'`` trains the ensemble on the space's path encoding
(BANANAS's encoding for cell spaces, see :mod:`nasforge.predictors.encodings`)
when the space has one, and on one-hot ``space.encode`` otherwise.

The defaults were tuned on NAS-Bench-201 (seeds 1000+, see the figures in
the project's benchmark notes). The one that matters most is ``n_init``: with
10 random starts the search often settled in the basin of a mediocre cell
and stayed there, because the ensemble, trained on that basin only, cannot
see past it; 30 random starts give it a view of the whole space.

Determinism: the ensemble is fitted inside ``ask`` with a seed drawn from that
ask's ``rng``, on the results told so far, so replaying a history (its asks and
tells in order) refits at the same points with the same seeds.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from nasforge.options import check_choice, check_int, check_number
from nasforge.results import Result
from nasforge.spaces.base import Architecture, SearchSpace, sample_distinct
from nasforge.strategies.base import Strategy

ACQUISITIONS = ("its", "ts", "ucb")
#: random draws that find only taken architectures before the space's enumeration is consulted
UNSEEN_TRIES = 100


def check_options(name: str, value: Any) -> dict[str, Any]:
    """A dict of keyword options for a predictor (None means none)."""
    if value is None:
        return {}
    if not isinstance(value, dict) or not all(isinstance(k, str) for k in value):
        raise ValueError(f"{name} must be a dict of keyword options or None, got {value!r}")
    if "random_state" in value:
        raise ValueError(f"{name} must not set random_state: the strategy's seed fixes it")
    return dict(value)


def random_unseen(space: SearchSpace, rng: np.random.Generator, taken: set[str]) -> Architecture:
    """A random architecture whose key is not in ``taken`` (:func:`~nasforge.spaces.sample_distinct`), or a
    random repeat when none is left."""
    new = sample_distinct(space, 1, rng, taken, tries=UNSEEN_TRIES)
    return new[0] if new else space.sample(rng)


class History:
    """The results a predictor learns from: one row per distinct architecture that did not fail.

    A repeated architecture (a duplicate the study answered from its earlier
    result) adds no row, so the training set has no repeated rows.
    """

    def __init__(self, space: SearchSpace, encode: Any) -> None:
        self.space, self.encode = space, encode
        self.told: set[str] = set()   # every key told, failures included
        self.archs: list[Architecture] = []
        self.X: list[np.ndarray] = []
        self.y: list[float] = []
        self._rows: set[str] = set()

    def add(self, arch: Architecture, objective: float | None) -> None:
        key = self.space.key(arch)
        self.told.add(key)
        if objective is None or key in self._rows:
            return
        self._rows.add(key)
        self.archs.append(arch)
        self.X.append(np.asarray(self.encode(arch), dtype=np.float32))
        self.y.append(float(objective))

    def __len__(self) -> int:
        return len(self.y)

    def best(self, k: int) -> list[Architecture]:
        """The ``k`` best architectures (earlier first on ties)."""
        order = np.argsort(-np.asarray(self.y), kind="stable")[:k]
        return [self.archs[int(i)] for i in order]


class BANANAS(Strategy):
    """Neural-ensemble Bayesian optimisation over mutations of the best architectures (``bananas``)."""

    name = "bananas"

    def __init__(self, space: SearchSpace, seed: int | None = None, n_init: int = 30, n_candidates: int = 100,
                 n_parents: int = 10, mutations: int = 1, n_random: int = 0, acquisition: str = "its",
                 kappa: float = 1.0, encoding: str = "path", refit_every: int = 2, n_members: int = 5, epochs: int = 80,
                 predictor_options: dict[str, Any] | None = None) -> None:
        super().__init__(space, seed)
        from nasforge.predictors.encodings import ENCODINGS, encoder

        self.n_init = check_int("n_init", n_init, 0)
        self.n_candidates = check_int("n_candidates", n_candidates, 1)
        self.n_parents = check_int("n_parents", n_parents, 1)
        self.mutations = check_int("mutations", mutations, 1)
        self.n_random = check_int("n_random", n_random, 0)
        self.acquisition = check_choice("acquisition", acquisition, ACQUISITIONS)
        self.kappa = check_number("kappa", kappa, 0.0)
        self.encoding = check_choice("encoding", encoding, ENCODINGS)
        self.refit_every = check_int("refit_every", refit_every, 1)
        self.n_members = check_int("n_members", n_members, 1)
        self.epochs = check_int("epochs", epochs, 1)
        self.predictor_options = predictor_options
        try:  # fail now, naming the option, if predictor_options are wrong
            self._make_model(0)
        except TypeError as exc:
            raise ValueError(f"predictor_options {predictor_options!r} do not fit the predictor: {exc}") from None
        self._encode = encoder(space, self.encoding)
        self.history = History(space, self._encode)
        self.model: Any = None
        self._fitted_rows = 0

    # -- ask ----------------------------------------------------------------------
    def _ask(self, rng: np.random.Generator) -> Architecture:
        taken = self.history.told | set(self.pending)
        if self.n_asked < self.n_init or len(self.history) < 2:
            return random_unseen(self.space, rng, taken)
        candidates = self._candidates(rng, taken)
        if not candidates:  # the neighbourhood of the best is used up: explore
            return random_unseen(self.space, rng, taken)
        model = self._model(rng)
        X = np.stack([self._encode(a) for a in candidates])
        return candidates[int(np.argmax(self._acquire(model, X, rng)))]

    def _model(self, rng: np.random.Generator) -> Any:
        """The ensemble, refitted when ``refit_every`` new rows arrived since the last fit."""
        rows = len(self.history)
        if self.model is None or rows - self._fitted_rows >= self.refit_every:
            self.model = self._make_model(int(rng.integers(2**31)))
            self.model.fit(np.stack(self.history.X), np.asarray(self.history.y))
            self._fitted_rows = rows
        return self.model

    def _make_model(self, seed: int) -> Any:
        from nasforge.predictors.mlp import MLPEnsemble

        options = check_options("predictor_options", self.predictor_options)
        return MLPEnsemble(**{**options, "n_members": self.n_members, "epochs": self.epochs, "random_state": seed})

    def _candidates(self, rng: np.random.Generator, taken: set[str]) -> list[Architecture]:
        """Distinct, never-tried mutations of the best architectures, and random architectures."""
        parents = self.history.best(self.n_parents)
        out: list[Architecture] = []
        seen = set(taken)
        for _ in range(self.n_candidates):
            arch = parents[int(rng.integers(len(parents)))]
            for _ in range(int(rng.integers(1, self.mutations + 1))):
                arch = self.space.mutate(arch, rng)
            key = self.space.key(arch)
            if key not in seen:
                seen.add(key)
                out.append(arch)
        for _ in range(self.n_random):
            arch = self.space.sample(rng)
            key = self.space.key(arch)
            if key not in seen:
                seen.add(key)
                out.append(arch)
        return out

    def _acquire(self, model: Any, X: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        members = model.predict_members(X)
        if self.acquisition == "ts":
            return members[int(rng.integers(len(members)))]
        mean, std = members.mean(0), members.std(0)
        if self.acquisition == "ucb":
            return mean + self.kappa * std
        return mean + std * rng.standard_normal(len(mean))  # its

    # -- tell -----------------------------------------------------------------------
    def _tell(self, arch: Architecture, result: Result) -> None:
        self.history.add(arch, result.value)
