"""``check_strategy`` on every registered strategy, and on strategies that break the contract."""

from __future__ import annotations

from typing import Any, Callable

import numpy as np
import pytest

from nasforge.registry import STRATEGIES
from nasforge.results import Result
from nasforge.spaces.base import Architecture, SearchSpace
from nasforge.spaces.nb201 import NB201Space
from nasforge.strategies.base import Strategy
from nasforge.strategies.random import RandomSearch
from nasforge.testing import check_strategy, linear_evaluator, toy_space, toy_user_space

#: a user space (define by run) beside the built-in ones: every strategy must work on it too
SPACES = {"nb201": NB201Space(), "toy-mobilenet": toy_space(), "toy-user": toy_user_space()}
#: registered strategies with default options, plus the non-default modes worth covering
VARIANTS: list[tuple[str, dict[str, Any]]] = [(name, {}) for name in STRATEGIES.list()] + [
    ("random", {"replace": False}),
    ("local", {"mode": "first"}),
    ("rea", {"population_size": 4, "sample_size": 2}),
    ("rea", {"population_size": 4, "sample_size": 2, "mutation_rate": 0.5, "unique": True}),
    ("naswot", {"n_samples": 7}),
    ("prescreen", {"strategy": "random", "strategy_options": {"replace": False}, "k": 3}),
    ("prescreen", {"strategy": "hyperband", "k": 4, "strategy_options": {"min_fidelity": 1, "max_fidelity": 9}}),
    ("robot", {"pool_size": 60, "bo_queries": 5, "acquisition": "ei"}),
    ("robot", {"pool_size": 60, "bo_queries": 5, "normalise": "rank", "weights": "nonnegative"}),
]


def factory(name: str, needed: Callable[[str, SearchSpace], dict[str, Any]], **options: Any):
    """Builds the strategy with ``options`` plus what it ``needed`` (a fake zero-cost scorer for some)."""
    return lambda space, seed: STRATEGIES.get(name)(space, seed=seed, **{**needed(name, space), **options})


def _id(v: tuple[str, dict[str, Any]]) -> str:
    return v[0] + "".join(f"-{k}={x}" for k, x in v[1].items())


@pytest.mark.parametrize("variant", VARIANTS, ids=_id)
@pytest.mark.parametrize("space_name", sorted(SPACES))
def test_registered_strategy_meets_contract(variant: tuple[str, dict[str, Any]], space_name: str,
                                            needed_options: Callable[[str, SearchSpace], dict[str, Any]]) -> None:
    space = SPACES[space_name]
    check_strategy(factory(variant[0], needed_options, **variant[1]), space, linear_evaluator(space), n=40)


@pytest.mark.parametrize("variant", VARIANTS, ids=_id)
def test_strategy_on_exhaustible_space(variant: tuple[str, dict[str, Any]], tiny_space: SearchSpace,
                                       needed_options: Callable[[str, SearchSpace], dict[str, Any]]) -> None:
    # 9 architectures and 30 asks: random without replacement must stop, the others revisit
    check_strategy(factory(variant[0], needed_options, **variant[1]), tiny_space, linear_evaluator(tiny_space), n=30)


# -- strategies that break one property each ----------------------------------------------

class OutOfSpace(RandomSearch):
    name = "out-of-space"

    def _ask(self, rng: np.random.Generator) -> Architecture:
        arch = super()._ask(rng)
        return Architecture("elsewhere", arch.choices, arch.string)


class Unseeded(RandomSearch):
    name = "unseeded"
    _global = np.random.default_rng()

    def _ask(self, rng: np.random.Generator) -> Architecture:
        return self.space.sample(self._global)


class ForgetsOnReplay(Strategy):
    """Mutates its last proposal while that one is being evaluated; recognises it by identity,
    so replayed records (new objects from storage) reset it."""

    name = "forgets"

    def __init__(self, space: SearchSpace, seed: int | None = None) -> None:
        super().__init__(space, seed)
        self.last: Architecture | None = None

    def _ask(self, rng: np.random.Generator) -> Architecture:
        self.last = self.space.sample(rng) if self.last is None else self.space.mutate(self.last, rng)
        return self.last

    def _tell(self, arch: Architecture, result: Result) -> None:
        if arch is not self.last:
            self.last = None


class StopsEarly(RandomSearch):
    name = "stops-early"

    def _ask(self, rng: np.random.Generator) -> Architecture:
        if self.n_asked >= 3:
            raise StopIteration("bored")
        return super()._ask(rng)


class RejectsFailures(RandomSearch):
    name = "rejects-failures"

    def _tell(self, arch: Architecture, result: Result) -> None:
        if result.value is None:
            raise ValueError("failed result")
        super()._tell(arch, result)


class NoPending(RandomSearch):
    name = "no-pending"

    def _ask(self, rng: np.random.Generator) -> Architecture:
        if len(self.pending) > 2:
            raise RuntimeError("too many pending trials")
        return super()._ask(rng)


def test_forgets_on_replay_is_caught() -> None:
    with pytest.raises(AssertionError, match="replay rebuilds the state"):
        check_strategy(ForgetsOnReplay, SPACES["nb201"], linear_evaluator(SPACES["nb201"]), n=10)


@pytest.mark.parametrize(("cls", "error", "message"), [
    (OutOfSpace, AssertionError, "ask stays in the space"),
    (Unseeded, AssertionError, "the same seed gives the same proposals"),
    (StopsEarly, AssertionError, "StopIteration only when exhausted"),
    (RejectsFailures, ValueError, "failed result"),
    (NoPending, RuntimeError, "too many pending"),
])
def test_check_strategy_catches_broken_strategies(cls: type[Strategy], error: type[Exception],
                                                   message: str) -> None:
    space = SPACES["nb201"]
    with pytest.raises(error, match=message) as info:
        check_strategy(lambda sp, seed: cls(sp, seed=seed), space, linear_evaluator(space), n=10)
    if error is AssertionError:
        assert cls.name in str(info.value) and "nb201" in str(info.value)
