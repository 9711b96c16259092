"""Invalid strategy options raise ValueError naming the bad value."""

from __future__ import annotations

from typing import Any, Callable

import pytest

from nasforge.registry import STRATEGIES
from nasforge.spaces.base import SearchSpace


@pytest.mark.parametrize(("name", "options", "needle"), [
    ("rea", {"population_size": 0}, "population_size must be an integer >= 1, got 0"),
    ("rea", {"population_size": -3}, "got -3"),
    ("rea", {"population_size": 2.5}, "got 2.5"),
    ("rea", {"population_size": True}, "got True"),
    ("rea", {"sample_size": 0}, "sample_size must be an integer >= 1, got 0"),
    ("rea", {"population_size": 5, "sample_size": 6}, r"sample_size \(6\) must not exceed population_size \(5\)"),
    ("rea", {"mutation_rate": 0.0}, "mutation_rate must be .*got 0.0"),
    ("rea", {"mutation_rate": 1.5}, "mutation_rate must be .*got 1.5"),
    ("rea", {"unique": "yes"}, "unique must be true or false, got 'yes'"),
    ("local", {"mode": "worst"}, "unknown mode 'worst'; accepted: best, first"),
    ("random", {"replace": "no"}, "replace must be true or false, got 'no'"),
    ("naswot", {"n_samples": 0}, "n_samples must be an integer >= 1, got 0"),
    ("naswot", {"proxy": ""}, "proxy must be a proxy name .*, got ''"),
    ("naswot", {"scorer": "naswot"}, "scorer must be a callable .*; got 'naswot'"),
    ("prescreen", {"strategy": "rae"}, "unknown strategy 'rae' .*did you mean 'rea'.*; known: .*random"),
    ("prescreen", {"strategy_options": {"pop": 3}},
     "strategy 'rea' has no option.* pop; its options: .*population_size"),
    ("prescreen", {"strategy_options": {"population_size": 0}}, "population_size must be an integer >= 1, got 0"),
    ("prescreen", {"strategy_options": {"seed": 1}}, "strategy_options must not set seed"),
    ("prescreen", {"strategy_options": [1]}, r"strategy_options must be a dict .*, got \[1\]"),
    ("prescreen", {"k": 0}, "k must be an integer >= 1, got 0"),
    ("prescreen", {"proxy": 3}, "proxy must be a proxy name .* or None, got 3"),
    ("robot", {"pool_size": 0}, "pool_size must be an integer >= 1, got 0"),
    ("robot", {"bo_queries": -1}, "bo_queries must be an integer >= 0, got -1"),
    ("robot", {"n_candidates": 0.5}, "n_candidates must be an integer >= 1, got 0.5"),
    ("robot", {"acquisition": "pi"}, "unknown acquisition 'pi'; accepted: ucb, ei"),
    ("robot", {"kappa": -1}, "kappa must be a number >= 0, got -1"),
    ("robot", {"normalise": "quantile"}, "unknown normalise 'quantile'; accepted: zscore, minmax, rank"),
    ("robot", {"weights": "positive"}, "unknown weights 'positive'; accepted: signed, nonnegative"),
    ("robot", {"proxies": "synflow"}, "proxies must be a non-empty list of distinct proxy names .*; got 'synflow'"),
    ("robot", {"proxies": ["a", "a"]}, r"got \['a', 'a'\]"),
])
def test_invalid_option(name: str, options: dict[str, Any], needle: str, tiny_space: SearchSpace) -> None:
    with pytest.raises(ValueError, match=needle):
        STRATEGIES.get(name)(tiny_space, seed=0, **options)


@pytest.mark.parametrize("name", STRATEGIES.list())
@pytest.mark.parametrize("seed", [-1, 1.5, "7"])
def test_invalid_seed(name: str, seed: Any, tiny_space: SearchSpace) -> None:
    with pytest.raises(ValueError, match=f"seed must be a non-negative integer or None, got {seed!r}"):
        STRATEGIES.get(name)(tiny_space, seed=seed)


@pytest.mark.parametrize("name", STRATEGIES.list())
def test_constructor_stores_options(name: str, tiny_space: SearchSpace,
                                    needed_options: Callable[[str, SearchSpace], dict[str, Any]]) -> None:
    strategy = STRATEGIES.get(name)(tiny_space, seed=3, **needed_options(name, tiny_space))
    params = strategy.get_params()
    assert params["seed"] == 3
    again = STRATEGIES.get(name)(tiny_space, **params)
    assert again.get_params() == params
    assert [again.ask() for _ in range(3)] == [strategy.ask() for _ in range(3)]


@pytest.mark.parametrize("name", STRATEGIES.list())
def test_no_seed_draws_one(name: str, tiny_space: SearchSpace,
                           needed_options: Callable[[str, SearchSpace], dict[str, Any]]) -> None:
    strategy = STRATEGIES.get(name)(tiny_space, **needed_options(name, tiny_space))
    assert isinstance(strategy.seed, int) and strategy.seed >= 0
    assert tiny_space.contains(strategy.ask())
