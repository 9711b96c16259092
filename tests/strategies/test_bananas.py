"""BANANAS: conformance, search quality, options, and the method's own behaviour."""

from __future__ import annotations

from typing import Any

import pytest

from nasforge.results import Result
from nasforge.spaces.base import SearchSpace, categorical
from nasforge.spaces.nb201 import NB201Space
from nasforge.strategies.bananas import BANANAS
from nasforge.strategies.random import RandomSearch
from nasforge.testing import check_strategy, count_target_found, linear_evaluator, toy_space

#: small models keep the conformance runs fast; they still fit and use the ensemble
CHEAP: dict[str, Any] = {"n_init": 5, "n_members": 2, "epochs": 10, "n_candidates": 20}


@pytest.mark.parametrize("options", [
    {},
    {"acquisition": "ts", "encoding": "onehot"},
    {"acquisition": "ucb", "kappa": 2.0, "n_random": 5, "mutations": 2, "refit_every": 3},
], ids=["its-path", "ts-onehot", "ucb-random"])
def test_contract(options: dict[str, Any], nb201: NB201Space, tiny_space: SearchSpace) -> None:
    for space in (nb201, toy_space(), tiny_space):
        check_strategy(lambda sp, seed: BANANAS(sp, seed=seed, **CHEAP, **options), space,
                       linear_evaluator(space), n=20)


# -- search quality: the hidden-target space of test_search_quality.py ---------------------------

TARGET_SPACE = SearchSpace([categorical(f"c{i}", range(4)) for i in range(4)], name="hidden-target")


def successes(make: Any, budget: int = 40, seeds: range = range(20)) -> int:
    """The hidden-target test (:func:`nasforge.testing.count_target_found`) for ``make(seed)``."""
    return count_target_found(lambda space, seed: make(seed), seeds, budget)


def test_finds_the_target_far_more_often_than_random_search() -> None:
    rand = successes(lambda seed: RandomSearch(TARGET_SPACE, seed=seed))
    ours = successes(lambda seed: BANANAS(TARGET_SPACE, seed=seed))  # defaults: 30 random, then 10 guided
    assert ours >= 2 * rand and ours >= 15, (ours, rand)


# -- options ----------------------------------------------------------------------------------------

@pytest.mark.parametrize(("options", "needle"), [
    ({"n_init": -1}, "n_init must be an integer >= 0, got -1"),
    ({"n_candidates": 0}, "n_candidates must be an integer >= 1, got 0"),
    ({"n_parents": 1.5}, "n_parents must be an integer >= 1, got 1.5"),
    ({"mutations": 0}, "mutations must be an integer >= 1, got 0"),
    ({"n_random": -2}, "n_random must be an integer >= 0, got -2"),
    ({"acquisition": "ei"}, "unknown acquisition 'ei'; accepted: its, ts, ucb"),
    ({"kappa": -1.0}, "kappa must be a number >= 0, got -1.0"),
    ({"kappa": "big"}, "kappa must be a number >= 0, got 'big'"),
    ({"encoding": "adjacency"}, "unknown encoding 'adjacency'; accepted: onehot, path"),
    ({"refit_every": 0}, "refit_every must be an integer >= 1, got 0"),
    ({"n_members": 0}, "n_members must be an integer >= 1, got 0"),
    ({"epochs": True}, "epochs must be an integer >= 1, got True"),
    ({"predictor_options": [1]}, "predictor_options must be a dict of keyword options or None"),
    ({"predictor_options": {"random_state": 1}}, "must not set random_state"),
    ({"predictor_options": {"width": 3}}, "do not fit the predictor"),
    ({"predictor_options": {"loss": "huber"}}, "loss must be one of mae, mse; got 'huber'"),
])
def test_invalid_option(options: dict[str, Any], needle: str, tiny_space: SearchSpace) -> None:
    with pytest.raises(ValueError, match=needle):
        BANANAS(tiny_space, seed=0, **options)


def test_options_are_stored_unchanged(tiny_space: SearchSpace) -> None:
    options = {"n_init": 4, "acquisition": "ucb", "kappa": 0.5, "predictor_options": {"hidden": (8,)}}
    params = BANANAS(tiny_space, seed=1, **options).get_params()
    assert {k: params[k] for k in options} == options
    assert BANANAS(tiny_space, **params).get_params() == params


# -- behaviour ----------------------------------------------------------------------------------

def run(strategy: BANANAS, steps: int, evaluate: Any) -> list:
    archs = []
    for _ in range(steps):
        arch = strategy.ask()
        strategy.tell(arch, evaluate(arch))
        archs.append(arch)
    return archs


def test_random_start_then_mutations_of_the_best(nb201: NB201Space) -> None:
    evaluate = linear_evaluator(nb201)
    bo = BANANAS(nb201, seed=5, n_init=8, n_parents=3, **{k: v for k, v in CHEAP.items() if k != "n_init"})
    rs = RandomSearch(nb201, seed=5)
    assert run(bo, 8, evaluate) == [rs.ask() for _ in range(8)]
    for _ in range(12):
        parents = bo.history.best(3)
        arch = bo.ask()
        assert nb201.key(arch) not in bo.history.told
        assert any(arch in nb201.neighbors(p) for p in parents)
        bo.tell(arch, evaluate(arch))


def test_pending_asks_are_never_proposed_twice(nb201: NB201Space) -> None:
    bo = BANANAS(nb201, seed=0, **CHEAP)
    run(bo, 6, linear_evaluator(nb201))
    keys = [nb201.key(bo.ask()) for _ in range(25)]
    assert len(set(keys)) == len(keys)


def test_refits_every_refit_every_results(nb201: NB201Space) -> None:
    evaluate = linear_evaluator(nb201)
    bo = BANANAS(nb201, seed=0, refit_every=3, **CHEAP)
    run(bo, 5, evaluate)
    models = []
    for _ in range(9):
        bo.tell(arch := bo.ask(), evaluate(arch))
        models.append(bo.model)
    # fitted at ask 6 (5 rows), then when 3 more rows have arrived: asks 9 and 12
    assert [m is models[0] for m in models] == [True] * 3 + [False] * 6
    assert models[3] is models[5] and models[6] is models[8] and models[5] is not models[6]


def test_the_encoding_feeds_the_ensemble(nb201: NB201Space) -> None:
    evaluate = linear_evaluator(nb201)
    for encoding, width in (("path", 84), ("onehot", nb201.encoding_size)):
        bo = BANANAS(nb201, seed=0, encoding=encoding, **CHEAP)
        run(bo, 7, evaluate)
        assert bo.history.X[0].shape == (width,)
    toy = toy_space()
    bo = BANANAS(toy, seed=0, encoding="path", **CHEAP)
    run(bo, 7, linear_evaluator(toy))
    assert bo.history.X[0].shape == (toy.encoding_size,)  # no path encoding: one-hot


def test_failures_and_duplicates_add_no_rows(nb201: NB201Space) -> None:
    evaluate = linear_evaluator(nb201)
    bo = BANANAS(nb201, seed=0, **CHEAP)
    first = bo.ask()
    bo.tell(first, Result.failure("diverged"))
    second = bo.ask()
    bo.tell(second, evaluate(second))
    bo.tell(second, evaluate(second))  # a duplicate answered by the study
    assert len(bo.history) == 1 and bo.history.told == {nb201.key(first), nb201.key(second)}
    arch = bo.ask()  # fewer than 2 rows: still random, never the failed architecture
    assert nb201.key(arch) != nb201.key(first)
