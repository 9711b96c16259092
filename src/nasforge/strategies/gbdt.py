"""GBDT-NAS: a gradient-boosted-trees predictor picks among sampled candidates (Luo et al., 2020).

After ``n_init`` random architectures, the predictor is fitted on the
results so far and scores a *pool* of ``n_candidates`` random architectures
(plus ``n_mutations`` mutations of the ``n_parents`` best, for local
refinement); asks then take the pool's best-scored architectures that were
never told and are not pending, until ``refit_every`` new results have
arrived, when the predictor is refitted and a fresh pool is drawn.

``predictor='gbdt'`` is :class:`~nasforge.predictors.GBDTRegressor` on the
one-hot encoding (the paper's setting); ``predictor='ranking'`` is the
pairwise ranking surrogate :class:`~nasforge.predictors.PairwiseRanker`
(ReNAS / CTNAS: it learns which of two architectures is better), so the same
search runs with either kind of surrogate.

Search-space pruning (``prune=True``, the idea of GBDT-NAS-3S, without its
SHAP values): once ``prune_after`` results are in, each refit ranks the
one-hot features by the predictor's ``feature_importances_`` (impurity
importance for trees; mean input gradient for the ranker), takes the choices
of the ``prune_top`` most important features, and fixes each of them to its
*best-performing value*, the option with the highest mean objective among
the results where that choice was active. The random part of the pool is
then sampled with those choices fixed (only the rest vary); mutations of the
best are left unpruned, so the search can still leave a wrongly pruned
region.

Determinism: fits and pools are made inside ``ask`` from that ask's ``rng``,
on the results told so far, so a replayed history rebuilds them exactly.
"""

from __future__ import annotations

from typing import Any, Hashable

import numpy as np

from nasforge.options import check_choice, check_int
from nasforge.results import Result
from nasforge.spaces.base import Architecture, InvalidArchitectureError, SearchSpace
from nasforge.spaces.layout import MISSING
from nasforge.strategies.bananas import History, check_options, random_unseen
from nasforge.strategies.base import Strategy

PREDICTORS = ("gbdt", "ranking")
#: the surrogates' settings unless ``predictor_options`` says otherwise
GBDT_DEFAULTS: dict[str, Any] = {"n_estimators": 50, "max_depth": 3, "learning_rate": 0.15}
RANKING_DEFAULTS: dict[str, Any] = {"epochs": 100}


def sample_fixed(space: SearchSpace, fixed: dict[str, Hashable], rng: np.random.Generator,
                 tries: int = 20) -> Architecture:
    """A random architecture with the choices in ``fixed`` set to their values where they are active.

    Falls back to an unconstrained sample when the fixed values make no valid
    architecture in ``tries`` attempts.
    """
    for _ in range(tries):
        drawn = space.sample(rng).as_dict()
        # the fixed values where active; the drawn ones elsewhere; choices a fixed value activates drawn afresh
        values = space.layout.complete({**drawn, **fixed}, rng)
        try:
            return space.make(values)
        except InvalidArchitectureError:
            continue
    return space.sample(rng)


class GBDTSearch(Strategy):
    """Predictor-guided sampling with a boosted-trees (or pairwise ranking) surrogate (``gbdt``)."""

    name = "gbdt"

    def __init__(self, space: SearchSpace, seed: int | None = None, n_init: int = 30, n_candidates: int = 1000,
                 n_mutations: int = 100, n_parents: int = 10, refit_every: int = 2, predictor: str = "gbdt",
                 prune: bool = False, prune_top: int = 2, prune_after: int = 30,
                 predictor_options: dict[str, Any] | None = None) -> None:
        super().__init__(space, seed)
        self.n_init = check_int("n_init", n_init, 0)
        self.n_candidates = check_int("n_candidates", n_candidates, 0)
        self.n_mutations = check_int("n_mutations", n_mutations, 0)
        if self.n_candidates + self.n_mutations == 0:
            raise ValueError("n_candidates and n_mutations are both 0: the pool would be empty; give either > 0")
        self.n_parents = check_int("n_parents", n_parents, 1)
        self.refit_every = check_int("refit_every", refit_every, 1)
        self.predictor = check_choice("predictor", predictor, PREDICTORS)
        if not isinstance(prune, (bool, np.bool_)):
            raise ValueError(f"prune must be true or false, got {prune!r}")
        self.prune = bool(prune)
        self.prune_top = check_int("prune_top", prune_top, 1)
        self.prune_after = check_int("prune_after", prune_after, 2)
        self.predictor_options = predictor_options
        try:  # fail now, naming the option, if predictor_options are wrong
            self._make_predictor(0)
        except TypeError as exc:
            raise ValueError(f"predictor_options {predictor_options!r} do not fit the predictor: {exc}") from None
        self.history = History(space, space.encode)
        self.model: Any = None
        self.fixed: dict[str, Hashable] = {}   # the pruned choices and their values
        self._pool: list[Architecture] = []   # best-scored first
        self._fitted_rows = 0
        # one-hot column -> choice name (the layout's columns, which SearchSpace.encode writes; a space
        # that encodes differently is searched unpruned, as its columns do not name choices)
        columns = space.layout.column_choices()
        self._column_choice = columns if len(columns) == space.encoding_size else None

    # -- ask ----------------------------------------------------------------------
    def _ask(self, rng: np.random.Generator) -> Architecture:
        taken = self.history.told | set(self.pending)
        if self.n_asked < self.n_init or len(self.history) < 2:
            return random_unseen(self.space, rng, taken)
        rows = len(self.history)
        if self.model is None or rows - self._fitted_rows >= self.refit_every:
            self._refit(rng)
        arch = self._next(taken)
        if arch is None:  # the pool is used up before the next refit: draw another
            self._fill_pool(rng, taken)
            arch = self._next(taken)
        return arch if arch is not None else random_unseen(self.space, rng, taken)

    def _next(self, taken: set[str]) -> Architecture | None:
        """The pool's best architecture not in ``taken`` (removed from the pool), or None."""
        while self._pool:
            arch = self._pool.pop(0)
            if self.space.key(arch) not in taken:
                return arch
        return None

    def _refit(self, rng: np.random.Generator) -> None:
        X, y = np.stack(self.history.X), np.asarray(self.history.y)
        self.model = self._make_predictor(int(rng.integers(2**31))).fit(X, y)
        self._fitted_rows = len(y)
        if self.prune and self._column_choice is not None and len(y) >= self.prune_after:
            self.fixed = self._pruned_choices()
        self._fill_pool(rng, self.history.told | set(self.pending))

    def _make_predictor(self, seed: int) -> Any:
        from nasforge.predictors import GBDTRegressor, PairwiseRanker

        options = check_options("predictor_options", self.predictor_options)
        if self.predictor == "gbdt":
            return GBDTRegressor(**{**GBDT_DEFAULTS, **options, "random_state": seed})
        return PairwiseRanker(**{**RANKING_DEFAULTS, **options, "random_state": seed})

    def _pruned_choices(self) -> dict[str, Hashable]:
        """The ``prune_top`` choices of the most important one-hot features, fixed to their best values."""
        fixed: dict[str, Hashable] = {}
        assert self._column_choice is not None
        for column in np.argsort(-self.model.feature_importances_, kind="stable"):
            name = self._column_choice[int(column)]
            if name in fixed:
                continue
            best = self._best_value(name)
            if best is not MISSING:
                fixed[name] = best
            if len(fixed) >= self.prune_top:
                break
        return fixed

    def _best_value(self, name: str) -> Any:
        """The option of choice ``name`` with the highest mean objective so far (MISSING if never active)."""
        totals: dict[Hashable, list[float]] = {}
        for arch, y in zip(self.history.archs, self.history.y):
            value = arch.get(name, MISSING)
            if value is not MISSING:
                totals.setdefault(value, []).append(y)
        if not totals:
            return MISSING
        return max(totals, key=lambda v: float(np.mean(totals[v])))

    def _fill_pool(self, rng: np.random.Generator, taken: set[str]) -> None:
        """Score fresh candidates and keep the unseen ones, best first."""
        seen = set(taken)
        cands: list[Architecture] = []

        def add(arch: Architecture) -> None:
            key = self.space.key(arch)
            if key not in seen:
                seen.add(key)
                cands.append(arch)

        stale = 0
        for _ in range(self.n_candidates):
            before = len(cands)
            add(sample_fixed(self.space, self.fixed, rng) if self.fixed else self.space.sample(rng))
            stale = stale + 1 if len(cands) == before else 0
            if stale >= 200:  # a small or mostly explored space: more draws would find nothing new
                break
        if self.n_mutations:
            parents = self.history.best(self.n_parents)
            for _ in range(self.n_mutations):
                add(self.space.mutate(parents[int(rng.integers(len(parents)))], rng))
        if not cands:
            self._pool = []
            return
        scores = self.model.predict(np.stack([self.space.encode(a) for a in cands]))
        self._pool = [cands[int(i)] for i in np.argsort(-scores, kind="stable")]

    # -- tell -----------------------------------------------------------------------
    def _tell(self, arch: Architecture, result: Result) -> None:
        self.history.add(arch, result.value)
