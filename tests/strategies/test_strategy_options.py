"""Invalid strategy options raise ValueError naming the bad value."""

from __future__ import annotations

from typing import Any

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
    ("local", {"mode": "worst"}, "mode must be one of best, first; got 'worst'"),
    ("random", {"replace": "no"}, "replace must be true or false, got 'no'"),
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
def test_constructor_stores_options(name: str, tiny_space: SearchSpace) -> None:
    strategy = STRATEGIES.get(name)(tiny_space, seed=3)
    params = strategy.get_params()
    assert params["seed"] == 3
    again = STRATEGIES.get(name)(tiny_space, **params)
    assert again.get_params() == params
    assert [again.ask() for _ in range(3)] == [strategy.ask() for _ in range(3)]


@pytest.mark.parametrize("name", STRATEGIES.list())
def test_no_seed_draws_one(name: str, tiny_space: SearchSpace) -> None:
    strategy = STRATEGIES.get(name)(tiny_space)
    assert isinstance(strategy.seed, int) and strategy.seed >= 0
    assert tiny_space.contains(strategy.ask())
