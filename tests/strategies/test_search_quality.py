"""Sanity check of search quality on a synthetic space with a known best architecture.

4 choices x 4 options (256 architectures); the score is the number of choices
equal to a hidden target, so the target is the unique optimum and the
landscape is unimodal. With a budget of 40 trials random search finds the
target about 15 % of the time; evolution and local search must do better.
Seeds are fixed, so the counts are deterministic.
"""

from __future__ import annotations

from typing import Any

import pytest

from nasforge.registry import STRATEGIES
from nasforge.spaces.base import SearchSpace, categorical
from nasforge.testing import count_target_found

SPACE = SearchSpace([categorical(f"c{i}", range(4)) for i in range(4)], name="hidden-target")
SEEDS = range(20)
BUDGET = 40


def successes(name: str, **options: Any) -> int:
    """On how many of the fixed seeds the strategy proposes the target within the budget."""
    return count_target_found(lambda space, seed: STRATEGIES.get(name)(space, seed=seed, **options), SEEDS, BUDGET)


@pytest.fixture(scope="module")
def random_successes() -> int:
    return successes("random")


@pytest.mark.parametrize(("name", "options"), [
    ("rea", {}),
    ("local", {}),
    ("local", {"mode": "first"}),
])
def test_beats_random_search(name: str, options: dict[str, Any], random_successes: int) -> None:
    assert successes(name, **options) > random_successes


def test_local_search_always_finds_the_unimodal_optimum() -> None:
    # best improvement from any start needs at most 1 + 12 + 3 * 9 = 40 evaluations here
    assert successes("local") == len(SEEDS)
