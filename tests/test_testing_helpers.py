"""nasforge.testing helpers that strategy tests share."""

from __future__ import annotations

from nasforge.strategies.evolution import RegularizedEvolution
from nasforge.strategies.random import RandomSearch
from nasforge.testing import count_target_found, hidden_target_space


def test_count_target_found_is_deterministic_and_separates_strategies():
    space = hidden_target_space()
    assert len(space) == 256
    rand = count_target_found(lambda sp, seed: RandomSearch(sp, seed=seed))
    assert rand == count_target_found(lambda sp, seed: RandomSearch(sp, seed=seed))
    assert 0 < rand < 20  # random search finds the target within 40 trials on some seeds only
    rea = count_target_found(lambda sp, seed: RegularizedEvolution(sp, seed=seed))
    assert rea > rand
    # a budget covering the whole space always finds it without replacement
    assert count_target_found(lambda sp, seed: RandomSearch(sp, seed=seed, replace=False), budget=256) == 20
