"""Random search with and without replacement."""

from __future__ import annotations

import numpy as np
import pytest

from nasforge.results import Result
from nasforge.spaces.base import SearchSpace
from nasforge.strategies.random import RandomSearch

OK = Result(value=1.0)


@pytest.mark.parametrize("seed", range(5))
def test_without_replacement_proposes_all_then_stops(seed: int, tiny_space: SearchSpace) -> None:
    strategy = RandomSearch(tiny_space, seed=seed, replace=False)
    seen = []
    for _ in range(9):
        arch = strategy.ask()
        strategy.tell(arch, OK)
        seen.append(arch)
    assert len(set(seen)) == 9 == len(tiny_space)
    assert set(seen) == set(tiny_space.enumerate())
    with pytest.raises(StopIteration):
        strategy.ask()
    with pytest.raises(StopIteration):  # and keeps saying so
        strategy.ask()


def test_without_replacement_counts_pending_trials(tiny_space: SearchSpace) -> None:
    strategy = RandomSearch(tiny_space, seed=0, replace=False)
    pending = [strategy.ask() for _ in range(9)]
    assert len(set(pending)) == 9
    with pytest.raises(StopIteration):
        strategy.ask()


def test_without_replacement_skips_what_it_was_told(tiny_space: SearchSpace) -> None:
    # told about architectures from an earlier process (a resumed study), it proposes only the rest
    strategy = RandomSearch(tiny_space, seed=0, replace=False)
    told = list(tiny_space.enumerate())[:6]
    for arch in told:
        strategy.tell(arch, OK)
    rest = [strategy.ask() for _ in range(3)]
    assert set(rest) == set(tiny_space.enumerate()) - set(told)
    with pytest.raises(StopIteration):
        strategy.ask()


def test_failures_count_as_proposed(tiny_space: SearchSpace) -> None:
    strategy = RandomSearch(tiny_space, seed=1, replace=False)
    for _ in range(9):
        strategy.tell(strategy.ask(), Result.failure("x"))
    with pytest.raises(StopIteration):
        strategy.ask()


def test_with_replacement_repeats_and_never_stops(tiny_space: SearchSpace) -> None:
    strategy = RandomSearch(tiny_space, seed=0)
    proposals = []
    for _ in range(40):
        arch = strategy.ask()
        strategy.tell(arch, OK)
        proposals.append(arch)
    assert len(set(proposals)) < len(proposals)
    assert set(proposals) == set(tiny_space.enumerate())


def test_nth_proposal_uses_the_nth_rng(tiny_space: SearchSpace) -> None:
    strategy = RandomSearch(tiny_space, seed=11)
    for n in range(5):
        assert strategy.ask() == tiny_space.sample(np.random.default_rng((11, n)))
