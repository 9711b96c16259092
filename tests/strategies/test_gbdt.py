"""GBDT-NAS search: conformance, search quality, options, the ranking surrogate and pruning."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from nasforge.predictors import GBDTRegressor, PairwiseRanker
from nasforge.results import Result
from nasforge.spaces.base import SearchSpace, categorical
from nasforge.spaces.nb201 import NB201Space
from nasforge.strategies.gbdt import GBDTSearch, sample_fixed
from nasforge.strategies.random import RandomSearch
from nasforge.testing import check_strategy, count_target_found, linear_evaluator, toy_space

CHEAP: dict[str, Any] = {"n_init": 5, "n_candidates": 40, "n_mutations": 10}
SMALL_MODEL = {"gbdt": {"n_estimators": 10}, "ranking": {"epochs": 10}}


def cheap(predictor: str = "gbdt", **options: Any) -> dict[str, Any]:
    return {**CHEAP, "predictor": predictor, "predictor_options": SMALL_MODEL[predictor], **options}


@pytest.mark.parametrize("options", [
    cheap(),
    cheap(prune=True, prune_after=8, refit_every=3),
    cheap("ranking", prune=True, prune_after=8, prune_top=1),
], ids=["gbdt", "gbdt-prune", "ranking-prune"])
def test_contract(options: dict[str, Any], nb201: NB201Space, tiny_space: SearchSpace) -> None:
    for space in (nb201, toy_space(), tiny_space):
        check_strategy(lambda sp, seed: GBDTSearch(sp, seed=seed, **options), space, linear_evaluator(space), n=20)


# -- search quality: the hidden-target space of test_search_quality.py ---------------------------

TARGET_SPACE = SearchSpace([categorical(f"c{i}", range(4)) for i in range(4)], name="hidden-target")


def successes(make: Any, budget: int = 40, seeds: range = range(20)) -> int:
    """The hidden-target test (:func:`nasforge.testing.count_target_found`) for ``make(seed)``."""
    return count_target_found(lambda space, seed: make(seed), seeds, budget)


@pytest.mark.parametrize("options", [{}, {"prune": True}, {"predictor": "ranking"}], ids=["gbdt", "prune", "ranking"])
def test_finds_the_target_far_more_often_than_random_search(options: dict[str, Any]) -> None:
    rand = successes(lambda seed: RandomSearch(TARGET_SPACE, seed=seed))
    ours = successes(lambda seed: GBDTSearch(TARGET_SPACE, seed=seed, n_candidates=200, **options))
    assert ours >= 2 * rand and ours >= 15, (ours, rand)


# -- options ----------------------------------------------------------------------------------------

@pytest.mark.parametrize(("options", "needle"), [
    ({"n_init": -1}, "n_init must be an integer >= 0, got -1"),
    ({"n_candidates": -5}, "n_candidates must be an integer >= 0, got -5"),
    ({"n_candidates": 0, "n_mutations": 0}, "the pool would be empty"),
    ({"n_parents": 0}, "n_parents must be an integer >= 1, got 0"),
    ({"refit_every": 0}, "refit_every must be an integer >= 1, got 0"),
    ({"predictor": "xgboost"}, "unknown predictor 'xgboost'; accepted: gbdt, ranking"),
    ({"prune": "yes"}, "prune must be true or false, got 'yes'"),
    ({"prune_top": 0}, "prune_top must be an integer >= 1, got 0"),
    ({"prune_after": 1}, "prune_after must be an integer >= 2, got 1"),
    ({"predictor_options": {"n_estimators": 0}}, "n_estimators must be an integer >= 1, got 0"),
    ({"predictor": "ranking", "predictor_options": {"n_estimators": 5}}, "do not fit the predictor"),
])
def test_invalid_option(options: dict[str, Any], needle: str, tiny_space: SearchSpace) -> None:
    with pytest.raises(ValueError, match=needle):
        GBDTSearch(tiny_space, seed=0, **options)


def test_options_are_stored_unchanged(tiny_space: SearchSpace) -> None:
    options = {"prune": True, "prune_top": 1, "predictor": "ranking", "predictor_options": {"epochs": 5}}
    params = GBDTSearch(tiny_space, seed=2, **options).get_params()
    assert {k: params[k] for k in options} == options
    assert GBDTSearch(tiny_space, **params).get_params() == params


# -- behaviour ----------------------------------------------------------------------------------

def run(strategy: GBDTSearch, steps: int, evaluate: Any) -> list:
    out = []
    for _ in range(steps):
        arch = strategy.ask()
        strategy.tell(arch, evaluate(arch))
        out.append(arch)
    return out


@pytest.mark.parametrize(("predictor", "cls"), [("gbdt", GBDTRegressor), ("ranking", PairwiseRanker)])
def test_proposes_the_pools_best_unseen(predictor: str, cls: type, nb201: NB201Space) -> None:
    evaluate = linear_evaluator(nb201)
    st = GBDTSearch(nb201, seed=1, refit_every=100, **{k: v for k, v in cheap(predictor).items()})
    run(st, 6, evaluate)
    st.ask()  # fits and fills the pool
    assert isinstance(st.model, cls)
    pool = list(st._pool)
    scores = st.model.predict(np.stack([nb201.encode(a) for a in pool]))
    assert np.all(np.diff(scores) <= 1e-12)  # best first
    keys = [nb201.key(st.ask()) for _ in range(10)]  # pending: taken in pool order, never twice
    assert keys == [nb201.key(a) for a in pool[:10]]


def test_pruning_fixes_the_dominant_choice() -> None:
    # choice c0 decides the score; c1..c3 add a little
    space = SearchSpace([categorical(f"c{i}", range(4)) for i in range(4)], name="dominant")

    def evaluate(arch: Any) -> Result:
        return Result(value=10.0 * (arch["c0"] == 2) + 0.1 * arch["c1"] + 0.01 * arch["c2"])

    st = GBDTSearch(space, seed=0, n_init=12, prune=True, prune_top=1, prune_after=12, n_mutations=0,
                    n_candidates=100)
    run(st, 12, evaluate)
    assert st.fixed == {}
    proposals = run(st, 10, evaluate)
    assert st.fixed == {"c0": 2}
    assert all(a["c0"] == 2 for a in proposals)


def test_sample_fixed_respects_conditional_choices() -> None:
    space = toy_space()
    rng = np.random.default_rng(0)
    for _ in range(30):
        arch = sample_fixed(space, {"se": True, "se_ratio": 0.5, "s0.depth": 3}, rng)
        assert arch["se"] is True and arch["se_ratio"] == 0.5 and arch["s0.depth"] == 3
        assert arch.get("s0.b2.kernel") is not None  # activated by the fixed depth, drawn
    # a fixed choice that is inactive is left out
    arch = sample_fixed(space, {"se": False, "se_ratio": 0.5}, rng)
    assert arch["se"] is False and arch.get("se_ratio") is None


def test_used_up_pool_is_redrawn_and_small_spaces_still_answer(tiny_space: SearchSpace) -> None:
    st = GBDTSearch(tiny_space, seed=0, **cheap())
    archs = run(st, 20, linear_evaluator(tiny_space))
    assert len({tiny_space.key(a) for a in archs[:9]}) == 9  # the 9 architectures first, then repeats
