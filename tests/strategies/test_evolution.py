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
