"""Regularized evolution: a bounded aging population, random start, one-mutation children."""

from __future__ import annotations

import pytest

from nasforge.results import Result
from nasforge.spaces.nb201 import NB201Space
from nasforge.strategies.evolution import RegularizedEvolution
from nasforge.strategies.random import RandomSearch
from nasforge.testing import linear_evaluator


@pytest.mark.parametrize(("population_size", "sample_size"), [(5, 2), (10, 3), (1, 1)])
def test_population_start_then_mutations(nb201: NB201Space, population_size: int, sample_size: int) -> None:
    evaluate = linear_evaluator(nb201)
    rea = RegularizedEvolution(nb201, seed=4, population_size=population_size, sample_size=sample_size)
    rs = RandomSearch(nb201, seed=4)
    for n in range(60):
        members = [arch for arch, _ in rea.population]
        arch = rea.ask()
        if n < population_size:
            # the first population_size proposals are random samples
            assert arch == rs.ask()
        else:
            rs.ask()
            assert any(arch in nb201.neighbors(parent) for parent in members), \
                f"ask {n}: {arch} is not one mutation away from the population"
        rea.tell(arch, evaluate(arch))
        assert len(rea.population) <= population_size
    assert len(rea.population) == population_size


def test_population_ages_out_oldest_first(nb201: NB201Space) -> None:
    evaluate = linear_evaluator(nb201)
    rea = RegularizedEvolution(nb201, seed=0, population_size=4, sample_size=2)
    told = []
    for _ in range(12):
        arch = rea.ask()
        rea.tell(arch, evaluate(arch))
        told.append(arch)
    assert [arch for arch, _ in rea.population] == told[-4:]


def test_failures_do_not_join_the_population(nb201: NB201Space) -> None:
    rea = RegularizedEvolution(nb201, seed=0, population_size=3, sample_size=2)
    for _ in range(5):
        rea.tell(rea.ask(), Result.failure("x"))
    assert len(rea.population) == 0
    # with nothing to evolve from it keeps sampling
    rs = RandomSearch(nb201, seed=0)
    for _ in range(5):
        rs.ask()
    assert rea.ask() == rs.ask()


def test_tournament_picks_the_fittest_parent(nb201: NB201Space) -> None:
    # with sample_size == population_size == 1 every child is a mutation of the one member
    rea = RegularizedEvolution(nb201, seed=2, population_size=1, sample_size=1)
    first = rea.ask()
    rea.tell(first, Result(value=1.0))
    child = rea.ask()
    assert child in nb201.neighbors(first)


def test_unique_never_repeats_until_the_space_is_used_up() -> None:
    from nasforge.spaces.base import SearchSpace, categorical

    small = SearchSpace([categorical(f"c{i}", range(4)) for i in range(3)], name="grid")  # 64 architectures
    evaluate = linear_evaluator(small)
    n_keys = 64
    rea = RegularizedEvolution(small, seed=1, population_size=5, sample_size=2, unique=True)
    plain = RegularizedEvolution(small, seed=1, population_size=5, sample_size=2)
    keys, plain_keys = [], []
    for _ in range(n_keys):
        a, b = rea.ask(), plain.ask()
        rea.tell(a, evaluate(a))
        plain.tell(b, evaluate(b))
        keys.append(small.key(a))
        plain_keys.append(small.key(b))
    assert len(set(keys)) == n_keys  # every cell once, none twice
    assert len(set(plain_keys)) < n_keys  # without it, REA repeats itself on this space
    # once every cell has been told, it still proposes (a repeat) rather than failing
    assert small.key(rea.ask()) in set(keys)


def test_unique_skips_pending_proposals(nb201: NB201Space) -> None:
    rea = RegularizedEvolution(nb201, seed=0, population_size=1, sample_size=1, unique=True)
    first = rea.ask()
    rea.tell(first, linear_evaluator(nb201)(first))
    asked = [nb201.key(rea.ask()) for _ in range(20)]  # none told: every one pending
    assert len(set(asked)) == 20 and nb201.key(first) not in asked


@pytest.mark.parametrize("rate", [0.05, 0.5, 1.0])
def test_mutation_rate_changes_about_rate_times_the_choices(nb201: NB201Space, rate: float) -> None:
    evaluate = linear_evaluator(nb201)
    rea = RegularizedEvolution(nb201, seed=3, population_size=1, sample_size=1, mutation_rate=rate)
    parent = rea.ask()
    rea.tell(parent, evaluate(parent))
    changed = []
    for _ in range(300):
        child = rea.ask()  # the population stays {parent}: nothing else is told
        rea.discard(child)
        changed.append(sum(a != b for a, b in zip(parent.as_dict().values(), child.as_dict().values())))
    n = len(parent.choices)
    assert min(changed) >= 1  # never the parent itself
    # repeated mutations may undo each other, so the mean lies at or below max(1, rate * n) applications
    expected = max(1.0, rate * n)
    assert 0.6 * expected <= sum(changed) / len(changed) <= expected + 0.2


def test_one_mutation_by_default_is_the_spaces_mutate(nb201: NB201Space) -> None:
    evaluate = linear_evaluator(nb201)
    a = RegularizedEvolution(nb201, seed=5, population_size=3, sample_size=2)
    b = RegularizedEvolution(nb201, seed=5, population_size=3, sample_size=2, mutation_rate=None, unique=False)
    for _ in range(30):
        x, y = a.ask(), b.ask()
        assert x == y
        a.tell(x, evaluate(x))
        b.tell(y, evaluate(y))
